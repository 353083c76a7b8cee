//! [`Real`]: the element types the compute engine reduces (every real
//! numeric dtype and bool), read as `f64`.

use half::f16;

use crate::element::Element;

/// An element type the engine can compute on: the integers, `bool`,
/// `f16`, `f32` and `f64`. Values are accumulated in `f64`.
pub trait Real: Element + PartialOrd {
    /// Whether the type can hold NaN.
    const IS_FLOAT: bool;
    /// The smallest positive normal number of the type float steps on it
    /// are computed in (its own for floats, `f64` for integers): results
    /// below it are tiny (floating-point underflow).
    const MIN_NORMAL: f64;
    /// Whether a tiny result is judged before rounding to the type (NumPy's
    /// float16 conversion) rather than after (x86, for the other types).
    const TINY_BEFORE_ROUNDING: bool = false;
    /// For float types, the value's bits with the sign cleared, so NaN,
    /// infinities and tiny values are found with integer comparisons
    /// (vectorized) against [`INF_BITS`](Self::INF_BITS) and
    /// [`MIN_NORMAL_BITS`](Self::MIN_NORMAL_BITS); 0 for integer types.
    #[inline(always)]
    fn abs_bits(self) -> u64 {
        0
    }
    /// For float types, whether the value is NaN, infinite, zero or tiny
    /// (at most the smallest normal number in magnitude); `false` for
    /// integer types.
    #[inline(always)]
    fn is_abnormal(self) -> bool {
        false
    }
    /// The bits of positive infinity (floats; 0 for integer types).
    const INF_BITS: u64 = 0;
    /// The bits of the smallest positive normal number (floats).
    const MIN_NORMAL_BITS: u64 = 0;
    /// The value as `f64` (exact for every type but `i64`/`u64` beyond 2^53).
    fn to_f64(self) -> f64;
    /// The type the kernels' min/max loops compare values in: the type
    /// itself, except `f16`, compared as `f32`.
    type Cmp: Real;
    /// The value as [`Cmp`](Self::Cmp), exactly. (`half`'s comparisons of
    /// `f16` test for NaN and sign with branches, which keep a loop from
    /// vectorizing: float16 `min` ran 2.6 times slower than float32's.)
    fn to_cmp(self) -> Self::Cmp;
    /// `x` converted as NumPy's `astype` does for in-range values: rounded
    /// to nearest for floats, truncated toward zero for integers (out of
    /// range values saturate, and NaN becomes 0, where NumPy's result is
    /// platform-dependent).
    fn from_f64(x: f64) -> Self;
    /// The smallest and largest value, for integer types (NumPy 2 refuses a
    /// Python integer scalar outside them); `None` for floats.
    const INT_RANGE: Option<(i128, i128)>;
    /// The value as an integer (integer types; floats truncate).
    fn to_i128(self) -> i128;
    /// `x` wrapped into the type, as NumPy's integer arithmetic wraps.
    fn wrap_i128(x: i128) -> Self;
    /// A `u64` whose order is the value's numeric order (exact for every
    /// type, `i64`/`u64` extremes included; for floats `-0.0` sorts just
    /// before `+0.0`). Meaningless for NaN, which callers skip.
    fn order_key(self) -> u64;
    /// The value whose [`order_key`](Self::order_key) is `k`.
    fn from_order_key(k: u64) -> Self;
    /// An order key in the type's own width where that is narrower than
    /// [`order_key`](Self::order_key)'s `f64` one (float16 in 16 bits,
    /// float32 in 32), else `order_key`: the same order, with the leading
    /// bits of the key spent on the type's own mantissa, and for float16
    /// one 16-bit counter per possible value. A quantile's first pass
    /// counts by it.
    #[inline(always)]
    fn narrow_key(self) -> u64 {
        self.order_key()
    }
    /// The [`order_key`](Self::order_key) of the value whose
    /// [`narrow_key`](Self::narrow_key) is `k`.
    #[inline(always)]
    fn order_key_of_narrow(k: u64) -> u64 {
        k
    }
}

/// The order key of a non-NaN `f64`: its bits, with the sign bit flipped
/// for positive numbers and all bits flipped for negative ones.
#[inline]
pub(crate) fn f64_key(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 { !b } else { b | (1 << 63) }
}

