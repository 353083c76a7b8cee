//! The IEEE 754 exceptions ("floating-point errors") of the engine's
//! elementwise arithmetic, reported as NumPy reports its own after a ufunc:
//! `divide by zero`, `overflow`, `underflow` and `invalid value`
//! "encountered in" the operation (`add`, `subtract`, `multiply`, `divide`,
//! `cast`), once per call and kind, in that order.
//!
//! NumPy reads the CPU's exception flags (`fetestexcept`) after its loops.
//! Here each step decides from its operands and its rounded result instead,
//! because the flags do not fit this engine: Rust's optimizer assumes the
//! default floating-point environment and gives no ordering guarantee for
//! reading it, float16 is converted in software (which sets no flag), and
//! float16/float32 steps are computed in float64 and rounded once. The
//! rules (IEEE 754 section 7, with x86's tininess after rounding; NumPy's
//! float16 conversion detects it before rounding):
//! - invalid: a NaN result from operands that hold no NaN (`inf - inf`,
//!   `0 * inf`, `0 / 0`, `inf / inf`);
//! - divide by zero: a finite non-zero value divided by zero;
//! - overflow: an infinite result from finite operands (not a division by
//!   zero), the rounding of a scalar to the array's type included;
//! - underflow: a non-zero exact result that is tiny (below the type's
//!   smallest normal number) and rounded (a sum never underflows: a tiny
//!   sum is exact).

use std::fmt;

use super::real::Real;

pub(crate) const DIVIDE: u8 = 1;
pub(crate) const OVERFLOW: u8 = 2;
pub(crate) const UNDERFLOW: u8 = 4;
pub(crate) const INVALID: u8 = 8;

/// A kind of floating-point error, as `np.errstate` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FpError {
    /// A finite non-zero number divided by zero (the result is ±inf).
    DivideByZero,
    /// A result too large for the type, from finite operands (±inf).
    Overflow,
    /// A non-zero result too small for the type's normal range, rounded.
    Underflow,
    /// An operation with no meaningful result (NaN from non-NaN operands).
    Invalid,
}

impl FpError {
    /// The key of this kind in `np.errstate`, `np.seterr` and `np.geterr`:
    /// `"divide"`, `"over"`, `"under"` or `"invalid"`.
    pub fn errstate_key(self) -> &'static str {
        match self {
            Self::DivideByZero => "divide",
            Self::Overflow => "over",
            Self::Underflow => "under",
            Self::Invalid => "invalid",
        }
    }

    /// How NumPy's messages name it: `"divide by zero"`, `"overflow"`,
    /// `"underflow"`, `"invalid value"`.
    pub fn description(self) -> &'static str {
        match self {
            Self::DivideByZero => "divide by zero",
            Self::Overflow => "overflow",
            Self::Underflow => "underflow",
            Self::Invalid => "invalid value",
        }
    }
}

/// A floating-point error raised by a computation: its kind and the
/// operation, named as NumPy names its ufunc. `Display` gives NumPy's
/// message:
///
/// ```
/// use mmarray::compute::{apply, FpError, Scalar, Step};
/// let mut a = ndarray::array![f64::INFINITY, 1.0];
/// let events = apply(a.view_mut(), &[Step::Mul(Scalar::Float(0.0))])?;
/// assert_eq!(events[0].error, FpError::Invalid);
/// assert_eq!(events[0].to_string(), "invalid value encountered in multiply");
/// # Ok::<(), mmarray::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FpEvent {
    /// The kind of error.
    pub error: FpError,
    /// NumPy's name of the operation: `add`, `subtract`, `multiply`,
    /// `divide` or `cast` (`scalar subtract`... for NumPy's scalar
    /// arithmetic).
    pub operation: &'static str,
    /// Which of the computation's NumPy calls (ufunc calls, casts, scalar
    /// operations), counted from 0, raises it: events of one call share
    /// the status bits a `np.seterrcall` handler gets (NumPy reports them
    /// together), where two calls of the same operation report apart.
    pub call: usize,
}

impl fmt::Display for FpEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} encountered in {}", self.error.description(), self.operation)
    }
}

