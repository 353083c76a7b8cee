//! In-place elementwise work on a (mapped) array or a region of it:
//! arithmetic with a scalar, clipping, normalizing by the maximum, filling,
//! and any closure; parallel, writing through the view.
//!
//! [`apply`] computes a list of steps the way NumPy evaluates the
//! expression and assigns it back once: `region[...] = np.clip(region * 1.5,
//! 0, 255)` on `uint8` data gives bit-identical results. The rules (NumPy 2,
//! NEP 50, where Python scalars are "weak"):
//! - float arrays compute every step in their own precision (the scalar is
//!   first rounded to the array's type);
//! - integer arrays stay integer, wrapping on overflow, while the scalars
//!   are integers ([`Scalar::Int`]); a float scalar or a division switches
//!   the computation to float64 from that step on;
//! - an integer scalar outside the array's type is an error (NumPy's
//!   `OverflowError`);
//! - the final value is cast back to the array's type once: floats round to
//!   nearest, integers truncate toward zero (out-of-range values saturate
//!   and NaN becomes 0, where NumPy's cast is platform-dependent).
//!
//! [`apply`] also returns the floating-point errors NumPy would report
//! ([`FpEvent`]: "invalid value encountered in multiply", see the rules in
//! [`FpError`](super::FpError)).

use multiversion::multiversion;
use ndarray::{ArrayViewMut, Dimension, Zip};
use rayon::prelude::*;

use std::sync::atomic::{AtomicU8, Ordering};

use super::fpe::{self, FpEvent};
use super::real::Real;
use crate::error::{Error, ErrorKind, Result};

/// A scalar operand, typed as a Python literal is: `2` is an integer,
/// `2.0` and `1.5` are floats (on integer data they differ, as in NumPy).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar {
    /// An integer literal (any Python integer that fits in 128 bits; one
    /// outside the array's type is refused, as NumPy 2 does).
    Int(i128),
    /// A float literal.
    Float(f64),
}

impl Scalar {
    /// Parses a number as Python reads a literal: `"3"`, `"-7"` as integers
    /// (any size up to 128 bits; the array's type is checked when the step
    /// is applied, as NumPy 2 does), `"3.0"`, `"1e3"`, `"nan"`, `"inf"` as
    /// floats.
    ///
    /// ```
    /// use mmarray::compute::Scalar;
    /// assert_eq!(Scalar::parse("18446744073709551616")?, Scalar::Int(1 << 64));
    /// assert_eq!(Scalar::parse("2.0")?, Scalar::Float(2.0));
    /// assert!(Scalar::parse("1".repeat(40).as_str()).is_err()); // not silently a float
    /// # Ok::<(), mmarray::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] naming the text: not a number, or an
    /// integer literal beyond 128 bits (which no dtype holds).
    pub fn parse(s: &str) -> Result<Self> {
        let t = s.trim();
        let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            return t.parse::<i128>().map(Self::Int).map_err(|_| {
                Error::new(ErrorKind::InvalidArgument, format!("{t}: integer literal out of range (at most 128 bits; no dtype holds it)"))
            });
        }
        t.parse::<f64>().map(Self::Float).map_err(|_| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!("{s:?}: not a number (expected an integer such as 2 or a float such as 2.0, 1e3, nan, inf)"),
            )
        })
    }

    fn as_f64(self) -> f64 {
        match self {
            Self::Int(i) => i as f64,
            Self::Float(f) => f,
        }
    }
}

/// One step of an in-place computation, applied in order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// `x + s`.
    Add(Scalar),
    /// `x - s`.
    Sub(Scalar),
    /// `x * s`.
    Mul(Scalar),
    /// `x / s` (true division: always float).
    Div(Scalar),
    /// `np.clip(x, lo, hi)`.
    Clip(Scalar, Scalar),
    /// `x / x.max()` over the whole region (a reduction pass first). A zero
    /// max is IEEE 754's maximum: 0.0 if the region holds a 0.0, else -0.0
    /// (NumPy's sign of a zero max depends on the order it met the zeros).
    Normalize,
}

/// A value in the middle of a computation: integer until a step makes it
/// float, as NumPy's result dtype evolves through an expression.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Val {
    I(i128),
    F(f64),
}

/// A step bound to an element type: scalars checked and converted.
#[derive(Debug, Clone, Copy)]
enum Op {
    /// Integer arithmetic, wrapping in the element type.
    IntAdd(i128),
    IntMul(i128),
    IntClip(i128, i128),
    /// Float arithmetic: in the element type's precision for float arrays,
    /// in float64 for integer data promoted by a float step.
    FAdd(f64),
    FMul(f64),
    FDiv(f64),
    FClip(f64, f64),
}

