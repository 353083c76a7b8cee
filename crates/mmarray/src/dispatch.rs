//! Calling generic code with the Rust type of a runtime [`ScalarKind`]: the
//! one dtype-dispatch table of the project (the CLI and the Python bindings
//! use it too), so a new element type is added in one place.
//!
//! [`ScalarKind`]: crate::ScalarKind

/// Evaluates `$body` with the type alias `$T` naming the Rust element type
/// of the [`ScalarKind`](crate::ScalarKind) `$kind`.
///
/// With `complex => expr`, the real kinds run `$body` and both complex kinds
/// evaluate `expr` instead (for code bound by
/// [`Real`](crate::compute::Real)); without it, every kind runs `$body`
/// (complex ones with [`Complex32`](crate::Complex32) and
/// [`Complex64`](crate::Complex64)).
///
/// ```
/// use mmarray::{with_scalar_type, ScalarKind};
/// fn size_of(kind: ScalarKind) -> usize {
///     with_scalar_type!(kind, |T| std::mem::size_of::<T>())
/// }
/// assert_eq!(size_of(ScalarKind::C128), 16);
/// let real = |kind| with_scalar_type!(kind, |T| Some(std::mem::size_of::<T>()), complex => None);
/// assert_eq!((real(ScalarKind::F16), real(ScalarKind::C64)), (Some(2), None));
/// ```
#[macro_export]
macro_rules! with_scalar_type {
    ($kind:expr, |$T:ident| $body:expr, complex => $complex:expr) => {
        $crate::with_scalar_type!(@real $kind, $T, $body, {
            $crate::ScalarKind::C64 | $crate::ScalarKind::C128 => $complex,
        })
    };
    ($kind:expr, |$T:ident| $body:expr) => {
        $crate::with_scalar_type!(@real $kind, $T, $body, {
            $crate::ScalarKind::C64 => { #[allow(dead_code)] type $T = $crate::Complex32; $body }
            $crate::ScalarKind::C128 => { #[allow(dead_code)] type $T = $crate::Complex64; $body }
        })
    };
    (@real $kind:expr, $T:ident, $body:expr, { $($rest:tt)* }) => {
        match $kind {
            $crate::ScalarKind::Bool => { #[allow(dead_code)] type $T = bool; $body }
            $crate::ScalarKind::I8 => { #[allow(dead_code)] type $T = i8; $body }
            $crate::ScalarKind::I16 => { #[allow(dead_code)] type $T = i16; $body }
            $crate::ScalarKind::I32 => { #[allow(dead_code)] type $T = i32; $body }
            $crate::ScalarKind::I64 => { #[allow(dead_code)] type $T = i64; $body }
            $crate::ScalarKind::U8 => { #[allow(dead_code)] type $T = u8; $body }
            $crate::ScalarKind::U16 => { #[allow(dead_code)] type $T = u16; $body }
            $crate::ScalarKind::U32 => { #[allow(dead_code)] type $T = u32; $body }
            $crate::ScalarKind::U64 => { #[allow(dead_code)] type $T = u64; $body }
            $crate::ScalarKind::F16 => { #[allow(dead_code)] type $T = $crate::f16; $body }
            $crate::ScalarKind::F32 => { #[allow(dead_code)] type $T = f32; $body }
            $crate::ScalarKind::F64 => { #[allow(dead_code)] type $T = f64; $body }
            $($rest)*
        }
    };
}
