//! The Rust types that stand for each [`ScalarKind`], so typed views and
//! element access can be checked against the array's dtype.

use half::f16;
use num_complex::{Complex32, Complex64};

use crate::dtype::ScalarKind;

mod sealed {
    pub trait Sealed {}
}

/// A Rust scalar type that can be viewed in a mapped array.
///
/// Implemented for `bool`, the fixed-size integers, [`half::f16`], `f32`,
/// `f64`, [`num_complex::Complex32`] and [`num_complex::Complex64`]. Sealed:
/// the crate relies on each type's layout matching NumPy's.
///
/// # Safety
/// Implementors are plain old data of exactly `KIND.itemsize()` bytes with
/// alignment at most `KIND.alignment()`; every bit pattern is valid except
/// where [`Element::valid_bytes`] says otherwise.
pub unsafe trait Element: sealed::Sealed + Copy + Send + Sync + PartialEq + std::fmt::Debug + 'static {
    /// The dtype kind this Rust type represents.
    const KIND: ScalarKind;

    /// The value with its bytes in the opposite order (for non-native files).
    #[must_use]
    fn swap_bytes(self) -> Self;

    /// Whether `bytes` (a whole array of this type) holds only valid values.
    /// Only `bool` restricts its bit patterns (to 0 and 1).
    fn valid_bytes(_bytes: &[u8]) -> bool {
        true
    }
}

macro_rules! int_element {
    ($($t:ty => $kind:ident),* $(,)?) => {$(
        impl sealed::Sealed for $t {}
        // SAFETY: primitive integers are plain old data of their size; every
        // bit pattern is valid.
        unsafe impl Element for $t {
            const KIND: ScalarKind = ScalarKind::$kind;
            fn swap_bytes(self) -> Self {
                <$t>::swap_bytes(self)
            }
        }
    )*};
}
int_element!(i8 => I8, i16 => I16, i32 => I32, i64 => I64, u8 => U8, u16 => U16, u32 => U32, u64 => U64);

macro_rules! float_element {
    ($($t:ty => $kind:ident, $bits:ty),* $(,)?) => {$(
        impl sealed::Sealed for $t {}
        // SAFETY: IEEE floats are plain old data of their size; every bit
        // pattern is a valid value (possibly NaN).
        unsafe impl Element for $t {
            const KIND: ScalarKind = ScalarKind::$kind;
            fn swap_bytes(self) -> Self {
                <$t>::from_bits(self.to_bits().swap_bytes())
            }
        }
    )*};
}
float_element!(f16 => F16, u16, f32 => F32, u32, f64 => F64, u64);

macro_rules! complex_element {
    ($($t:ty => $kind:ident),* $(,)?) => {$(
        impl sealed::Sealed for $t {}
        // SAFETY: `num_complex::Complex<T>` is `#[repr(C)]` with `re` then
        // `im`, the same layout as NumPy's complex types.
        unsafe impl Element for $t {
            const KIND: ScalarKind = ScalarKind::$kind;
            fn swap_bytes(self) -> Self {
                <$t>::new(Element::swap_bytes(self.re), Element::swap_bytes(self.im))
            }
        }
    )*};
}
complex_element!(Complex32 => C64, Complex64 => C128);

impl sealed::Sealed for bool {}
// SAFETY: `bool` is one byte; only 0 and 1 are valid, which `valid_bytes`
// checks before any typed view of bool data is handed out.
unsafe impl Element for bool {
    const KIND: ScalarKind = ScalarKind::Bool;
    fn swap_bytes(self) -> Self {
        self
    }
    fn valid_bytes(bytes: &[u8]) -> bool {
        invalid_bool(bytes).is_none()
    }
}

/// The first byte of bool data (its bytes, one per element in memory
/// order) that is neither 0 nor 1, as `(element, byte)`: NumPy reads any
/// non-zero byte as true, but in Rust such a `bool` is undefined behaviour,
/// so bool data is checked before it is viewed as `bool`.
///
/// ```
/// assert_eq!(mmarray::invalid_bool(&[0, 1, 1, 0]), None);
/// assert_eq!(mmarray::invalid_bool(&[1, 0, 2, 255]), Some((2, 2)));
/// ```
#[must_use]
pub fn invalid_bool(bytes: &[u8]) -> Option<(usize, u8)> {
    // (an OR over each chunk vectorizes; searching byte by byte does not)
    const CHUNK: usize = 4096;
    let chunk = bytes.chunks(CHUNK).position(|c| c.iter().fold(0, |m, &b| m | b) > 1)?;
    let at = bytes[chunk * CHUNK..].iter().position(|&b| b > 1)?;
    Some((chunk * CHUNK + at, bytes[chunk * CHUNK + at]))
}