/// Steps bound to an element type, with what NumPy reports of each.
struct Compiled {
    ops: Vec<Op>,
    /// NumPy's name of each step's ufunc, for its floating-point errors.
    names: Vec<&'static str>,
    /// The floating-point errors of rounding each step's scalar(s) to a
    /// float array's type (NumPy's "overflow encountered in cast"), one
    /// per scalar: NumPy casts a clip's two bounds apart, and reports each.
    cast_flags: Vec<[u8; 2]>,
}

fn compile<T: Real>(steps: &[Step], maxima: &[f64]) -> Result<Compiled> {
    let mut ops = Vec::with_capacity(steps.len());
    let mut names = Vec::with_capacity(steps.len());
    let mut cast_flags = Vec::with_capacity(steps.len());
    let mut integer = T::INT_RANGE.is_some();
    let mut maxima = maxima.iter();
    let check = |v: i128| -> Result<i128> {
        let (lo, hi) = T::INT_RANGE.unwrap_or((i128::MIN, i128::MAX));
        if v < lo || v > hi {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("Python integer {v} out of bounds for {}", T::KIND.name()),
            ));
        }
        Ok(v)
    };
    for &step in steps {
        // A scalar on a float array is first rounded to the array's type.
        let mut cast = [0u8; 2];
        let mut scalars = 0;
        let mut fl = |s: Scalar| {
            if T::INT_RANGE.is_some() {
                return s.as_f64();
            }
            cast[scalars] = fpe::cast::<T>(s.as_f64());
            scalars += 1;
            T::from_f64(s.as_f64()).to_f64()
        };
        let op = match step {
            Step::Add(Scalar::Int(v)) | Step::Sub(Scalar::Int(v)) if integer => {
                let v = check(v)?;
                Op::IntAdd(if matches!(step, Step::Sub(_)) { -v } else { v })
            }
            Step::Mul(Scalar::Int(v)) if integer => Op::IntMul(check(v)?),
            Step::Clip(Scalar::Int(lo), Scalar::Int(hi)) if integer => {
                // NumPy's `_clip`: a Python-integer bound at or beyond the
                // type's own limit is no bound (so `clip(u8, -1, 300)` is
                // allowed); one beyond the other limit is still an error.
                let (min, max) = T::INT_RANGE.unwrap_or((i128::MIN, i128::MAX));
                Op::IntClip(check(if lo <= min { min } else { lo })?, check(if hi >= max { max } else { hi })?)
            }
            Step::Add(s) => Op::FAdd(fl(s)),
            // x - s as x + (-s), but a NaN keeps its sign: x86 returns the
            // NaN operand, as NumPy's subtraction then does
            Step::Sub(s) => Op::FAdd(match fl(s) {
                v if v.is_nan() => v,
                v => -v,
            }),
            Step::Mul(s) => Op::FMul(fl(s)),
            Step::Div(s) => Op::FDiv(fl(s)),
            Step::Clip(lo, hi) => Op::FClip(fl(lo), fl(hi)),
            Step::Normalize => Op::FDiv(*maxima.next().unwrap_or(&f64::NAN)),
        };
        integer &= matches!(op, Op::IntAdd(_) | Op::IntMul(_) | Op::IntClip(..));
        ops.push(op);
        cast_flags.push(cast);
        names.push(match step {
            Step::Add(_) => "add",
            Step::Sub(_) => "subtract",
            Step::Mul(_) => "multiply",
            Step::Div(_) | Step::Normalize => "divide",
            Step::Clip(..) => "clip",
        });
    }
    Ok(Compiled { ops, names, cast_flags })
}

impl Compiled {
    /// The floating-point errors in NumPy's order, `flags(i)` being those of
    /// step `i` (and `flags(ops.len())` those of the final cast back to an
    /// integer type): per step, the casts of its scalars (each its own
    /// call), then its own; last, the final cast.
    fn events(&self, flags: impl Fn(usize) -> u8) -> Vec<FpEvent> {
        let mut events = Vec::new();
        for (i, (&name, casts)) in self.names.iter().zip(&self.cast_flags).enumerate() {
            events.extend(fpe::events(casts[0], "cast", 3 * i));
            events.extend(fpe::events(casts[1], "cast", 3 * i + 1));
            events.extend(fpe::events(flags(i), name, 3 * i + 2));
        }
        events.extend(fpe::events(flags(self.ops.len()), "cast", 3 * self.ops.len()));
        events
    }
}