/// The `f64` of an [`f64_key`].
#[inline]
pub(crate) fn f64_unkey(k: u64) -> f64 {
    f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k })
}

/// [`f64_key`] for an `f32`, in its own 32 bits.
#[inline]
fn f32_key(x: f32) -> u32 {
    let b = x.to_bits();
    if b >> 31 == 1 { !b } else { b | (1 << 31) }
}

/// The `f32` of an [`f32_key`].
#[inline]
fn f32_unkey(k: u32) -> f32 {
    f32::from_bits(if k >> 31 == 1 { k & !(1 << 31) } else { !k })
}

/// [`f64_key`] for an `f16`, in its own 16 bits.
#[inline(always)]
fn f16_key(x: f16) -> u16 {
    let b = x.to_bits();
    if b >> 15 == 1 { !b } else { b | (1 << 15) }
}

/// The `f16` of an [`f16_key`].
#[inline]
fn f16_unkey(k: u16) -> f16 {
    f16::from_bits(if k >> 15 == 1 { k & !(1 << 15) } else { !k })
}

/// An `f16` as `f32`, from its bits without a branch, so that loops over
/// `f16` data vectorize: `half`'s conversion checks the CPU for F16C at
/// every call and calls a function the compiler cannot inline into a loop,
/// which made float16 sums 16 times slower per value than float32's.
/// (F. Giesen's `half_to_float`, with `select`s in place of its branches.)
/// Gives the same bits as `half`'s conversion for every `f16`, NaN
/// payloads included (a signalling NaN comes out quiet, as with F16C).
#[inline(always)]
pub(crate) fn f16_to_f32(x: f16) -> f32 {
    const SHIFTED_EXP: u32 = 0x7c00 << 13;
    let h = u32::from(x.to_bits());
    let bits = (h & 0x7fff) << 13; // exponent and mantissa, in f32's place
    let exp = bits & SHIFTED_EXP;
    let normal = bits + ((127 - 15) << 23); // rebiased
    // infinities and NaN keep an all-ones exponent; NaN comes out quiet
    let quiet = if bits & !SHIFTED_EXP != 0 { 1 << 22 } else { 0 };
    let special = (normal + ((128 - 16) << 23)) | quiet;
    // zeros and subnormals: as the normal 2^-14 * (1 + m/1024), less
    // 2^-14 (an exact subtraction, between normal numbers)
    let tiny = (f32::from_bits(normal + (1 << 23)) - f32::from_bits(113 << 23)).to_bits();
    let magnitude = if exp == SHIFTED_EXP {
        special
    } else if exp == 0 {
        tiny
    } else {
        normal
    };
    f32::from_bits(magnitude | ((h & 0x8000) << 16))
}

/// The `f16` nearest an `f32` (ties to even; beyond the largest `f16`,
/// infinity), from the bits without a branch, so loops that compute in
/// float16 as NumPy does (each result rounded to it) vectorize; `half`'s
/// conversion is a call per value. (F. Giesen's `float_to_half_fast3_rtne`,
/// with `select`s.) A NaN keeps its sign and the top of its payload, as
/// in NumPy's `float32` to `float16` conversion.
#[inline(always)]
pub(crate) fn f32_to_f16(x: f32) -> f16 {
    const INF: u32 = 255 << 23;
    // 2^16: from here on the f16 is infinite (or NaN)
    const F16_LIMIT: u32 = (127 + 16) << 23;
    // 2^-14, the smallest normal f16: below it the f16 is subnormal
    const F16_NORMAL: u32 = 113 << 23;
    // 0.5: adding it lines the f16 subnormal's bits up at the bottom of
    // the f32's mantissa, rounded to nearest even by the addition itself
    const SUBNORMAL_MAGIC: u32 = ((127 - 15) + (23 - 10) + 1) << 23;
    let bits = x.to_bits();
    let sign = bits & 0x8000_0000;
    let a = bits ^ sign; // |x|
    // infinity; a NaN keeps its sign and the top ten bits of its payload,
    // its quiet bit with them, as NumPy's conversion (which makes a
    // payload of zero 1, to stay a NaN)
    let payload = (a & 0x007f_ffff) >> 13;
    let special = if a > INF { 0x7c00 | if payload == 0 { 1 } else { payload } } else { 0x7c00 };
    let subnormal = (f32::from_bits(a) + f32::from_bits(SUBNORMAL_MAGIC)).to_bits().wrapping_sub(SUBNORMAL_MAGIC);
    // normal: rebias the exponent and round to nearest even on the 13
    // mantissa bits dropped (a carry into the exponent is right, up to
    // infinity)
    let odd = (a >> 13) & 1;
    let normal = a.wrapping_add(((15 - 127) << 23) as u32).wrapping_add(0xfff + odd) >> 13;
    let magnitude = if a >= F16_LIMIT {
        special
    } else if a < F16_NORMAL {
        subnormal
    } else {
        normal
    };
    #[allow(clippy::cast_possible_truncation)] // at most 0xffff
    f16::from_bits((magnitude | (sign >> 16)) as u16)
}

