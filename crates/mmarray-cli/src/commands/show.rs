//! `mmarray show`: print values the way NumPy prints arrays (`str(a)`):
//! one common float format, right-aligned columns, long rows wrapped at 75
//! characters, arrays over 1000 elements summarised with `...`.

use mmarray::compute::Real;
use mmarray::{Complex32, Complex64, Mode, ScalarKind, Selection};
use ndarray::{ArrayViewD, Axis};

use crate::args::ShowArgs;
use crate::input::open_input;
use crate::output::{print, CliError};

const LINE_WIDTH: usize = 75;
const THRESHOLD: usize = 1000;
const EDGE_ITEMS: usize = 3;

/// One printable value: its shortest round-trip text in its own type.
#[derive(Clone, Debug)]
enum Value {
    Float { x: f64, text: String, sci: String },
    Int(String),
    Bool(bool),
    Complex(Box<(Value, Value)>),
}

fn float_value<T: std::fmt::Display + std::fmt::LowerExp + Copy + Into<f64>>(v: T) -> Value {
    let x: f64 = v.into();
    if std::mem::size_of::<T>() == 4 {
        let (text, sci) = shortest(x, 9, |y| f64::from(y as f32) == x);
        return Value::Float { x, text, sci };
    }
    Value::Float { x, text: format!("{v}"), sci: format!("{v:e}") }
}

/// The fewest significant digits (at most `max`) that read back as `x`
/// (`fits`), correctly rounded from its exact value with ties to even, as
/// NumPy's Dragon4 finds them: positional and scientific text. (Rust's
/// float32 Display breaks a tie between two shortest candidates the other
/// way: 171667.125 as 171667.13 where NumPy prints 171667.12; half's
/// float16 Display prints float32 digits, 0.1 as 0.099975586.)
fn shortest(x: f64, max: usize, fits: impl Fn(f64) -> bool) -> (String, String) {
    let short = (1..=max).find_map(|p| {
        let s = format!("{:.*e}", p - 1, x);
        let y: f64 = s.parse().ok()?;
        if fits(y) || !x.is_finite() {
            return Some(y);
        }
        // At a power of two the interval that reads back as `x` is
        // lopsided: the p-digit neighbour on the other side of `x` may fit
        // where the closer one does not (float16 0.015625: 0.01563, as
        // NumPy prints it, not 0.01562).
        let (mant, exp) = s.split_once('e')?;
        let digits: i64 = mant.replace('.', "").parse().ok()?;
        let exp: i32 = exp.parse().ok()?;
        let other = digits + if y < x { 1 } else { -1 };
        let z: f64 = format!("{other}e{}", exp - (p as i32 - 1)).parse().ok()?;
        fits(z).then_some(z)
    });
    let short = short.unwrap_or(x);
    (format!("{short}"), format!("{short:e}"))
}

/// A float, its shortest positional text and its shortest scientific text.
type FloatText = (f64, String, String);

/// The array as nested rows of values, with `None` standing for `...`.
enum Tree {
    Leaf(Option<Value>),
    Node(Vec<Tree>),
}

fn build<T: Copy>(v: &ArrayViewD<'_, T>, summarize: bool, conv: &dyn Fn(T) -> Value) -> Tree {
    if v.ndim() == 0 {
        return Tree::Leaf(v.iter().next().map(|&x| conv(x)));
    }
    let n = v.len_of(Axis(0));
    let mut items = Vec::new();
    let push = |i: usize, items: &mut Vec<Tree>| items.push(build(&v.index_axis(Axis(0), i), summarize, conv));
    if summarize && n > 2 * EDGE_ITEMS {
        (0..EDGE_ITEMS).for_each(|i| push(i, &mut items));
        items.push(Tree::Leaf(None));
        (n - EDGE_ITEMS..n).for_each(|i| push(i, &mut items));
    } else {
        (0..n).for_each(|i| push(i, &mut items));
    }
    Tree::Node(items)
}