/// Runs `ops` on one element, returning the value before the final cast;
/// `note(i, flags)` receives the floating-point errors of step `i`.
#[inline]
fn run<T: Real>(x: T, ops: &[Op], mut note: impl FnMut(usize, u8)) -> Val {
    let float_array = T::INT_RANGE.is_none();
    let round = |v: f64| if float_array { T::from_f64(v).to_f64() } else { v };
    let mut v = if float_array { Val::F(x.to_f64()) } else { Val::I(x.to_i128()) };
    for (i, op) in ops.iter().enumerate() {
        let f = match v {
            Val::F(f) => f,
            Val::I(i) => i as f64,
        };
        v = match (*op, v) {
            (Op::IntAdd(s), Val::I(i)) => Val::I(T::wrap_i128(i + s).to_i128()),
            (Op::IntMul(s), Val::I(i)) => Val::I(T::wrap_i128(i.wrapping_mul(s)).to_i128()),
            (Op::IntClip(lo, hi), Val::I(i)) => Val::I(i.max(lo).min(hi)),
            (Op::FAdd(_) | Op::FMul(_) | Op::FDiv(_) | Op::FClip(..), _) => {
                let (r, flags) = float_op::<T>(f, *op, round);
                if flags != 0 {
                    note(i, flags);
                }
                Val::F(r)
            }
            (_, Val::F(f)) => Val::F(f), // integer ops never follow float ones
        };
    }
    v
}

/// One float step on `x`, rounded by `round`: the result and its
/// floating-point errors.
#[inline(always)]
fn float_op<T: Real>(x: f64, op: Op, round: impl Fn(f64) -> f64) -> (f64, u8) {
    match op {
        Op::FAdd(s) => {
            let r = round(x + s);
            (r, fpe::add(x, s, r))
        }
        Op::FMul(s) => {
            let p = x * s;
            let r = round(p);
            (r, fpe::settle::<T>(fpe::mul::<T>(x, s, p, r), x, s, false))
        }
        Op::FDiv(s) => {
            let q = x / s;
            let r = round(q);
            (r, fpe::settle::<T>(fpe::div::<T>(x, s, q, r), x, s, true))
        }
        Op::FClip(lo, hi) => (round(clip(x, lo, hi)), 0),
        Op::IntAdd(_) | Op::IntMul(_) | Op::IntClip(..) => (x, 0),
    }
}

/// `np.clip(x, lo, hi)`, which is `minimum(maximum(x, lo), hi)`: a NaN in
/// `x` or in either bound gives NaN (`f64::max`/`min` would drop it).
#[inline]
fn clip(x: f64, lo: f64, hi: f64) -> f64 {
    if lo.is_nan() || hi.is_nan() {
        return f64::NAN;
    }
    // a NaN is itself, sign and payload (NumPy's maximum and minimum
    // return their NaN operand as it is)
    if x.is_nan() { x } else { x.max(lo).min(hi) }
}

#[inline]
fn cast_back<T: Real>(v: Val) -> T {
    match v {
        Val::I(i) => T::wrap_i128(i),
        Val::F(f) => T::from_f64(f),
    }
}

/// One float step over a block of a float array, rounding to the element
/// type (as [`run`] does per element); its floating-point errors.
///
/// The vectorized loop computes values only (deciding the errors per
/// element, as `run` does, stops it vectorizing: `a *= s` ran 5x slower).
/// The errors come from counting NaN, infinities and tiny values in each
/// sub-block after the step, with integer comparisons in the L1 cache: none
/// (the usual case) means no error; otherwise the same count of the
/// operands, kept before the step, says which ([`fpe::from_census`]), and
/// only a possible underflow is decided per element.
fn float_step<T: Real>(xs: &mut [T], op: Op) -> u8 {
    const SUB: usize = 512;
    let s = match op {
        Op::FAdd(s) | Op::FMul(s) | Op::FDiv(s) => s,
        // (float arrays never compile to integer steps)
        Op::FClip(..) | Op::IntAdd(_) | Op::IntMul(_) | Op::IntClip(..) => {
            float_block(xs, op);
            return 0;
        }
    };
    let mut flags = 0;
    let mut kept = [T::from_f64(0.0); SUB];
    for block in xs.chunks_mut(SUB) {
        let kept = &mut kept[..block.len()];
        kept.copy_from_slice(block);
        float_block(block, op);
        if !any_abnormal(block) {
            continue;
        }
        let f = fpe::from_census(op_kind(op), s, census(kept), census(block));
        flags |= f & !fpe::MAYBE_UNDERFLOW;
        if f & fpe::MAYBE_UNDERFLOW != 0 {
            // per element, as `run` decides (the values are already written)
            for &x in kept.iter() {
                flags |= float_op::<T>(x.to_f64(), op, |v| T::from_f64(v).to_f64()).1;
            }
        }
    }
    flags
}