/// The `f16` nearest an `f64` (ties to even), without a branch on the
/// data. Through `f32` rounded to odd (the `f32` bracketing `x` whose last
/// bit is 1, when `x` is not an `f32`): that keeps a tie of the second
/// rounding from being made by the first. (`half`'s conversion goes
/// through `f32` rounded to nearest where the CPU has F16C, which rounds
/// 5.91992182... to 5.92 where NumPy's `astype(float16)` gives 5.918.)
#[inline(always)]
pub(crate) fn f64_to_f16(x: f64) -> f16 {
    #[allow(clippy::cast_possible_truncation)]
    let r = x as f32;
    let inexact_even = f64::from(r) != x && r.to_bits() & 1 == 0 && r.is_finite();
    // the other neighbour, toward x: one step up or down in magnitude
    let toward = if f64::from(r).abs() < x.abs() { r.to_bits().wrapping_add(1) } else { r.to_bits().wrapping_sub(1) };
    f32_to_f16(if inexact_even { f32::from_bits(toward) } else { r })
}

macro_rules! real_int {
    ($($t:ty => $key:expr, $unkey:expr);*) => {$(
        impl Real for $t {
            const IS_FLOAT: bool = false;
            const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
            #[inline(always)]
            #[allow(clippy::cast_precision_loss, clippy::cast_lossless)]
            fn to_f64(self) -> f64 { self as f64 }
            type Cmp = Self;
            #[inline(always)]
            fn to_cmp(self) -> Self { self }
            #[inline(always)]
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            fn from_f64(x: f64) -> Self { x as $t }
            const INT_RANGE: Option<(i128, i128)> = Some((<$t>::MIN as i128, <$t>::MAX as i128));
            #[inline(always)]
            fn to_i128(self) -> i128 { self as i128 }
            #[inline(always)]
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            fn wrap_i128(x: i128) -> Self { x as $t }
            #[inline(always)]
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_possible_wrap, clippy::cast_lossless)]
            fn order_key(self) -> u64 { $key(self) }
            #[inline(always)]
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_possible_wrap, clippy::cast_lossless)]
            fn from_order_key(k: u64) -> Self { $unkey(k) }
        }
    )*};
}
// Signed integers: the two's-complement bits with the sign bit flipped.
real_int!(
    i8 => |x: i8| (x as i64 as u64) ^ (1 << 63), |k: u64| (k ^ (1 << 63)) as i64 as i8;
    i16 => |x: i16| (x as i64 as u64) ^ (1 << 63), |k: u64| (k ^ (1 << 63)) as i64 as i16;
    i32 => |x: i32| (x as i64 as u64) ^ (1 << 63), |k: u64| (k ^ (1 << 63)) as i64 as i32;
    i64 => |x: i64| (x as u64) ^ (1 << 63), |k: u64| (k ^ (1 << 63)) as i64;
    u8 => |x: u8| x as u64, |k: u64| k as u8;
    u16 => |x: u16| x as u64, |k: u64| k as u16;
    u32 => |x: u32| x as u64, |k: u64| k as u32;
    u64 => |x: u64| x, |k: u64| k
);

impl Real for bool {
    const IS_FLOAT: bool = false;
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(u8::from(self))
    }
    type Cmp = Self;
    #[inline(always)]
    fn to_cmp(self) -> Self {
        self
    }
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x != 0.0
    }
    const INT_RANGE: Option<(i128, i128)> = Some((0, 1));
    fn to_i128(self) -> i128 {
        i128::from(self)
    }
    fn wrap_i128(x: i128) -> Self {
        x != 0
    }
    fn order_key(self) -> u64 {
        u64::from(self)
    }
    fn from_order_key(k: u64) -> Self {
        k != 0
    }
}