fn leaves<'a>(t: &'a Tree, out: &mut Vec<&'a Value>) {
    match t {
        Tree::Leaf(Some(v)) => out.push(v),
        Tree::Leaf(None) => {}
        Tree::Node(items) => items.iter().for_each(|i| leaves(i, out)),
    }
}

/// NumPy's float format for a set of values (`FloatingFormat`): positional,
/// or scientific when the magnitudes span too much (`maxprec` mode,
/// `precision` digits). Every value is formatted to the same width.
struct FloatFormat {
    sci: bool,
    frac: usize,
    /// NumPy's `pad_left`: the integer part's width, sign included.
    int_width: usize,
    exp_digits: usize,
    precision: usize,
    /// Always write a sign (`sign='+'`, a complex number's imaginary part).
    plus: bool,
}

/// `text` (the shortest digits of the exact value `x`) split at the point,
/// rounded to `precision` places if longer: the exact value rounded, as
/// NumPy's Dragon4 does (0.009014745 shortest, 0.0090147452 exact: 0.00901475).
fn split_positional(text: &str, precision: usize, x: f64) -> (String, String) {
    let rounded;
    let text = match text.split_once('.') {
        Some((_, f)) if f.len() > precision => {
            rounded = trim_fraction(&format!("{x:.precision$}"));
            rounded.clone()
        }
        _ => text.to_string(),
    };
    match text.split_once('.') {
        Some((i, f)) => (i.to_string(), f.to_string()),
        None => (text, String::new()),
    }
}

/// Trailing zeros of the fraction dropped (`"2.500"` -> `"2.5"`, `"3.000"`
/// -> `"3."`), never those of the integer part (`"10"` stays `"10"`).
fn trim_fraction(t: &str) -> String {
    if t.contains('.') { t.trim_end_matches('0').to_string() } else { t.to_string() }
}

