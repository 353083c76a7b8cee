//! Property tests: for random shapes, orders, offsets and dtypes, what is
//! written reads back identical after reopening, raw and `.npy` alike.

use crate::common;

use common::{open_npy, Formula, NpyPrivate, RawPrivate, KINDS};
use mmarray::{ByteOrder, DType, Mode, NpyOptions, Order, RawOptions};
use proptest::prelude::*;

fn roundtrip<T: Formula>(dtype: DType, shape: &[usize], order: Order, offset: u64, npy: bool, shift: usize) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join(if npy { "p.npy" } else { "p.raw" });
    let raw = RawOptions::new(dtype).shape(shape).order(order).offset(offset);
    let mut a = if npy {
        NpyOptions::new(dtype, shape).order(order).create_private(&path)
    } else {
        raw.clone().mode(Mode::Write).open_private(&path)
    }
    .map_err(|e| e.to_string())?;
    a.fill_with(|i| T::formula(i + shift)).map_err(|e| e.to_string())?;
    a.close().map_err(|e| e.to_string())?;
    for mode in [Mode::ReadOnly, Mode::ReadWrite, Mode::CopyOnWrite] {
        let b = if npy { open_npy(&path, mode) } else { raw.clone().mode(mode).open_private(&path) }
            .map_err(|e| e.to_string())?;
        if b.shape() != shape || b.order() != order || b.dtype() != dtype {
            return Err(format!("metadata changed: {b:?}"));
        }
        let owned = b.to_array::<T>().map_err(|e| e.to_string())?;
        for (i, v) in owned.iter().enumerate() {
            if v.ne_bytes() != T::formula(i + shift).ne_bytes() {
                return Err(format!("element {i}: {v:?}"));
            }
        }
        // the zero-copy view against the formula, and the file's bytes read
        // without mmarray (to_array is built from the same view)
        if let Ok(view) = b.view::<T>() {
            for (i, v) in view.iter().enumerate() {
                if v.ne_bytes() != T::formula(i + shift).ne_bytes() {
                    return Err(format!("view element {i}: {v:?}"));
                }
            }
        }
        common::check_file_bytes::<T>(&b, shift)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]
    #[test]
    fn written_arrays_reopen_identically(
        kind in 0..KINDS.len(),
        big_endian in any::<bool>(),
        shape in prop::collection::vec(0usize..6, 0..4),
        fortran in any::<bool>(),
        offset in 0u64..100,
        npy in any::<bool>(),
        shift in 0usize..1000,
    ) {
        let bo = if big_endian { ByteOrder::Big } else { ByteOrder::Little };
        let dtype = DType::with_byte_order(KINDS[kind], bo);
        let order = if fortran { Order::F } else { Order::C };
        let r = mmarray::with_scalar_type!(dtype.kind(), |T| roundtrip::<T>(dtype, &shape, order, offset, npy, shift));
        prop_assert!(r.is_ok(), "{} {:?} {} offset {} npy {}: {:?}", dtype, shape, order, offset, npy, r);
    }
}

fn valid_header() -> Vec<u8> {
    let h = mmarray::npy::NpyHeader { dtype: DType::parse("<f8").unwrap(), fortran_order: true, shape: vec![3, 4] };
    h.encode(None).unwrap().0
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    /// Header parsing never panics: on random bytes, or on a valid header
    /// with random bytes overwritten or cut short.
    #[test]
    fn header_parsing_never_panics(
        noise in prop::collection::vec(any::<u8>(), 0..200),
        at in 0usize..128,
        cut in 0usize..129,
    ) {
        let _ = mmarray::npy::NpyHeader::decode(&noise);
        let mut h = valid_header();
        for (i, b) in noise.iter().enumerate() {
            if let Some(slot) = h.get_mut(at + i) {
                *slot = *b;
            }
        }
        let _ = mmarray::npy::NpyHeader::decode(&h);
        let _ = mmarray::npy::NpyHeader::decode(&valid_header()[..cut]);
    }

    /// Text mutations of the dict itself (the interesting part for the parser).
    #[test]
    fn header_dict_mutations_never_panic(s in "[{}()\\[\\]':,\" a-z0-9_<>|LTF\\-]{0,120}") {
        let mut bytes = mmarray::npy::MAGIC.to_vec();
        bytes.extend_from_slice(&[1, 0]);
        bytes.extend_from_slice(&u16::try_from(s.len()).unwrap().to_le_bytes());
        bytes.extend_from_slice(s.as_bytes());
        let _ = mmarray::npy::NpyHeader::decode(&bytes);
    }
}