/// The integer methods of [`Real`] for float types (not used by the engine
/// for them; truncating and converting like `as`).
macro_rules! float_int_methods {
    () => {
        const INT_RANGE: Option<(i128, i128)> = None;
        #[allow(clippy::cast_possible_truncation)]
        fn to_i128(self) -> i128 {
            self.to_f64() as i128
        }
        #[allow(clippy::cast_precision_loss)]
        fn wrap_i128(x: i128) -> Self {
            Self::from_f64(x as f64)
        }
        #[inline(always)]
        fn order_key(self) -> u64 {
            f64_key(self.to_f64())
        }
        #[inline(always)]
        fn from_order_key(k: u64) -> Self {
            // exact: every f16/f32 is an f64
            Self::from_f64(f64_unkey(k))
        }
    };
}

impl Real for f16 {
    const IS_FLOAT: bool = true;
    #[inline(always)]
    fn abs_bits(self) -> u64 {
        u64::from(self.to_bits() & 0x7fff)
    }
    const INF_BITS: u64 = 0x7c00;
    #[inline(always)]
    fn is_abnormal(self) -> bool {
        let b = self.to_bits() & 0x7fff;
        !(b > 0x0400 && b < 0x7c00)
    }
    const MIN_NORMAL_BITS: u64 = 0x0400;
    const MIN_NORMAL: f64 = 6.103_515_625e-5; // 2^-14
    const TINY_BEFORE_ROUNDING: bool = true;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(f16_to_f32(self))
    }
    type Cmp = f32;
    #[inline(always)]
    fn to_cmp(self) -> f32 {
        f16_to_f32(self)
    }
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        f64_to_f16(x)
    }
    float_int_methods!();
    // (from the bits: `half`'s conversion to f64 is a call per value, which
    // made float16 quantiles 4 times slower per value than float32's)
    #[inline(always)]
    fn narrow_key(self) -> u64 {
        u64::from(f16_key(self))
    }
    #[allow(clippy::cast_possible_truncation)]
    fn order_key_of_narrow(k: u64) -> u64 {
        f16_unkey(k as u16).order_key()
    }
}

impl Real for f32 {
    const IS_FLOAT: bool = true;
    #[inline(always)]
    fn abs_bits(self) -> u64 {
        u64::from(self.to_bits() & 0x7fff_ffff)
    }
    const INF_BITS: u64 = 0x7f80_0000;
    #[inline(always)]
    fn is_abnormal(self) -> bool {
        let a = self.abs();
        !(a > f32::MIN_POSITIVE && a < f32::INFINITY)
    }
    const MIN_NORMAL_BITS: u64 = 0x0080_0000;
    const MIN_NORMAL: f64 = f32::MIN_POSITIVE as f64;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    type Cmp = Self;
    #[inline(always)]
    fn to_cmp(self) -> Self {
        self
    }
    #[inline(always)]
    #[allow(clippy::cast_possible_truncation)]
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    float_int_methods!();
    #[inline(always)]
    fn narrow_key(self) -> u64 {
        u64::from(f32_key(self))
    }
    #[allow(clippy::cast_possible_truncation)]
    fn order_key_of_narrow(k: u64) -> u64 {
        f32_unkey(k as u32).order_key()
    }
}

impl Real for f64 {
    const IS_FLOAT: bool = true;
    #[inline(always)]
    fn abs_bits(self) -> u64 {
        self.to_bits() & 0x7fff_ffff_ffff_ffff
    }
    const INF_BITS: u64 = 0x7ff0_0000_0000_0000;
    #[inline(always)]
    fn is_abnormal(self) -> bool {
        let a = self.abs();
        !(a > f64::MIN_POSITIVE && a < f64::INFINITY)
    }
    const MIN_NORMAL_BITS: u64 = 0x0010_0000_0000_0000;
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    type Cmp = Self;
    #[inline(always)]
    fn to_cmp(self) -> Self {
        self
    }
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x
    }
    float_int_methods!();
}

#[cfg(test)]
mod tests {
    use half::f16;