fn op_kind(op: Op) -> fpe::OpKind {
    match op {
        Op::FMul(_) | Op::IntMul(_) => fpe::OpKind::Mul,
        Op::FDiv(_) => fpe::OpKind::Div,
        Op::FAdd(_) | Op::IntAdd(_) | Op::FClip(..) | Op::IntClip(..) => fpe::OpKind::Add,
    }
}

/// Lanes of the counting loops: independent accumulators, so they
/// vectorize (a single running count does not).
const LANES: usize = 16;

/// How many NaN, infinities, zeros and tiny values `xs` (a float type)
/// holds, by integer comparisons of the bits.
#[cfg_attr(not(debug_assertions), multiversion(targets = "simd"))]
#[cfg_attr(debug_assertions, multiversion(targets("x86_64+avx+avx2+fma")))]
fn census<T: Real>(xs: &[T]) -> fpe::Census {
    let count = |x: &T| {
        let b = x.abs_bits();
        [u32::from(b > T::INF_BITS), u32::from(b == T::INF_BITS), u32::from(b == 0), u32::from(b <= T::MIN_NORMAL_BITS)]
    };
    let mut acc = [[0u32; LANES]; 4];
    let chunks = xs.chunks_exact(LANES);
    let mut total = [0u32; 4];
    for x in chunks.remainder() {
        total.iter_mut().zip(count(x)).for_each(|(t, c)| *t += c);
    }
    for c in chunks {
        for (i, x) in c.iter().enumerate() {
            let [n, f, z, t] = count(x);
            acc[0][i] += n;
            acc[1][i] += f;
            acc[2][i] += z;
            acc[3][i] += t;
        }
    }
    for (t, a) in total.iter_mut().zip(&acc) {
        *t += a.iter().sum::<u32>();
    }
    let [nan, inf, zero, tiny] = total.map(|v| v as usize);
    fpe::Census { nan, inf, zero, tiny }
}

/// [`float_step`]'s vectorized loops.
#[cfg_attr(not(debug_assertions), multiversion(targets = "simd"))]
#[cfg_attr(debug_assertions, multiversion(targets("x86_64+avx+avx2+fma")))]
fn float_block<T: Real>(xs: &mut [T], op: Op) {
    // (each arm its own loop, so each vectorizes on its own)
    match op {
        Op::FAdd(s) => xs.iter_mut().for_each(|x| *x = T::from_f64(x.to_f64() + s)),
        Op::FMul(s) => xs.iter_mut().for_each(|x| *x = T::from_f64(x.to_f64() * s)),
        Op::FDiv(s) => xs.iter_mut().for_each(|x| *x = T::from_f64(x.to_f64() / s)),
        // a NaN element is left as it is, bit for bit (its conversion to
        // f64 would quiet a signalling NaN, which NumPy's clip keeps)
        Op::FClip(lo, hi) => xs.iter_mut().for_each(|x| {
            let v = x.to_f64();
            *x = if v.is_nan() && !lo.is_nan() && !hi.is_nan() { *x } else { T::from_f64(clip(v, lo, hi)) };
        }),
        // float arrays never compile to integer steps
        Op::IntAdd(_) | Op::IntMul(_) | Op::IntClip(..) => xs.iter_mut().for_each(|x| *x = cast_back(run(*x, &[op], |_, _| {}))),
    }
}

/// Whether `xs` holds a NaN, an infinity, a zero or a tiny value (in the
/// type's own comparisons, which vectorize).
#[cfg_attr(not(debug_assertions), multiversion(targets = "simd"))]
#[cfg_attr(debug_assertions, multiversion(targets("x86_64+avx+avx2+fma")))]
fn any_abnormal<T: Real>(xs: &[T]) -> bool {
    xs.iter().fold(false, |a, x| a | x.is_abnormal())
}

/// Per-step floating-point errors gathered by the parallel loops: one
/// flag set per step, and one for the final cast of integer data.
struct Flags(Vec<AtomicU8>);

impl Flags {
    fn new(steps: usize) -> Self {
        Self((0..=steps).map(|_| AtomicU8::new(0)).collect())
    }

    #[inline]
    fn note(&self, i: usize, flags: u8) {
        // read first: a flag already set costs no write to the shared line
        if flags & !self.0[i].load(Ordering::Relaxed) != 0 {
            self.0[i].fetch_or(flags, Ordering::Relaxed);
        }
    }

    fn get(&self, i: usize) -> u8 {
        self.0[i].load(Ordering::Relaxed)
    }
}