/// The events of `flags` for `operation`, the computation's call number
/// `call`, in NumPy's reporting order (divide by zero, overflow,
/// underflow, invalid value).
pub(crate) fn events(flags: u8, operation: &'static str, call: usize) -> impl Iterator<Item = FpEvent> {
    [(DIVIDE, FpError::DivideByZero), (OVERFLOW, FpError::Overflow), (UNDERFLOW, FpError::Underflow), (INVALID, FpError::Invalid)]
        .into_iter()
        .filter(move |(bit, _)| flags & bit != 0)
        .map(move |(_, error)| FpEvent { error, operation, call })
}

#[inline(always)]
fn bit(cond: bool, flag: u8) -> u8 {
    u8::from(cond) * flag
}

/// NaN from non-NaN operands, or ±inf from finite ones.
#[inline(always)]
fn invalid_or_overflow(x: f64, s: f64, r: f64) -> u8 {
    bit(r.is_nan() & !x.is_nan() & !s.is_nan(), INVALID) | bit(r.is_infinite() & x.is_finite() & s.is_finite(), OVERFLOW)
}

/// Whether a result of the type `T`'s computation is tiny: `r` the rounded
/// result, `p` the value before rounding to `T` (float16 judges before
/// rounding, as NumPy's conversion does; the others after, as x86 does).
#[inline(always)]
fn tiny<T: Real>(p: f64, r: f64) -> bool {
    (if T::TINY_BEFORE_ROUNDING { p } else { r }).abs() < T::MIN_NORMAL
}

/// 2^600: scales a float64 operand of a tiny result into the normal range,
/// where a fused multiply-add gives the exact rounding error.
const SCALE: f64 = f64::from_bits((1023 + 600) << 52);

/// The flags of `x + s` (a subtraction is the addition of `-s`) rounded
/// to `r`.
#[inline(always)]
pub(crate) fn add(x: f64, s: f64, r: f64) -> u8 {
    invalid_or_overflow(x, s, r)
}

/// Set by [`mul`] and [`div`] for a result that may have underflowed
/// (tiny, from non-zero finite operands): [`settle`] decides, so the
/// vectorized loops carry no branch for this rare case.
pub(crate) const MAYBE_UNDERFLOW: u8 = 16;

/// The flags of `x * s`: `p` the float64 product, `r` it rounded to `T`.
#[inline(always)]
pub(crate) fn mul<T: Real>(x: f64, s: f64, p: f64, r: f64) -> u8 {
    let candidate = tiny::<T>(p, r) & (x != 0.0) & (s != 0.0) & x.is_finite() & s.is_finite();
    invalid_or_overflow(x, s, r) | bit(candidate, MAYBE_UNDERFLOW)
}

/// The flags of `x / s`: `q` the float64 quotient, `r` it rounded to `T`.
#[inline(always)]
pub(crate) fn div<T: Real>(x: f64, s: f64, q: f64, r: f64) -> u8 {
    let by_zero = (s == 0.0) & x.is_finite() & (x != 0.0);
    let overflow = r.is_infinite() & x.is_finite() & s.is_finite() & (s != 0.0);
    let candidate = tiny::<T>(q, r) & (x != 0.0) & x.is_finite() & s.is_finite();
    bit(by_zero, DIVIDE) | bit(r.is_nan() & !x.is_nan() & !s.is_nan(), INVALID) | bit(overflow, OVERFLOW) | bit(candidate, MAYBE_UNDERFLOW)
}

/// The arithmetic of a step, for [`from_census`] (a subtraction is the
/// addition of `-s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpKind {
    Add,
    Mul,
    Div,
}

/// How many NaN, infinities, zeros and tiny values (`|v| <=` the smallest
/// normal, zeros included) a block holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Census {
    pub nan: usize,
    pub inf: usize,
    pub zero: usize,
    pub tiny: usize,
}

