//! `mmarray stats`: count, mean, std, var, min and max in one pass.

use mmarray::compute::{quantile, quantile_along, summary, summary_along, Moments, NanPolicy, QuantileDtype, Real, Stat};
use mmarray::{MmapArray, Mode, Selection};
use ndarray::{ArrayD, Dimension};
use serde_json::{json, Value};

use crate::args::StatsArgs;
use crate::input::{open_input, parse_axes};
use crate::output::{print, CliError};

/// The statistics `stats` reports, in order.
const REPORTED: [Stat; 6] = [Stat::Count, Stat::Mean, Stat::Std, Stat::Var, Stat::Min, Stat::Max];

pub fn run(args: &StatsArgs) -> Result<(), CliError> {
    let a = open_input(&args.file, &args.raw, Mode::ReadOnly)?;
    if args.follow {
        return mmarray::with_scalar_type!(a.dtype().kind(), |T| follow::<T>(a, args), complex => {
            Err(format!("{}: stats of complex data ('{}') are not supported", a.path().display(), a.dtype()).into())
        });
    }
    let selection = Selection::parse(args.slice.as_deref().unwrap_or(""))?;
    let nan = if args.skipna { NanPolicy::Omit } else { NanPolicy::Propagate };
    // One pass front to back under the default advice (MADV_SEQUENTIAL is
    // slower, cold and later: see `Advice::Sequential`); the engine streams
    // a file larger than the memory available by itself (`StreamHints`).
    // one pass, and a few more for quantiles (an estimate, for the ETA)
    let passes = if args.quantiles.is_empty() { 1 } else { 4 };
    let what = format!("statistics of {}", a.path().display());
    let result = crate::progress::engine(a.nbytes() as u64 * passes, &what, || {
        crate::test_panic("stats");
        mmarray::with_scalar_type!(a.dtype().kind(), |T| compute::<T>(&a, &selection, args, nan).map(|r| (r, exact_of::<T>())), complex => {
            Err(format!("{}: stats of complex data ('{}') are not supported", a.path().display(), a.dtype()).into())
        })
    });
    let (result, exact) = result?;
    let text = if args.json { format!("{}\n", to_json(&result, args.ddof, &args.quantiles, exact)?) } else { to_text(&result, args.ddof, &args.quantiles, exact)? };
    print(&text)
}

/// Reads a statistic exactly where the data allow: integer (and bool) data
/// have exact minima and maxima (int64 beyond 2^53 included), as NumPy's
/// `min`/`max` return them.
type Exact = fn(&Moments, Stat) -> Option<Num>;

fn exact_of<T: Real>() -> Exact {
    |m, stat| {
        let (lo, hi) = m.int_extremes::<T>()?;
        let v = match stat {
            Stat::Min => lo,
            Stat::Max => hi,
            _ => return None,
        };
        Some(if T::KIND == mmarray::ScalarKind::Bool { Num::Bool(v != 0) } else { Num::Int(v) })
    }
}

/// A reported number.
enum Num {
    Float(f64),
    Int(i128),
    Bool(bool),
}

impl Num {
    fn of(stat: Stat, m: &Moments, ddof: f64, exact: Exact) -> Result<Self, CliError> {
        let x = stat.of(m, ddof)?;
        Ok(if stat == Stat::Count { Num::Int(i128::from(m.count())) } else { exact(m, stat).unwrap_or(Num::Float(x)) })
    }

    /// NaN and infinities as strings ([`num`]); integers beyond i64 as u64.
    fn json(&self) -> Value {
        match *self {
            Num::Float(x) => num(x),
            Num::Int(i) => i64::try_from(i).map(Value::from).or_else(|_| u64::try_from(i).map(Value::from)).unwrap_or(Value::Null),
            Num::Bool(b) => Value::Bool(b),
        }
    }

    fn text(&self) -> String {
        match *self {
            Num::Float(x) => fmt(x),
            Num::Int(i) => i.to_string(),
            Num::Bool(b) => if b { "True" } else { "False" }.to_string(),
        }
    }
}