/// Applies `steps` in order to every element of `view`, in parallel, as
/// NumPy evaluates the expression and assigns it back once (see the module
/// docs for the type rules).
///
/// ```
/// use mmarray::compute::{apply, Scalar, Step};
/// let mut img = ndarray::array![[10u8, 100, 200]];
/// apply(img.view_mut(), &[Step::Mul(Scalar::Float(1.5)), Step::Clip(Scalar::Int(0), Scalar::Int(255))])?;
/// assert_eq!(img, ndarray::array![[15u8, 150, 255]]);
/// # Ok::<(), mmarray::Error>(())
/// ```
///
/// Returns the floating-point errors the computation raised, as NumPy
/// would report them after evaluating the same expression (see [`FpEvent`]
/// and the [`fpe` rules](crate::compute::FpError)): per step, the rounding
/// of its scalar to the array's type ("overflow encountered in cast"), then
/// the step's own ("invalid value encountered in multiply", ...); last, for
/// integer data computed in float, the cast back ("invalid value
/// encountered in cast" for NaN, ±inf or a value outside the type, which
/// saturates). Integer arithmetic wraps silently, as NumPy's does for
/// arrays. The values are written whatever the errors (NumPy's ufuncs, too,
/// check their errors after the loop); [`scalar_events`] gives the cast
/// errors beforehand, for a caller that stops on them as NumPy does.
///
/// # Errors
/// [`ErrorKind::InvalidArgument`] for an integer scalar outside an integer
/// array's type, and for normalizing an empty region.
pub fn apply<T: Real, D: Dimension>(mut view: ArrayViewMut<'_, T, D>, steps: &[Step]) -> Result<Vec<FpEvent>> {
    // Each Normalize divides by the maximum of the values computed so far:
    // one read-only pass per Normalize, before the writing pass.
    let mut maxima = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        if *step == Step::Normalize {
            if view.is_empty() {
                return Err(Error::new(ErrorKind::InvalidArgument, "cannot normalize an empty region (its max is undefined)"));
            }
            let ops = compile::<T>(&steps[..i], &maxima)?.ops;
            let value = |x: T| match run(x, &ops, |_, _| {}) {
                Val::I(v) => v as f64,
                Val::F(f) => f,
            };
            let max = if ops.is_empty() {
                // the region's own max: the reduction engine's kernel
                let m = super::reduce(&view.view(), super::Stat::Max, &super::ReduceOptions::default())?;
                m.first().copied().unwrap_or(f64::NAN)
            } else {
                view.view()
                    .into_par_iter()
                    .map(|&x| value(x))
                    .reduce(|| f64::NEG_INFINITY, |a, b| if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) })
            };
            let max = if max == 0.0 {
                // -0.0 and 0.0 compare equal, so which one a max keeps
                // depends on the order it meets them (NumPy's too), yet the
                // division by it decides the sign of every infinity: take
                // IEEE 754's maximum, 0.0 if the region holds one, else -0.0
                // (one more pass, only when the max is zero).
                let positive = view.view().into_par_iter().any(|&x| {
                    let v = value(x);
                    v == 0.0 && v.is_sign_positive()
                });
                if positive { 0.0 } else { -0.0 }
            } else {
                max
            };
            maxima.push(max);
        }
    }
    let compiled = compile::<T>(steps, &maxima)?;
    let ops = &compiled.ops;
    let flags = Flags::new(ops.len());
    let last = ops.len(); // the final cast's flags
    let one = |x: &mut T| {
        let v = run(*x, ops, |i, f| flags.note(i, f));
        if let Val::F(f) = v {
            if T::INT_RANGE.is_some() {
                flags.note(last, fpe::cast::<T>(f));
            }
        }
        *x = cast_back(v);
    };
    let progress = super::hints::progress();
    if let Some(flat) = view.as_slice_memory_order_mut() {
        // contiguous: blocks in parallel, reporting progress as they
        // finish; window by window over a file larger than RAM
        let region = super::hints::Region::write(flat, super::CHUNK * std::mem::size_of::<T>());
        let len = flat.len();
        let units = len.div_ceil(super::CHUNK);
        super::hints::in_windows(&[region], units, |r| {
            let part = &mut flat[r.start * super::CHUNK..(r.end * super::CHUNK).min(len)];
            part.par_chunks_mut(super::CHUNK).for_each(|chunk| {
                if T::INT_RANGE.is_none() {
                    // A float array rounds to its own type after every step, so
                    // applying the steps one at a time to a cache-resident block
                    // gives the same bits as running them per element, in
                    // vectorized loops.
                    for (i, &op) in ops.iter().enumerate() {
                        flags.note(i, float_step(chunk, op));
                    }
                } else {
                    chunk.iter_mut().for_each(one);
                }
                super::hints::report(progress.as_ref(), std::mem::size_of_val(chunk));
            });
        });
    } else {
        view.par_map_inplace(one);
        super::hints::report(progress.as_ref(), view.len() * std::mem::size_of::<T>());
    }
    Ok(compiled.events(|i| flags.get(i)))
}