    use super::{f16_to_f32, f32_to_f16, f64_to_f16};

    /// The bit conversion gives `half`'s (F16C's) bits for all 65,536
    /// `f16`s: signed zeros, subnormals, infinities, quiet and signalling
    /// NaNs of every payload.
    #[test]
    fn float16_to_float32_matches_half_for_every_value() {
        for b in 0..=u16::MAX {
            let x = f16::from_bits(b);
            assert_eq!(f16_to_f32(x).to_bits(), f32::from(x).to_bits(), "f16 bits {b:#06x}");
        }
    }

    /// The rounding gives `half`'s (F16C's) `f16` for every `f32` around
    /// each `f16`: the `f16` itself, the midpoints to its neighbours (ties
    /// to even) and the `f32`s just either side of them, both signs, and
    /// every 4,099th `f32` besides (subnormals, overflow to infinity,
    /// NaNs).
    #[test]
    fn float32_to_float16_rounds_as_half() {
        let check = |x: f32| {
            let (ours, theirs) = (f32_to_f16(x), f16::from_f32(x));
            if theirs.is_nan() {
                assert!(ours.is_nan() && ours.is_sign_negative() == x.is_sign_negative(), "{x:e} ({:#010x})", x.to_bits());
            } else {
                assert_eq!(ours.to_bits(), theirs.to_bits(), "{x:e} ({:#010x})", x.to_bits());
            }
        };
        for b in 0..0x7c00u16 {
            let here = f16_to_f32(f16::from_bits(b));
            let next = f16_to_f32(f16::from_bits(b + 1));
            let mid = f32::midpoint(here, next);
            for x in [here, mid, f32::from_bits(mid.to_bits() - 1), f32::from_bits(mid.to_bits() + 1)] {
                check(x);
                check(-x);
            }
        }
        for b in (0..=u32::MAX).step_by(4099) {
            check(f32::from_bits(b));
        }
        for x in [f32::INFINITY, f32::NAN, 65504.0, 65519.99, 65520.0, 1e-8, 2.9e-8, 3e-8, f32::MAX, f32::MIN_POSITIVE] {
            check(x);
            check(-x);
        }
        // NaNs keep sign and payload as NumPy's astype(float16) has them
        // (a signalling NaN stays one, where F16C quiets it)
        for (x, want) in [(0x7fc0_0000, 0x7e00), (0xffc0_2000, 0xfe01), (0x7f80_0001, 0x7c01), (0x7fff_ffff, 0x7fff), (0xff80_0fff, 0xfc01)] {
            assert_eq!(f32_to_f16(f32::from_bits(x)).to_bits(), want, "{x:#010x}");
        }
    }

    /// The `f64` rounding gives the nearest `f16` (ties to even) around
    /// every `f16` midpoint, where rounding through `f32` to nearest (as
    /// `half` does with F16C) goes wrong: at the midpoint, and a hair
    /// (2^-40 relative, lost in `f32`) either side; and at the `f16`s
    /// themselves, both signs. The reference picks the nearer neighbour.
    #[test]
    fn float64_to_float16_rounds_once() {
        let value = |b: u16| f64::from(f16_to_f32(f16::from_bits(b)));
        for b in 0..0x7c00u16 {
            let (here, next) = (value(b), if b == 0x7bff { 65536.0 } else { value(b + 1) });
            let mid = (here + next) / 2.0;
            for (x, want) in [
                (here, b),
                (mid, if b % 2 == 0 { b } else { b + 1 }),
                (mid * (1.0 - 2f64.powi(-40)), b),
                (mid * (1.0 + 2f64.powi(-40)), b + 1),
            ] {
                for sign in [1.0, -1.0] {
                    let got = f64_to_f16(sign * x);
                    let want = if sign < 0.0 { want | 0x8000 } else { want };
                    assert_eq!(got.to_bits(), want, "{x:e}: {got} ({:#06x})", got.to_bits());
                }
            }
        }
        assert!(f64_to_f16(f64::NAN).is_nan());
        assert_eq!(f64_to_f16(1e300), f16::INFINITY);
        assert_eq!(f64_to_f16(-1e-300).to_bits(), 0x8000);
        assert_eq!(f64_to_f16(5.919_921_820_496_699).to_f64(), 5.917_968_75); // NumPy's astype(float16)
    }
}