/// The accumulators: one for the whole selection (with its quantiles), or
/// one per output element with `--axis`.
enum Reduced {
    All(Moments, Vec<(f64, f64)>),
    /// Per output element; quantiles have shape `(len(q), *output)`.
    Along(ArrayD<Moments>, Option<ArrayD<f64>>),
}

fn compute<T: Real>(a: &MmapArray, sel: &Selection, args: &StatsArgs, nan: NanPolicy) -> Result<Reduced, CliError> {
    let data = a.view_or_copy::<T>()?; // (a copy only for non-native byte order)
    let view = sel.apply(data.view())?;
    Ok(match &args.axis {
        None => {
            let qs = if args.quantiles.is_empty() {
                Vec::new()
            } else {
                // Float64 interpolation, as np.quantile with a list of q.
                let values = quantile(&view, &args.quantiles, nan, QuantileDtype::Float64)?;
                args.quantiles.iter().copied().zip(values).collect()
            };
            Reduced::All(summary(&view, nan), qs)
        }
        Some(spec) => {
            let axes = parse_axes(spec, view.ndim())?;
            let qs = if args.quantiles.is_empty() {
                None
            } else {
                Some(quantile_along(&view, &axes, &args.quantiles, nan, QuantileDtype::Float64)?)
            };
            Reduced::Along(summary_along(&view, &axes, nan)?, qs)
        }
    })
}

/// `--follow`: the whole array's statistics, then again each time the
/// header names more rows, from the running accumulator merged with the
/// new rows' (each row is read once).
fn follow<T: Real>(mut a: MmapArray, args: &StatsArgs) -> Result<(), CliError> {
    use std::time::{Duration, Instant};
    let name = a.path().display().to_string();
    if a.format() == mmarray::Format::Raw {
        return Err(format!("{name}: --follow follows a .npy file's header, and a raw file has none").into());
    }
    let secs = |s: Option<f64>, what: &str| -> Result<Option<Duration>, CliError> {
        s.map(|s| Duration::try_from_secs_f64(s).map_err(|_| format!("{what} must be a number of seconds >= 0, got {s}").into())).transpose()
    };
    let interval = secs(args.interval, "--interval")?.unwrap_or(Duration::from_millis(500));
    let idle_exit = secs(args.idle_exit, "--idle-exit")?;
    let nan = if args.skipna { NanPolicy::Omit } else { NanPolicy::Propagate };
    let axis = a.growth_axis().ok_or_else(|| format!("{name}: a 0-d array has no rows to follow"))?;
    let mut seen = 0;
    let mut m: Option<Moments> = None;
    loop {
        let rows = a.shape()[axis];
        let data = a.view_or_copy::<T>()?;
        let new = data.slice_axis(ndarray::Axis(axis), ndarray::Slice::from(seen..rows));
        let part = summary(&new, nan);
        let now = m.map_or(part, |m| m.merged(part));
        m = Some(now);
        drop(data);
        seen = rows;
        let r = Reduced::All(now, Vec::new());
        let exact = exact_of::<T>();
        let line = if args.json {
            let mut v = to_json(&r, args.ddof, &[], exact)?;
            v["rows"] = json!(rows);
            format!("{v}\n")
        } else {
            let mut line = format!("rows {rows}");
            for stat in REPORTED {
                line.push_str(&format!("  {} {}", stat.name(), Num::of(stat, &now, args.ddof, exact)?.text()));
            }
            line + "\n"
        };
        print(&line)?;
        let idle = Instant::now();
        loop {
            std::thread::sleep(interval);
            // (a file replaced by another under the name is not followed)
            use std::os::unix::fs::MetadataExt;
            let named = std::fs::metadata(a.path()).ok().map(|m| (m.dev(), m.ino()));
            if named != a.file_id() {
                return Err(format!("{name}: the file was replaced or removed while followed; follow the new one anew").into());
            }
            if a.refresh()? {
                break;
            }
            if idle_exit.is_some_and(|t| idle.elapsed() >= t) {
                return Ok(());
            }
        }
    }
}