/// [`invalid_bool`] for any view of bool data's bytes (strided too), the
/// element counted in logical order. Checks a strided view with a fold (a
/// search one byte at a time took 20 ns per element).
///
/// ```
/// let bytes = ndarray::array![[1u8, 0, 3], [0, 2, 1]];
/// assert_eq!(mmarray::invalid_bool_in(&bytes.view()), Some((2, 3)));
/// assert_eq!(mmarray::invalid_bool_in(&bytes.t()), Some((3, 2)));
/// assert_eq!(mmarray::invalid_bool_in(&bytes.slice(ndarray::s![.., ..2])), Some((3, 2)));
/// assert_eq!(mmarray::invalid_bool_in(&bytes.slice(ndarray::s![.., 1])), Some((1, 2)));
/// assert_eq!(mmarray::invalid_bool_in(&bytes.slice(ndarray::s![..1, ..2])), None);
/// ```
#[must_use]
pub fn invalid_bool_in<D: ndarray::Dimension>(bytes: &ndarray::ArrayView<'_, u8, D>) -> Option<(usize, u8)> {
    let valid = match bytes.as_slice() {
        Some(all) => return invalid_bool(all),
        None => bytes.fold(0u8, |m, &b| m | b) <= 1,
    };
    if valid {
        return None;
    }
    bytes.iter().enumerate().find(|&(_, &b)| b > 1).map(|(i, &b)| (i, b))
}

/// The error message for bool data holding `byte` at element `at`
/// ([`invalid_bool`]).
#[must_use]
pub fn invalid_bool_message(at: usize, byte: u8) -> String {
    format!("bool data holds the byte {byte} at element {at}, not 0 or 1")
}

/// Reads the element at `bytes[..size_of::<T>()]` (any alignment), swapping
/// its bytes when `swap` is set.
pub(crate) fn read_element<T: Element>(bytes: &[u8], swap: bool) -> T {
    assert!(bytes.len() >= std::mem::size_of::<T>());
    if T::KIND == ScalarKind::Bool {
        // Any non-zero byte is true, as NumPy reads it; never build an
        // invalid bool.
        let b = bytes[0] != 0;
        // SAFETY: T is bool here (KIND is unique per implementor), and both
        // have the same size; transmute_copy reads size_of::<T>() bytes.
        return unsafe { std::mem::transmute_copy::<bool, T>(&b) };
    }
    // SAFETY: the assert above guarantees size_of::<T>() readable bytes;
    // read_unaligned has no alignment requirement; T is plain old data for
    // which every bit pattern is valid (bool is handled above).
    let v = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) };
    if swap { v.swap_bytes() } else { v }
}

/// Writes `value` into `bytes[..size_of::<T>()]` (any alignment), swapping its
/// bytes when `swap` is set.
pub(crate) fn write_element<T: Element>(bytes: &mut [u8], value: T, swap: bool) {
    assert!(bytes.len() >= std::mem::size_of::<T>());
    let v = if swap { value.swap_bytes() } else { value };
    // SAFETY: the assert above guarantees size_of::<T>() writable bytes;
    // write_unaligned has no alignment requirement.
    unsafe { std::ptr::write_unaligned(bytes.as_mut_ptr().cast::<T>(), v) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_numpy() {
        fn check<T: Element>() {
            assert_eq!(std::mem::size_of::<T>(), T::KIND.itemsize(), "{:?}", T::KIND);
            assert!(std::mem::align_of::<T>() <= T::KIND.alignment(), "{:?}", T::KIND);
        }
        check::<bool>();
        check::<i8>();
        check::<u64>();
        check::<f16>();
        check::<f64>();
        check::<Complex32>();
        check::<Complex64>();
    }

    #[test]
    fn unaligned_swapped_reads_and_writes() {
        let mut buf = [0u8; 9];
        write_element(&mut buf[1..], 1.5f64, true);
        assert_eq!(&buf[1..], &1.5f64.to_be_bytes());
        assert_eq!(read_element::<f64>(&buf[1..], true), 1.5);
        let c = Complex32::new(1.0, -2.0);
        write_element(&mut buf[1..], c, false);
        assert_eq!(read_element::<Complex32>(&buf[1..], false), c);
        assert!(read_element::<bool>(&[7], false));
        assert!(!bool::valid_bytes(&[0, 1, 2]));
    }
}