/// The floating-point errors of rounding the scalars of `steps` to `T`
/// ("overflow encountered in cast": `1e300` for a float32 array), which
/// NumPy raises before computing: a caller that stops on them (NumPy under
/// `np.errstate(over='raise')`) checks them before [`apply`], which reports
/// them too.
///
/// ```
/// use mmarray::compute::{scalar_events, Scalar, Step};
/// let events = scalar_events::<f32>(&[Step::Mul(Scalar::Float(1e300))])?;
/// assert_eq!(events[0].to_string(), "overflow encountered in cast");
/// assert!(scalar_events::<f64>(&[Step::Mul(Scalar::Float(1e300))])?.is_empty());
/// # Ok::<(), mmarray::Error>(())
/// ```
///
/// # Errors
/// As [`apply`]'s: an integer scalar outside an integer type.
pub fn scalar_events<T: Real>(steps: &[Step]) -> Result<Vec<FpEvent>> {
    let maxima = vec![f64::NAN; steps.len()]; // (a max is the array's own type: no cast)
    Ok(compile::<T>(steps, &maxima)?.events(|_| 0))
}

/// Sets every element of `view` to `value`, in parallel.
pub fn fill<T: Real, D: Dimension>(mut view: ArrayViewMut<'_, T, D>, value: T) {
    view.par_map_inplace(|x| *x = value);
}

/// Replaces every element `x` of `view` by `f(x)`, in parallel.
pub fn map_inplace<T: Real, D: Dimension>(mut view: ArrayViewMut<'_, T, D>, f: impl Fn(T) -> T + Sync + Send) {
    view.par_map_inplace(|x| *x = f(*x));
}

