//! `.npy` headers from other writers: older 16-byte alignment, Python 2's
//! `L` integers, double quotes, and version choice for long headers.

use crate::common;

use common::{open_npy, NpyPrivate};
use mmarray::{DType, Format, Mode, NpyOptions, NpyVersion, ScalarKind};

/// A v1.0 file whose header is padded so data starts at a multiple of
/// `align` (NumPy before 1.17 used 16), holding 0.0, 1.0, ... as `<f8`.
fn old_style_file(dict: &str, align: usize, n: usize) -> Vec<u8> {
    let mut header = dict.to_string();
    while (10 + header.len() + 1) % align != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = mmarray::npy::MAGIC.to_vec();
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&u16::try_from(header.len()).unwrap().to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for i in 0..n {
        out.extend_from_slice(&(i as f64).to_le_bytes());
    }
    out
}

#[test]
fn sixteen_byte_aligned_headers_from_older_writers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.npy");
    let bytes = old_style_file("{'descr': '<f8', 'fortran_order': False, 'shape': (6,), }", 16, 6);
    std::fs::write(&path, &bytes).unwrap();
    let a = open_npy(&path, Mode::ReadOnly).unwrap();
    assert_eq!(a.offset() % 16, 0);
    assert_ne!(a.offset() % 64, 0, "the test file must not be 64-aligned");
    assert_eq!(a.to_array::<f64>().unwrap().into_raw_vec_and_offset().0, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
}

#[test]
fn python2_headers_with_long_integers_and_double_quotes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("py2.npy");
    let dict = "{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": (2L, 3L)}";
    std::fs::write(&path, old_style_file(dict, 16, 6)).unwrap();
    let a = open_npy(&path, Mode::ReadOnly).unwrap();
    assert_eq!(a.shape(), &[2, 3]);
    assert_eq!(a.get::<f64>(&[1, 2]).unwrap(), 5.0);
}

#[test]
fn version_is_chosen_as_numpy_does() {
    let dir = tempfile::tempdir().unwrap();
    // A header longer than 65535 bytes needs version 2.0; only a huge
    // number of dimensions makes one with numeric dtypes.
    let shape = vec![1usize; 30_000];
    let h = mmarray::npy::NpyHeader { dtype: DType::native(ScalarKind::U8), fortran_order: false, shape };
    let (bytes, v) = h.encode(None).unwrap();
    assert_eq!(v, NpyVersion::V2);
    assert_eq!(bytes.len() % 64, 0);
    assert!(h.encode(Some(NpyVersion::V1)).unwrap_err().to_string().contains("too big for npy version 1.0"));
    let a = NpyOptions::new(DType::native(ScalarKind::U8), &[10]).create_private(dir.path().join("v1.npy")).unwrap();
    assert_eq!(a.format(), Format::Npy(NpyVersion::V1));
    assert_eq!(a.offset(), 128);
}