/// The flags of `x op s` over a block, from its census `before` and
/// `after` the step ([`MAYBE_UNDERFLOW`] left to decide per element).
/// With a non-NaN `s`, a NaN operand always gives NaN, so more NaN after
/// than before is an invalid operation; with a finite `s` (non-zero for a
/// product), an infinite operand always gives an infinity and a zero a
/// zero, so a new infinity is an overflow (for a division by zero, the
/// division) and a new tiny value a possible underflow.
pub(crate) fn from_census(op: OpKind, s: f64, before: Census, after: Census) -> u8 {
    if s.is_nan() {
        return 0;
    }
    let mut flags = bit(after.nan > before.nan, INVALID);
    let new_inf = after.inf > before.inf;
    match op {
        OpKind::Add => flags |= bit(s.is_finite() && new_inf, OVERFLOW),
        OpKind::Div if s == 0.0 => flags |= bit(new_inf, DIVIDE),
        OpKind::Mul | OpKind::Div if s.is_finite() && s != 0.0 => {
            flags |= bit(new_inf, OVERFLOW) | bit(after.tiny > before.zero, MAYBE_UNDERFLOW);
        }
        OpKind::Mul | OpKind::Div => {}
    }
    flags
}

/// `flags` with [`MAYBE_UNDERFLOW`] decided for `x * s` (`divide`: `x /
/// s`) computed in `T`: replaced by [`UNDERFLOW`] if the tiny result was
/// rounded.
pub(crate) fn settle<T: Real>(flags: u8, x: f64, s: f64, divide: bool) -> u8 {
    if flags & MAYBE_UNDERFLOW == 0 {
        return flags;
    }
    let p = if divide { x / s } else { x * s };
    let r = T::from_f64(p).to_f64();
    let tiny_and_rounded = tiny::<T>(p, r) && if divide { div_inexact(x, s, p, r) } else { mul_inexact(x, s, p, r) };
    flags & !MAYBE_UNDERFLOW | bit(tiny_and_rounded, UNDERFLOW)
}

/// Whether the rounded product `r` of finite non-zero `x` and `s` differs
/// from the exact one (`p`: the product rounded to float64, exact for
/// float16/float32 operands).
fn mul_inexact(x: f64, s: f64, p: f64, r: f64) -> bool {
    if r == 0.0 || r != p {
        return true;
    }
    // A float64 product: scale the smaller operand by 2^600 (exact, and
    // the scaled product is normal, so its rounding error is exact).
    let (small, big) = if x.abs() < s.abs() { (x, s) } else { (s, x) };
    let xs = small * SCALE;
    let ps = xs * big;
    xs.mul_add(big, -ps) != 0.0 || r * SCALE != ps
}

/// Whether the rounded quotient `r` of finite non-zero `x` by finite `s`
/// differs from the exact one (`q`: the quotient rounded to float64).
fn div_inexact(x: f64, s: f64, q: f64, r: f64) -> bool {
    if r == 0.0 || r != q {
        return true;
    }
    // Exact iff r * s == x: scaled by 2^600 (exact: x is small when the
    // quotient is tiny) so the residual is a normal number.
    let xs = x * SCALE;
    let rs = r * SCALE;
    rs.mul_add(s, -xs) != 0.0
}

/// The flags of rounding the float64 `x` to `T`: overflow when a finite
/// value becomes infinite; for an integer type, invalid for NaN, ±inf or a
/// value outside the type (which saturates).
pub(crate) fn cast<T: Real>(x: f64) -> u8 {
    match T::INT_RANGE {
        None => bit(x.is_finite() & T::from_f64(x).to_f64().is_infinite(), OVERFLOW),
        #[allow(clippy::cast_precision_loss)]
        Some((lo, hi)) => bit(!(x.trunc() >= lo as f64 && x.trunc() <= hi as f64), INVALID),
    }
}

/// The flags of rounding the float64 `x` to the float type `T` as NumPy's
/// scalar conversions raise them: [`cast`]'s overflow, and underflow for a
/// tiny result that lost bits (NumPy's float16 conversion).
pub(crate) fn cast_rounding<T: Real>(x: f64) -> u8 {
    let r = T::from_f64(x).to_f64();
    cast::<T>(x) | bit(x != 0.0 && x.is_finite() && tiny::<T>(x, r) && r != x, UNDERFLOW)
}

#[cfg(test)]
mod tests {
    use half::f16;

    use super::*;

    #[test]
    fn scale_is_two_to_the_600() {
        assert_eq!(SCALE, 2f64.powi(600));
    }