fn split_sci(sci: &str, precision: usize, x: f64) -> (String, i32) {
    let (mant, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits = mant.split_once('.').map_or(0, |(_, f)| f.len());
    if digits > precision {
        // Round the whole number, not the mantissa alone: 9.96 at precision
        // 0 is 1e+01 (the carry moves into the exponent), not 1e+00 or 10e+00.
        // The exact value is rounded, as in `split_positional`.
        let r = format!("{x:.precision$e}");
        let (m, e) = r.split_once('e').unwrap_or((&r, "0"));
        return (trim_fraction(m), e.parse().unwrap_or(exp));
    }
    (mant.to_string(), exp)
}

impl FloatFormat {
    /// `kind`: the element type (of the parts, for complex data).
    fn new(values: &[f64], texts: &[(&str, &str)], precision: usize, kind: ScalarKind, plus: bool) -> Self {
        let finite: Vec<f64> = values.iter().copied().filter(|x| x.is_finite() && *x != 0.0).map(f64::abs).collect();
        // NumPy's cutoff is 10**min(8, finfo(dtype).precision), and it
        // divides max by min in the element type (float16: 1001/1.001 is
        // 1000, not above 1000)
        let (cutoff, in_type): (f64, fn(f64) -> f64) = match kind {
            ScalarKind::F16 => (1e3, |q| half::f16::from_f64(q).to_f64()),
            ScalarKind::F32 | ScalarKind::C64 => (1e6, |q| q as f32 as f64),
            _ => (1e8, |q| q),
        };
        let sci = !finite.is_empty() && {
            let max = finite.iter().copied().fold(0.0, f64::max);
            let min = finite.iter().copied().fold(f64::INFINITY, f64::min);
            max >= cutoff || min < 1e-4 || in_type(max / min) > 1e3
        };
        let (mut frac, mut int_width, mut exp_digits) = (0, 0, 2);
        let sign_width = |x: f64| usize::from(plus && x.is_sign_positive());
        for ((text, s), &x) in texts.iter().zip(values) {
            if !x.is_finite() {
                continue;
            }
            if sci {
                let (m, e) = split_sci(s, precision, x);
                frac = frac.max(m.split_once('.').map_or(0, |(_, f)| f.len()));
                int_width = int_width.max(sign_width(x) + m.split_once('.').map_or(m.len(), |(i, _)| i.len()));
                exp_digits = exp_digits.max(e.unsigned_abs().to_string().len());
            } else {
                let (i, f) = split_positional(text, precision, x);
                frac = frac.max(f.len());
                int_width = int_width.max(sign_width(x) + i.len());
            }
        }
        let mut this = Self { sci, frac, int_width, exp_digits, precision, plus };
        if values.iter().any(|x| !x.is_finite()) {
            // room for nan, inf and -inf (or +inf) in the same width
            let neginf = usize::from(plus || values.contains(&f64::NEG_INFINITY));
            let offset = this.pad_right() + 1;
            this.int_width = this.int_width.max((3 + neginf).saturating_sub(offset));
        }
        this
    }

    /// NumPy's `pad_right`: the width after the integer part's point.
    fn pad_right(&self) -> usize {
        if self.sci { self.exp_digits + 2 + self.frac } else { self.frac }
    }

    fn format(&self, x: f64, text: &str, sci_text: &str) -> String {
        if !x.is_finite() {
            let sign = if x.is_nan() { if self.plus { "+" } else { "" } } else if x < 0.0 { "-" } else if self.plus { "+" } else { "" };
            let word = if x.is_nan() { "nan" } else { "inf" };
            return format!("{:>w$}", format!("{sign}{word}"), w = self.int_width + self.pad_right() + 1);
        }
        let sign = if self.plus && x.is_sign_positive() { "+" } else { "" };
        if self.sci {
            let (mut m, mut e) = split_sci(sci_text, self.precision, x);
            if m.split_once('.').map_or(0, |(_, f)| f.len()) < self.frac {
                // NumPy's Dragon4 (min_digits) carries on with the exact
                // value's digits, not zeros: float16 0.1 beside 0.3333 is
                // 9.998e-02, the exact 0.0999755859375 to four places
                let exact = format!("{:.*e}", self.frac, x);
                let (em, ee) = exact.split_once('e').unwrap_or((&exact, "0"));
                (m, e) = (em.to_string(), ee.parse().unwrap_or(e));
            }
            let (i, f) = m.split_once('.').unwrap_or((&m, ""));
            let esign = if e < 0 { '-' } else { '+' };
            format!(
                "{:>iw$}.{f:0<fw$}e{esign}{:0>ew$}",
                format!("{sign}{i}"),
                e.unsigned_abs(),
                iw = self.int_width,
                fw = self.frac,
                ew = self.exp_digits
            )
        } else {
            let (i, f) = split_positional(text, self.precision, x);
            format!("{:>iw$}.{f:<fw$}", format!("{sign}{i}"), iw = self.int_width, fw = self.frac)
        }
    }
}

fn render(tree: &Tree, fmt: &dyn Fn(&Value) -> String, width: usize, indent: usize, out: &mut String) {
    match tree {
        Tree::Leaf(Some(v)) => out.push_str(&format!("{:>width$}", fmt(v))),
        Tree::Leaf(None) => out.push_str("..."),
        Tree::Node(items) => {
            out.push('[');
            let innermost = items.iter().all(|t| matches!(t, Tree::Leaf(_)));
            if innermost {
                let mut line = indent + 1;
                for (k, item) in items.iter().enumerate() {
                    let mut s = String::new();
                    render(item, fmt, width, indent + 1, &mut s);
                    if k > 0 {
                        // NumPy keeps room for every closing bracket of
                        // the array (75 - ndim), and an innermost row sits
                        // at depth ndim - 1
                        if line + 1 + s.len() + (indent + 1) > LINE_WIDTH {
                            // as NumPy: a wrapped line loses its trailing padding
                            let kept = out.trim_end_matches(' ').len();
                            out.truncate(kept);
                            out.push('\n');
                            out.push_str(&" ".repeat(indent + 1));
                            line = indent + 1;
                        } else {
                            out.push(' ');
                            line += 1;
                        }
                    }
                    line += s.len();
                    out.push_str(&s);
                }
            } else {
                // NumPy separates blocks of dimension d by d-1 blank lines,
                // the "..." of a summarized level too (so the gap is the
                // level's, not the item's)
                let level_gap = items.iter().map(subdims).max().unwrap_or(0).max(1);
                for (k, item) in items.iter().enumerate() {
                    if k > 0 {
                        let gap = level_gap;
                        out.push_str(&"\n".repeat(gap));
                        out.push_str(&" ".repeat(indent + 1));
                    }
                    render(item, fmt, width, indent + 1, out);
                }
            }
            out.push(']');
        }
    }
}

/// Depth of the nested rows below `t` (1 for a row of values).
fn subdims(t: &Tree) -> usize {
    match t {
        Tree::Leaf(_) => 0,
        Tree::Node(items) => 1 + items.iter().map(subdims).max().unwrap_or(0),
    }
}

fn show<T: mmarray::Element>(a: &mmarray::MmapArray, args: &ShowArgs, conv: &dyn Fn(T) -> Value) -> Result<String, CliError> {
    let sel = Selection::parse(args.slice.as_deref().unwrap_or(""))?;
    let owned;
    let view = match a.view::<T>() {
        Ok(v) => sel.apply(v)?,
        // non-native byte order or misalignment: read a copy of the selection
        Err(_) => {
            owned = a.to_array::<T>()?;
            sel.apply(owned.view())?
        }
    };
    if view.is_empty() && view.ndim() > 0 {
        // NumPy prints every empty array as [], whatever its shape
        return Ok("[]\n".to_string());
    }
    let summarize = !args.full && view.len() > THRESHOLD;
    let tree = build(&view, summarize, conv);
    let mut vals = Vec::new();
    leaves(&tree, &mut vals);
    let precision = args.precision;
    // One float format for all the floats (real and imaginary parts apart).
    let floats = |pick: &dyn Fn(&Value) -> Option<FloatText>, plus: bool| {
        let parts: Vec<FloatText> = vals.iter().filter_map(|v| pick(v)).collect();
        let xs: Vec<f64> = parts.iter().map(|p| p.0).collect();
        let texts: Vec<(&str, &str)> = parts.iter().map(|p| (p.1.as_str(), p.2.as_str())).collect();
        FloatFormat::new(&xs, &texts, precision, a.dtype().kind(), plus)
    };
    let as_float = |v: &Value| match v {
        Value::Float { x, text, sci } => Some((*x, text.clone(), sci.clone())),
        _ => None,
    };
    let real_fmt = floats(&|v| match v {
        Value::Complex(c) => as_float(&c.0),
        other => as_float(other),
    }, false);
    let imag_fmt = floats(&|v| match v {
        Value::Complex(c) => as_float(&c.1),
        _ => None,
    }, true);
    let fmt = |v: &Value| -> String {
        match v {
            Value::Float { x, text, sci } => real_fmt.format(*x, text, sci),
            Value::Int(s) => s.clone(),
            // NumPy pads True to False's width in every array (0-d: trimmed below)
            Value::Bool(b) => if *b { " True" } else { "False" }.to_string(),
            Value::Complex(c) => {
                let re = match &c.0 {
                    Value::Float { x, text, sci } => real_fmt.format(*x, text, sci),
                    _ => String::new(),
                };
                let im = match &c.1 {
                    Value::Float { x, text, sci } => {
                        // NumPy: the signed part, its j before the padding
                        let s = imag_fmt.format(*x, text, sci);
                        let end = s.trim_end().len();
                        format!("{}j{}", &s[..end], &s[end..])
                    }
                    _ => String::new(),
                };
                format!("{re}{im}")
            }
        }
    };
    let width = vals.iter().map(|v| fmt(v).len()).max().unwrap_or(0);
    let mut out = String::new();
    if view.ndim() == 0 {
        // NumPy prints a 0-d array as its scalar: str(np.array(102.)) is
        // '102.0', whatever the print options
        let kind = a.dtype().kind();
        out.push_str(&vals.first().map(|v| scalar_str(v, kind).unwrap_or_else(|| fmt(v).trim().to_string())).unwrap_or_default());
    } else {
        render(&tree, &fmt, width, 0, &mut out);
    }
    out.push('\n');
    Ok(out)
}

/// A float as NumPy's scalar `str` writes it: the shortest digits that
/// round-trip in its type, positional from 1e-4 up to 1e16 (float64), 1e6
/// (float32) or 1e3 (float16), scientific beyond (`1e+20`, `1.5e-07`).
/// Complex parts (`in_complex`) drop a `.0`, as Python's `(1+2j)`.
fn float_str(x: f64, text: &str, sci: &str, kind: ScalarKind, in_complex: bool) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let upper = match kind {
        ScalarKind::F16 => 1e3,
        ScalarKind::F32 | ScalarKind::C64 => 1e6,
        _ => 1e16,
    };
    if x == 0.0 || (1e-4..upper).contains(&x.abs()) {
        let t = text.strip_suffix(".0").unwrap_or(text);
        return if in_complex || t.contains('.') { t.to_string() } else { format!("{t}.0") };
    }
    let (mant, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mant = mant.strip_suffix(".0").unwrap_or(mant);
    format!("{mant}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.unsigned_abs())
}

/// A 0-d array's value as NumPy prints it (its scalar's `str`); `None`
/// for kinds printed as in arrays.
fn scalar_str(v: &Value, kind: ScalarKind) -> Option<String> {
    match v {
        Value::Float { x, text, sci } => Some(float_str(*x, text, sci, kind, false)),
        Value::Complex(c) => {
            let (Value::Float { x: re, text: rt, sci: rs }, Value::Float { x: im, text: it, sci: is }) = (&c.0, &c.1) else {
                return None;
            };
            let imag = float_str(*im, it, is, kind, true);
            // Python: 1j when the real part is +0, else (re+imj)
            if *re == 0.0 && re.is_sign_positive() {
                return Some(format!("{imag}j"));
            }
            let sign = if imag.starts_with('-') { "" } else { "+" };
            Some(format!("({}{sign}{imag}j)", float_str(*re, rt, rs, kind, true)))
        }
        _ => None,
    }
}

fn real<T: Real + std::fmt::Display>(v: T) -> Value {
    if T::IS_FLOAT {
        let x = v.to_f64();
        // the shortest text that round-trips in the element's own type
        let (text, sci) = match T::KIND {
            ScalarKind::F32 | ScalarKind::F16 => shortest(x, 9, |y| T::from_f64(y).to_f64() == x),
            _ => (format!("{v}"), format!("{x:e}")),
        };
        Value::Float { x, text, sci }
    } else if T::KIND == ScalarKind::Bool {
        Value::Bool(v.to_f64() != 0.0)
    } else {
        Value::Int(format!("{v}"))
    }
}

pub fn run(args: &ShowArgs) -> Result<(), CliError> {
    let a = open_input(&args.file, &args.raw, Mode::ReadOnly)?;
    let text = match a.dtype().kind() {
        ScalarKind::C64 => show::<Complex32>(&a, args, &|c: Complex32| {
            Value::Complex(Box::new((float_value(c.re), float_value(c.im))))
        }),
        ScalarKind::C128 => show::<Complex64>(&a, args, &|c: Complex64| {
            Value::Complex(Box::new((float_value(c.re), float_value(c.im))))
        }),
        real_kind => mmarray::with_scalar_type!(real_kind, |T| show::<T>(&a, args, &real), complex => unreachable!()),
    }?;
    print(&text)
}