/// A number as JSON; NaN and infinities, which JSON has no numbers for, as
/// the strings `"nan"`, `"inf"` and `"-inf"` (distinct, unlike null, and
/// read back by Python's `float()`).
fn num(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or_else(
        || Value::String(if x.is_nan() { "nan" } else if x > 0.0 { "inf" } else { "-inf" }.to_string()),
        Value::Number,
    )
}

/// Nested lists of `f` applied to each accumulator, shaped like `ms`.
fn nested(ms: &ArrayD<Moments>, f: &dyn Fn(&Moments) -> Result<Value, CliError>) -> Result<Value, CliError> {
    if ms.ndim() == 0 {
        return f(ms.iter().next().ok_or("empty result")?);
    }
    ms.outer_iter().map(|sub| nested(&sub.to_owned(), f)).collect::<Result<Vec<_>, _>>().map(Value::Array)
}

fn to_json(r: &Reduced, ddof: f64, qs_asked: &[f64], exact: Exact) -> Result<Value, CliError> {
    let mut obj = serde_json::Map::new();
    for stat in REPORTED {
        let value = |m: &Moments| -> Result<Value, CliError> { Ok(Num::of(stat, m, ddof, exact)?.json()) };
        let v = match r {
            Reduced::All(m, _) => value(m)?,
            Reduced::Along(ms, _) => nested(ms, &value)?,
        };
        obj.insert(stat.name().to_string(), v);
    }
    if let Reduced::Along(_, Some(qs)) = r {
        let list: Vec<Value> = qs
            .outer_iter()
            .zip(qs_asked)
            .map(|(vals, q)| json!({"q": q, "value": nested_f64(&vals.to_owned())}))
            .collect();
        obj.insert("quantiles".into(), Value::Array(list));
    }
    if let Reduced::All(_, qs) = r {
        if !qs.is_empty() {
            let list: Vec<Value> = qs.iter().map(|&(q, v)| json!({"q": q, "value": num(v)})).collect();
            obj.insert("quantiles".into(), Value::Array(list));
        }
    }
    Ok(json!(obj))
}

fn to_text(r: &Reduced, ddof: f64, qs_asked: &[f64], exact: Exact) -> Result<String, CliError> {
    let mut out = String::new();
    match r {
        Reduced::All(m, qs) => {
            for stat in REPORTED {
                out.push_str(&format!("{:<6} {}\n", stat.name(), Num::of(stat, m, ddof, exact)?.text()));
            }
            for (q, v) in qs {
                out.push_str(&format!("q{:<5} {}\n", q, fmt(*v)));
            }
        }
        Reduced::Along(ms, qs) => {
            out.push_str(&format!("{:<16}", "index"));
            for stat in REPORTED {
                out.push_str(&format!("{:>16}", stat.name()));
            }
            for q in qs_asked {
                out.push_str(&format!("{:>16}", format!("q{q}")));
            }
            out.push('\n');
            for (idx, m) in ms.indexed_iter() {
                out.push_str(&format!("{:<16}", mmarray::shape_repr(idx.slice())));
                for stat in REPORTED {
                    // (a space before each column: int64 extremes take 20 places)
                    out.push_str(&format!(" {:>15}", Num::of(stat, m, ddof, exact)?.text()));
                }
                // quantiles have shape (len(q), *output)
                for per_q in qs.iter().flat_map(|qs| qs.outer_iter()) {
                    out.push_str(&format!(" {:>15}", fmt(per_q.get(idx.slice()).copied().unwrap_or(f64::NAN))));
                }
                out.push('\n');
            }
        }
    }
    Ok(out)
}

/// Nested lists of the values of `a`, shaped like it.
fn nested_f64(a: &ArrayD<f64>) -> Value {
    if a.ndim() == 0 {
        return num(a.iter().next().copied().unwrap_or(f64::NAN));
    }
    Value::Array(a.outer_iter().map(|sub| nested_f64(&sub.to_owned())).collect())
}

/// Numbers as NumPy prints them: integers plainly, others to 8 significant digits.
fn fmt(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else if x.is_finite() && (x.abs() >= 1e8 || x.abs() < 1e-4) {
        format!("{x:.8e}")
    } else {
        format!("{x:.8}")
    }
}
