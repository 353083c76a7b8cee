//! [`Real`]: the element types the compute engine reduces (every real
//! numeric dtype and bool), read as `f64`.

use half::f16;

use crate::element::Element;

/// An element type the engine can compute on: the integers, `bool`,
/// `f16`, `f32` and `f64`. Values are accumulated in `f64`.
pub trait Real: Element + PartialOrd {
    /// Whether the type can hold NaN.
    const IS_FLOAT: bool;
    /// The value as `f64` (exact for every type but `i64`/`u64` beyond 2^53).
    fn to_f64(self) -> f64;
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
}

macro_rules! real_int {
    ($($t:ty),*) => {$(
        impl Real for $t {
            const IS_FLOAT: bool = false;
            #[inline(always)]
            #[allow(clippy::cast_precision_loss, clippy::cast_lossless)]
            fn to_f64(self) -> f64 { self as f64 }
            #[inline(always)]
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            fn from_f64(x: f64) -> Self { x as $t }
            const INT_RANGE: Option<(i128, i128)> = Some((<$t>::MIN as i128, <$t>::MAX as i128));
            #[inline(always)]
            fn to_i128(self) -> i128 { self as i128 }
            #[inline(always)]
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            fn wrap_i128(x: i128) -> Self { x as $t }
        }
    )*};
}
real_int!(i8, i16, i32, i64, u8, u16, u32, u64);

impl Real for bool {
    const IS_FLOAT: bool = false;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(u8::from(self))
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
    };
}

impl Real for f16 {
    const IS_FLOAT: bool = true;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        f16::from_f64(x)
    }
    float_int_methods!();
}

impl Real for f32 {
    const IS_FLOAT: bool = true;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    #[inline(always)]
    #[allow(clippy::cast_possible_truncation)]
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    float_int_methods!();
}

impl Real for f64 {
    const IS_FLOAT: bool = true;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x
    }
    float_int_methods!();
}