    #[test]
    fn invalid_divide_overflow_as_ieee() {
        let inf = f64::INFINITY;
        assert_eq!(add(inf, -inf, inf + -inf), INVALID);
        assert_eq!(add(f64::NAN, 1.0, f64::NAN), 0);
        assert_eq!(add(f64::MAX, f64::MAX, inf), OVERFLOW);
        assert_eq!(add(inf, 1.0, inf), 0);
        assert_eq!(mul::<f64>(inf, 0.0, f64::NAN, f64::NAN), INVALID);
        assert_eq!(mul::<f32>(1e30, 1e30, 1e60, f64::from(1e60f64 as f32)), OVERFLOW);
        assert_eq!(div::<f64>(1.0, 0.0, inf, inf), DIVIDE);
        assert_eq!(div::<f64>(-1.0, -0.0, inf, inf), DIVIDE);
        assert_eq!(div::<f64>(0.0, 0.0, f64::NAN, f64::NAN), INVALID);
        assert_eq!(div::<f64>(inf, 0.0, inf, inf), 0); // an exact infinity
        assert_eq!(div::<f64>(inf, inf, f64::NAN, f64::NAN), INVALID);
        assert_eq!(div::<f64>(1.0, inf, 0.0, 0.0), 0);
        assert_eq!(div::<f64>(1e300, 1e-300, inf, inf), OVERFLOW);
    }

    fn mul<T: Real>(x: f64, s: f64, p: f64, r: f64) -> u8 {
        settle::<T>(super::mul::<T>(x, s, p, r), x, s, false)
    }

    fn div<T: Real>(x: f64, s: f64, q: f64, r: f64) -> u8 {
        settle::<T>(super::div::<T>(x, s, q, r), x, s, true)
    }

    #[test]
    fn underflow_only_when_tiny_and_rounded() {
        let tiny64 = f64::MIN_POSITIVE;
        // exact tiny products and quotients do not underflow
        assert_eq!(mul::<f64>(tiny64, 0.5, tiny64 * 0.5, tiny64 * 0.5), 0);
        assert_eq!(div::<f64>(tiny64, 4.0, tiny64 / 4.0, tiny64 / 4.0), 0);
        // rounded ones do
        let (x, s) = (1e-300, 1e-20);
        assert_eq!(mul::<f64>(x, s, x * s, x * s), UNDERFLOW);
        assert_eq!(div::<f64>(x, 1e20, x / 1e20, x / 1e20), UNDERFLOW);
        assert_eq!(mul::<f64>(1e-300, 1e-300, 0.0, 0.0), UNDERFLOW);
        // float32: tiny in float32's range, judged on the rounded value
        let p = 1e-30 * 1e-10;
        assert_eq!(mul::<f32>(1e-30, 1e-10, p, f64::from(p as f32)), UNDERFLOW);
        let p = f64::from(f32::MIN_POSITIVE) * 0.5;
        assert_eq!(mul::<f32>(f64::from(f32::MIN_POSITIVE), 0.5, p, p), 0);
        // float16
        let x = f16::from_f64(1e-7).to_f64();
        let p = x * 0.01;
        assert_eq!(mul::<f16>(x, 0.01, p, f16::from_f64(p).to_f64()), UNDERFLOW);
    }

    #[test]
    fn casts() {
        assert_eq!(cast::<f32>(1e300), OVERFLOW);
        assert_eq!(cast::<f32>(f64::INFINITY), 0);
        assert_eq!(cast::<f16>(7e4), OVERFLOW);
        assert_eq!(cast::<f16>(6e4), 0);
        assert_eq!(cast::<u8>(255.9), 0);
        assert_eq!(cast::<u8>(256.0), INVALID);
        assert_eq!(cast::<u8>(-0.5), 0);
        assert_eq!(cast::<i64>(f64::NAN), INVALID);
    }

    #[test]
    fn messages_as_numpy() {
        let all: Vec<String> = events(DIVIDE | INVALID | OVERFLOW, "divide", 0).map(|e| e.to_string()).collect();
        assert_eq!(
            all,
            ["divide by zero encountered in divide", "overflow encountered in divide", "invalid value encountered in divide"]
        );
    }
}