/// Replaces every element by `f(x, y)` with `y` the matching element of
/// `other` (same shape), in parallel.
///
/// # Errors
/// [`ErrorKind::InvalidArgument`] if the shapes differ.
pub fn zip_inplace<T: Real, U: Real, D: Dimension>(
    view: ArrayViewMut<'_, T, D>,
    other: ndarray::ArrayView<'_, U, D>,
    f: impl Fn(T, U) -> T + Sync + Send,
) -> Result<()> {
    if view.shape() != other.shape() {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("shapes differ: {:?} and {:?}", view.shape(), other.shape()),
        ));
    }
    Zip::from(view).and(other).par_for_each(|x, &y| *x = f(*x, y));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn numpy_type_rules() {
        // uint8 * 1.5 is float64, clipped, truncated back: 7*1.5=10.5 -> 10
        let mut a = array![0u8, 7, 100, 200];
        apply(a.view_mut(), &[Step::Mul(Scalar::Float(1.5)), Step::Clip(Scalar::Int(0), Scalar::Int(255))]).unwrap();
        assert_eq!(a, array![0u8, 10, 150, 255]);
        // integer scalars keep integer arithmetic, wrapping
        let mut b = array![250u8, 3];
        apply(b.view_mut(), &[Step::Add(Scalar::Int(10))]).unwrap();
        assert_eq!(b, array![4u8, 13]);
        // but 10.0 is a float: 250 + 10.0 = 260.0 saturates on the cast back
        let mut c = array![250u8, 3];
        apply(c.view_mut(), &[Step::Add(Scalar::Float(10.0))]).unwrap();
        assert_eq!(c, array![255u8, 13]);
        // out-of-range integer scalars are refused (NumPy 2's OverflowError)
        let e = apply(b.view_mut(), &[Step::Add(Scalar::Int(300))]).unwrap_err();
        assert!(e.to_string().contains("Python integer 300 out of bounds for uint8"), "{e}");
        // float32 arithmetic is float32's: 0.1f32 * 3 rounded in f32
    }

    #[test]
    fn normalize_by_a_zero_max_takes_ieee_maximum() {
        // the max of -0.0 and 0.0 is 0.0 (IEEE 754 maximum), wherever the
        // 0.0 is and however the region is split among threads
        for n in [3usize, 100_000] {
            for at in [0, n / 2, n - 1] {
                let neg = if at == 1 { 0 } else { 1 };
                let mut a = ndarray::Array1::from_elem(n, -0.0f64);
                a[neg] = -1.0;
                a[at] = 0.0;
                apply(a.view_mut(), &[Step::Normalize]).unwrap();
                assert_eq!(a[neg], f64::NEG_INFINITY, "n={n} 0.0 at {at}");
            }
            // only -0.0 among the zeros: the max is -0.0, -1 / -0.0 = inf
            let mut b = ndarray::Array1::from_elem(n, -0.0f32);
            b[1] = -1.0;
            apply(b.view_mut(), &[Step::Normalize]).unwrap();
            assert_eq!(b[1], f32::INFINITY);
            // after a step (the interpreted path): -x of [0.0, 1.0] is [-0.0, -1.0]
            let mut c = ndarray::Array1::from_elem(n, 1.0f64);
            c[0] = 0.0;
            apply(c.view_mut(), &[Step::Mul(Scalar::Float(-1.0)), Step::Normalize]).unwrap();
            assert_eq!(c[1], f64::INFINITY);
        }
        let mut d = array![0.1f32];
        apply(d.view_mut(), &[Step::Mul(Scalar::Int(3))]).unwrap();
        assert_eq!(d[0], 0.1f32 * 3.0f32);
        // normalize divides by the max of the values so far
        let mut e = array![1.0f64, 2.0, 4.0];
        apply(e.view_mut(), &[Step::Add(Scalar::Int(4)), Step::Normalize]).unwrap();
        assert_eq!(e, array![5.0 / 8.0, 6.0 / 8.0, 1.0]);
        // division of integers is true division; the result truncates back
        let mut f = array![7i32, -7];
        apply(f.view_mut(), &[Step::Div(Scalar::Int(2))]).unwrap();
        assert_eq!(f, array![3, -3]);
    }

    #[test]
    fn integers_past_i64_and_nan_clip_bounds_as_numpy() {
        // uint64 + 2**63 is computed in uint64 (was: refused, or saturated)
        let mut u = array![0u64, 1, 2, u64::MAX];
        apply(u.view_mut(), &[Step::Add(Scalar::Int(1 << 63))]).unwrap();
        assert_eq!(u, array![1 << 63, (1 << 63) + 1, (1 << 63) + 2, (1 << 63) - 1]);
        apply(u.view_mut(), &[Step::Mul(Scalar::Int(i128::from(u64::MAX)))]).unwrap();
        assert_eq!(u[1], ((1u64 << 63) + 1).wrapping_mul(u64::MAX));
        // int64 + 2**63 is NumPy's OverflowError, never a saturated add
        let mut i = array![0i64, 1];
        let e = apply(i.view_mut(), &[Step::Add(Scalar::Int(1 << 63))]).unwrap_err();
        assert!(e.to_string().contains("Python integer 9223372036854775808 out of bounds for int64"), "{e}");
        let e = apply(u.view_mut(), &[Step::Sub(Scalar::Int(1 << 64))]).unwrap_err();
        assert!(e.to_string().contains("out of bounds for uint64"), "{e}");
        assert_eq!(i, array![0, 1]);
        assert_eq!(Scalar::parse("18446744073709551616").unwrap(), Scalar::Int(1 << 64));
        // np.clip(x, nan, 1) is all NaN (NaN bounds propagate, in both paths)
        for strided in [false, true] {
            let mut x = array![0.5f64, 2.0, -1.0, 7.0];
            let steps = [Step::Clip(Scalar::Float(f64::NAN), Scalar::Float(1.0))];
            if strided {
                apply(x.slice_mut(ndarray::s![..;2]), &steps).unwrap();
                assert!(x[0].is_nan() && x[2].is_nan() && x[1] == 2.0 && x[3] == 7.0);
            } else {
                apply(x.view_mut(), &steps).unwrap();
                assert!(x.iter().all(|v| v.is_nan()), "{x}");
            }
        }
        let mut y = array![0.5f32, 2.0];
        apply(y.view_mut(), &[Step::Clip(Scalar::Float(0.0), Scalar::Float(f64::NAN))]).unwrap();
        assert!(y.iter().all(|v| v.is_nan()));
    }

    /// The per-element interpreter, sequential, the reference for the
    /// block paths: the values and the floating-point errors.
    fn reference<T: Real>(xs: &[T], steps: &[Step]) -> (Vec<T>, Vec<FpEvent>) {
        let mut maxima = Vec::new();
        for (i, step) in steps.iter().enumerate() {
            if *step == Step::Normalize {
                let ops = compile::<T>(&steps[..i], &maxima).unwrap().ops;
                let vals = xs.iter().map(|&x| match run(x, &ops, |_, _| {}) {
                    Val::I(v) => v as f64,
                    Val::F(f) => f,
                });
                // IEEE 754's maximum: NaN wins, then 0.0 is above -0.0
                maxima.push(vals.fold(f64::NEG_INFINITY, |a, b| {
                    if a.is_nan() || b.is_nan() {
                        f64::NAN
                    } else if a == b {
                        if a.is_sign_positive() { a } else { b }
                    } else {
                        a.max(b)
                    }
                }));
            }
        }
        let c = compile::<T>(steps, &maxima).unwrap();
        let mut flags = vec![0u8; steps.len() + 1];
        let values = xs
            .iter()
            .map(|&x| {
                let v = run(x, &c.ops, |i, f| flags[i] |= f);
                if let (Val::F(f), Some(_)) = (v, T::INT_RANGE) {
                    flags[steps.len()] |= fpe::cast::<T>(f);
                }
                cast_back(v)
            })
            .collect();
        (values, c.events(|i| flags[i]))
    }

    fn step_strategy() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        // (extremes: overflow and underflow in float32 and float64)
        let extreme = prop_oneof![Just(1e300), Just(-1e-300), Just(3e38), Just(1e-38), Just(1e-30), Just(f64::INFINITY), Just(0.0)];
        let scalar = prop_oneof![
            4 => (-5i128..5).prop_map(Scalar::Int),
            4 => (-3.0f64..3.0).prop_map(Scalar::Float),
            2 => extreme.prop_map(Scalar::Float),
        ];
        prop_oneof![
            scalar.clone().prop_map(Step::Add),
            scalar.clone().prop_map(Step::Sub),
            scalar.clone().prop_map(Step::Mul),
            scalar.clone().prop_map(Step::Div),
            (scalar.clone(), scalar).prop_map(|(a, b)| Step::Clip(a, b)),
            Just(Step::Normalize),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(64))]
        /// Float arrays take vectorized block passes (one step at a time) and
        /// the engine's max for a leading normalize: the same bits as the
        /// interpreter, NaN, infinities and signed zeros included.
        #[test]
        fn block_paths_match_the_interpreter(
            raw in proptest::collection::vec(proptest::prop_oneof![
                8 => -1e3f64..1e3,
                1 => proptest::prop_oneof![
                    proptest::strategy::Just(1e300), proptest::strategy::Just(-3e38), proptest::strategy::Just(1e-300),
                    proptest::strategy::Just(1e-40), proptest::strategy::Just(5e-324), proptest::strategy::Just(1.2e-38),
                ],
                1 => proptest::strategy::Just(f64::NAN),
                1 => proptest::strategy::Just(f64::INFINITY),
                1 => proptest::strategy::Just(-0.0),
            ], 1..(CHUNK_TEST + 1000)),
            steps in proptest::collection::vec(step_strategy(), 1..4),
        ) {
            let f64s = ndarray::Array1::from(raw.clone());
            let mut got = f64s.clone();
            let events = apply(got.view_mut(), &steps).unwrap();
            let (want, want_events) = reference(f64s.as_slice().unwrap(), &steps);
            proptest::prop_assert!(got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "f64 {steps:?}");
            proptest::prop_assert_eq!(&events, &want_events, "f64 {:?}", steps);
            let f32s = f64s.mapv(|v| v as f32);
            let mut got = f32s.clone();
            let events = apply(got.view_mut(), &steps).unwrap();
            let (want, want_events) = reference(f32s.as_slice().unwrap(), &steps);
            proptest::prop_assert!(got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "f32 {steps:?}");
            proptest::prop_assert_eq!(&events, &want_events, "f32 {:?}", steps);
            let i16s = f64s.mapv(|v| if v.is_finite() { v as i16 } else { 7 });
            let mut got = i16s.clone();
            if let Ok(events) = apply(got.view_mut(), &steps) {
                let (want, want_events) = reference(i16s.as_slice().unwrap(), &steps);
                proptest::prop_assert_eq!(got.to_vec(), want, "i16 {:?}", steps);
                proptest::prop_assert_eq!(&events, &want_events, "i16 {:?}", steps);
            }
        }
    }

    /// Enough elements for several parallel blocks.
    const CHUNK_TEST: usize = super::super::CHUNK;

    #[test]
    fn scalars_parse_like_python_literals() {
        assert_eq!(Scalar::parse("3").unwrap(), Scalar::Int(3));
        assert_eq!(Scalar::parse("-3").unwrap(), Scalar::Int(-3));
        assert_eq!(Scalar::parse("3.0").unwrap(), Scalar::Float(3.0));
        assert_eq!(Scalar::parse("1e2").unwrap(), Scalar::Float(100.0));
        assert!(Scalar::parse("x").is_err());
    }
}
