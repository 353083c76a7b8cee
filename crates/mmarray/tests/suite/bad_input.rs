//! Bad input: each case gives a clear error of the right kind that names the
//! file, never panics, and never changes the file's bytes.

use crate::common;

use common::{file_hash, open_npy, NpyPrivate, RawPrivate};
use std::path::{Path, PathBuf};

use mmarray::{DType, ErrorKind, Mode, MmapArray, NpyOptions, RawOptions, ScalarKind};

fn f64s() -> DType {
    DType::native(ScalarKind::F64)
}

fn npy_with_dict(path: &Path, dict: &str, data_len: usize) {
    let mut bytes = mmarray::npy::MAGIC.to_vec();
    bytes.extend_from_slice(&[1, 0]);
    let padded = format!("{dict:<118}\n");
    bytes.extend_from_slice(&u16::try_from(padded.len()).unwrap().to_le_bytes());
    bytes.extend_from_slice(padded.as_bytes());
    bytes.resize(bytes.len() + data_len, 0);
    std::fs::write(path, bytes).unwrap();
}

/// Runs `open` on the file at `path` and checks the error's kind, that the
/// message names the file and contains `needle`, and that the file is as
/// before.
fn expect_error(path: &Path, kind: ErrorKind, needle: &str, open: impl FnOnce(&Path) -> mmarray::Result<MmapArray>) {
    let before = path.is_file().then(|| file_hash(path));
    let err = open(path).expect_err("opening should fail");
    let msg = err.to_string();
    assert_eq!(err.kind(), kind, "{msg}");
    assert!(msg.contains(&path.display().to_string()), "message does not name the file: {msg}");
    assert!(msg.contains(needle), "expected {needle:?} in: {msg}");
    assert_eq!(path.is_file().then(|| file_hash(path)), before, "the file changed: {msg}");
}

