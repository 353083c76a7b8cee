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
}

macro_rules! real_int {
    ($($t:ty),*) => {$(
        impl Real for $t {
            const IS_FLOAT: bool = false;
            #[inline(always)]
            #[allow(clippy::cast_precision_loss, clippy::cast_lossless)]
            fn to_f64(self) -> f64 { self as f64 }
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
}

impl Real for f16 {
    const IS_FLOAT: bool = true;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Real for f32 {
    const IS_FLOAT: bool = true;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Real for f64 {
    const IS_FLOAT: bool = true;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
}
