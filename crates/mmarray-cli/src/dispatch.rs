//! Calling a generic function with the Rust type of an array's dtype.

/// `$f::<T>(args…)` with `T` the Rust type of the real [`mmarray::ScalarKind`]
/// `$kind`; `$complex` for the complex kinds, which the engine does not take.
macro_rules! with_real_type {
    ($kind:expr, $f:ident($($arg:expr),*), complex => $complex:expr) => {
        match $kind {
            mmarray::ScalarKind::Bool => $f::<bool>($($arg),*),
            mmarray::ScalarKind::I8 => $f::<i8>($($arg),*),
            mmarray::ScalarKind::I16 => $f::<i16>($($arg),*),
            mmarray::ScalarKind::I32 => $f::<i32>($($arg),*),
            mmarray::ScalarKind::I64 => $f::<i64>($($arg),*),
            mmarray::ScalarKind::U8 => $f::<u8>($($arg),*),
            mmarray::ScalarKind::U16 => $f::<u16>($($arg),*),
            mmarray::ScalarKind::U32 => $f::<u32>($($arg),*),
            mmarray::ScalarKind::U64 => $f::<u64>($($arg),*),
            mmarray::ScalarKind::F16 => $f::<mmarray::f16>($($arg),*),
            mmarray::ScalarKind::F32 => $f::<f32>($($arg),*),
            mmarray::ScalarKind::F64 => $f::<f64>($($arg),*),
            mmarray::ScalarKind::C64 | mmarray::ScalarKind::C128 => $complex,
        }
    };
}

pub(crate) use with_real_type;