struct Dir(tempfile::TempDir);
impl Dir {
    fn new() -> Self {
        Self(tempfile::tempdir().unwrap())
    }
    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

#[test]
fn missing_file() {
    let d = Dir::new();
    let p = d.0.path().join("missing.f8");
    for mode in [Mode::ReadOnly, Mode::ReadWrite, Mode::CopyOnWrite] {
        expect_error(&p, ErrorKind::NotFound, "No such file", |p| RawOptions::new(f64s()).mode(mode).open_private(p));
        expect_error(&p, ErrorKind::NotFound, "No such file", |p| open_npy(p, mode));
    }
    assert!(!p.exists(), "r+ must not create a file");
}

#[test]
fn directory_instead_of_file() {
    let d = Dir::new();
    let p = d.0.path().to_path_buf();
    expect_error(&p, ErrorKind::NotAFile, "directory", |p| RawOptions::new(f64s()).mode(Mode::ReadOnly).open_private(p));
    expect_error(&p, ErrorKind::NotAFile, "directory", |p| RawOptions::new(f64s()).mode(Mode::ReadWrite).open_private(p));
    expect_error(&p, ErrorKind::NotAFile, "directory", |p| open_npy(p, Mode::ReadOnly));
    expect_error(&p, ErrorKind::NotAFile, "directory", |p| {
        RawOptions::new(f64s()).mode(Mode::Write).shape(&[3]).open_private(p)
    });
}

#[test]
fn wrong_permissions() {
    use std::os::unix::fs::PermissionsExt;
    if rustix::process::geteuid().is_root() {
        // root ignores file modes; the CLI tests cover this case by running
        // the binary as an unprivileged user.
        return;
    }
    let d = Dir::new();
    let p = d.file("locked.f8", &[0; 64]);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
    expect_error(&p, ErrorKind::PermissionDenied, "ermission denied", |p| {
        RawOptions::new(f64s()).mode(Mode::ReadOnly).open_private(p)
    });
}

#[test]
fn shape_bigger_than_the_file() {
    let d = Dir::new();
    let p = d.file("small.f8", &[0; 80]);
    for mode in [Mode::ReadOnly, Mode::CopyOnWrite] {
        expect_error(&p, ErrorKind::FileTooSmall, "file has 80 bytes", |p| {
            RawOptions::new(f64s()).mode(mode).shape(&[11]).open_private(p)
        });
        // dtype bigger: 10 complex128 need 160 bytes
        expect_error(&p, ErrorKind::FileTooSmall, "needs 160", |p| {
            RawOptions::new(DType::native(ScalarKind::C128)).mode(mode).shape(&[10]).open_private(p)
        });
    }
}

#[test]
fn offset_past_the_end() {
    let d = Dir::new();
    let p = d.file("small.f8", &[0; 80]);
    for mode in [Mode::ReadOnly, Mode::ReadWrite, Mode::CopyOnWrite] {
        expect_error(&p, ErrorKind::FileTooSmall, "offset 81 is past the end", |p| {
            RawOptions::new(f64s()).mode(mode).offset(81).open_private(p)
        });
    }
    expect_error(&p, ErrorKind::FileTooSmall, "offset 100", |p| {
        RawOptions::new(f64s()).mode(Mode::ReadOnly).offset(100).shape(&[1]).open_private(p)
    });
}

#[test]
fn remainder_not_a_multiple_of_the_itemsize() {
    let d = Dir::new();
    let p = d.file("odd.f8", &[0; 83]);
    expect_error(&p, ErrorKind::InvalidArgument, "not a multiple of the itemsize 8", |p| {
        RawOptions::new(f64s()).mode(Mode::ReadOnly).open_private(p)
    });
    expect_error(&p, ErrorKind::InvalidArgument, "81 bytes after offset 2", |p| {
        RawOptions::new(f64s()).mode(Mode::ReadWrite).offset(2).open_private(p)
    });
}

#[test]
fn overflowing_shape() {
    let d = Dir::new();
    let p = d.file("x.f8", &[0; 80]);
    // NumPy's rule (issue 10): the non-zero dims times the itemsize fit in
    // intp, even beside a zero dim; at most 64 dims
    for huge in [vec![usize::MAX / 2, 3], vec![1, 0, 1 << 62]] {
        for mode in [Mode::ReadOnly, Mode::ReadWrite, Mode::Write] {
            expect_error(&p, ErrorKind::InvalidArgument, "array is too big", |p| {
                RawOptions::new(f64s()).mode(mode).shape(&huge).open_private(p)
            });
        }
        let e = NpyOptions::new(f64s(), &huge).create_private(d.0.path().join("new.npy")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
        assert!(!d.0.path().join("new.npy").exists());
    }
    let e = NpyOptions::new(f64s(), &[1; 65]).create_new_private(d.0.path().join("new.npy")).unwrap_err();
    assert!(e.to_string().contains("maximum supported dimension for an ndarray is currently 64, found 65"), "{e}");
    assert!(!d.0.path().join("new.npy").exists());
    // an overflowing shape inside a .npy header
    let q = d.0.path().join("huge.npy");
    npy_with_dict(&q, "{'descr': '<f8', 'fortran_order': False, 'shape': (9223372036854775807, 4), }", 0);
    expect_error(&q, ErrorKind::InvalidHeader, "array is too big", |p| open_npy(p, Mode::ReadWrite));
}

#[test]
fn corrupt_and_truncated_npy_headers() {
    let d = Dir::new();
    let good = d.0.path().join("good.npy");
    NpyOptions::new(f64s(), &[4]).create_private(&good).unwrap().close().unwrap();
    let bytes = std::fs::read(&good).unwrap();
    for (name, content, needle) in [
        ("empty.npy", Vec::new(), "magic"),
        ("notnpy.npy", b"hello world, not an array".to_vec(), "magic"),
        ("cut5.npy", bytes[..5].to_vec(), "magic"),
        ("cut9.npy", bytes[..9].to_vec(), "header length"),
        ("cut50.npy", bytes[..50].to_vec(), "truncated header"),
        ("garbage.npy", [&bytes[..10], &[0xff; 118][..]].concat(), "cannot parse header"),
    ] {
        let p = d.file(name, &content);
        for mode in [Mode::ReadOnly, Mode::ReadWrite] {
            expect_error(&p, ErrorKind::InvalidHeader, needle, |p| open_npy(p, mode));
        }
    }
    // valid header, data cut short: an error, and r+ must not extend it
    let p = d.file("shortdata.npy", &bytes[..bytes.len() - 3]);
    for mode in [Mode::ReadOnly, Mode::ReadWrite, Mode::Write] {
        expect_error(&p, ErrorKind::FileTooSmall, "truncated .npy", |p| open_npy(p, mode));
    }
}

#[test]
fn unknown_and_object_descr() {
    let d = Dir::new();
    for (name, descr, needle) in [
        ("unknown.npy", "<q7", "unsupported dtype"),
        ("object.npy", "|O", "object"),
        ("string.npy", "<U8", "string"),
    ] {
        let p = d.0.path().join(name);
        npy_with_dict(&p, &format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (3,), }}"), 64);
        expect_error(&p, ErrorKind::UnsupportedDtype, needle, |p| open_npy(p, Mode::ReadWrite));
    }
    let p = d.0.path().join("structured.npy");
    npy_with_dict(&p, "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (3,), }", 64);
    expect_error(&p, ErrorKind::InvalidHeader, "structured", |p| open_npy(p, Mode::ReadOnly));
}

#[test]
fn header_too_large() {
    let d = Dir::new();
    let mut bytes = mmarray::npy::MAGIC.to_vec();
    bytes.extend_from_slice(&[2, 0]);
    bytes.extend_from_slice(&100_000u32.to_le_bytes());
    bytes.resize(200_000, b' ');
    let p = d.file("big.npy", &bytes);
    expect_error(&p, ErrorKind::InvalidHeader, "header too large: 100000 bytes", |p| {
        open_npy(p, Mode::ReadWrite)
    });
}

#[test]
fn typed_access_with_the_wrong_type_or_index() {
    let d = Dir::new();
    let mut a = NpyOptions::new(f64s(), &[2, 3]).create_private(d.0.path().join("a.npy")).unwrap();
    assert_eq!(a.view::<f32>().unwrap_err().kind(), ErrorKind::DtypeMismatch);
    assert!(a.get::<i64>(&[0, 0]).unwrap_err().to_string().contains("'<f8' (float64), not int64"));
    let e = a.get::<f64>(&[2, 0]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::IndexOutOfBounds);
    assert!(e.to_string().contains("index (2, 0) is out of bounds for shape (2, 3)"), "{e}");
    assert_eq!(a.set(&[0], 1.0).unwrap_err().kind(), ErrorKind::IndexOutOfBounds);
    assert_eq!(a.flush_range(40, 9).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(a.advise_range(mmarray::Advice::Random, usize::MAX, 2).unwrap_err().kind(), ErrorKind::InvalidArgument);
}
