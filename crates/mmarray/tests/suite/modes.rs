//! The contract of each mode: `r` cannot write, `c` never reaches the file,
//! `r+` writes survive reopening (and grows short files), `w+` overwrites.

use crate::common;

use common::{file_hash, open_npy, NpyPrivate, RawPrivate};
use mmarray::{DType, ErrorKind, Mode, NpyOptions, Preallocation, RawOptions, ScalarKind};
use std::os::unix::fs::FileTypeExt;

use ndarray::s;

fn f64s() -> DType {
    DType::native(ScalarKind::F64)
}

fn make_raw(path: &std::path::Path, n: usize) {
    let mut a = RawOptions::new(f64s()).mode(Mode::Write).shape(&[n]).open_private(path).unwrap();
    a.fill_with(|i| i as f64).unwrap();
    a.close().unwrap();
}

#[test]
fn read_only_cannot_write_and_leaves_the_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.f8");
    make_raw(&path, 10);
    let before = file_hash(&path);
    let mut a = RawOptions::new(f64s()).mode(Mode::ReadOnly).open_private(&path).unwrap();
    assert_eq!(a.set(&[0], 1.0).unwrap_err().kind(), ErrorKind::ReadOnly);
    assert_eq!(a.view_mut::<f64>().unwrap_err().kind(), ErrorKind::ReadOnly);
    assert_eq!(a.as_bytes_mut().unwrap_err().kind(), ErrorKind::ReadOnly);
    assert_eq!(a.fill_with(|_| 0.0).unwrap_err().kind(), ErrorKind::ReadOnly);
    let msg = a.set(&[0], 1.0).unwrap_err().to_string();
    assert!(msg.contains("a.f8") && msg.contains("'r'"), "{msg}");
    a.flush().unwrap();
    a.flush_durable().unwrap();
    assert_eq!(a.get::<f64>(&[9]).unwrap(), 9.0);
    drop(a);
    assert_eq!(file_hash(&path), before);
}

#[test]
fn copy_on_write_changes_stay_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.npy");
    let mut w = NpyOptions::new(f64s(), &[4, 5]).create_private(&path).unwrap();
    w.fill_with(|i| i as f64).unwrap();
    w.close().unwrap();
    let before = file_hash(&path);
    let mut c = open_npy(&path, Mode::CopyOnWrite).unwrap();
    c.view_mut::<f64>().unwrap().slice_mut(s![1, ..]).fill(-1.0);
    c.set(&[0, 0], 42.0).unwrap();
    assert_eq!(c.get::<f64>(&[1, 3]).unwrap(), -1.0, "changes are visible in this process");
    assert_eq!(c.get::<f64>(&[0, 0]).unwrap(), 42.0);
    c.flush().unwrap();
    c.flush_durable().unwrap();
    // Another mapping of the same file does not see them.
    let r = open_npy(&path, Mode::ReadOnly).unwrap();
    assert_eq!(r.get::<f64>(&[1, 3]).unwrap(), 8.0);
    c.close().unwrap();
    assert_eq!(file_hash(&path), before);
}

#[test]
fn read_write_changes_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.npy");
    NpyOptions::new(f64s(), &[100, 100]).create_private(&path).unwrap().close().unwrap();
    {
        let mut a = open_npy(&path, Mode::ReadWrite).unwrap();
        a.view_mut::<f64>().unwrap().slice_mut(s![10..20, 30..40]).fill(3.5);
        a.set(&[99, 99], 7.0).unwrap();
        // dropped without close: Drop flushes
    }
    let a = open_npy(&path, Mode::ReadOnly).unwrap();
    let v = a.view::<f64>().unwrap();
    assert_eq!(v.sum(), 100.0 * 3.5 + 7.0);
    assert_eq!(v[[15, 35]], 3.5);
    assert_eq!(v[[9, 35]], 0.0);
}

#[test]
fn read_write_grows_a_short_raw_file_with_reserved_space() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.f8");
    make_raw(&path, 4);
    let mut a = RawOptions::new(f64s()).mode(Mode::ReadWrite).shape(&[10]).offset(8).open_private(&path).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 8 + 80);
    assert_eq!(a.preallocation(), Preallocation::Reserved);
    assert_eq!(a.get::<f64>(&[0]).unwrap(), 1.0, "existing bytes are kept");
    assert_eq!(a.get::<f64>(&[9]).unwrap(), 0.0, "new bytes are zero");
    a.set(&[9], 5.0).unwrap();
    a.close().unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert!(meta.blocks() * 512 >= 88, "the grown file is not sparse");
}

#[test]
fn write_overwrites_and_needs_a_shape() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.f8");
    make_raw(&path, 100);
    let e = RawOptions::new(f64s()).mode(Mode::Write).open_private(&path).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.to_string().contains("shape must be given"), "{e}");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 800, "the failed open changed nothing");
    let a = RawOptions::new(f64s()).mode(Mode::Write).shape(&[3]).offset(5).open_private(&path).unwrap();
    assert_eq!(a.to_array::<f64>().unwrap().into_raw_vec_and_offset().0, vec![0.0; 3]);
    drop(a);
    assert_eq!(std::fs::read(&path).unwrap(), vec![0u8; 5 + 24]);
}

#[test]
fn opening_an_npy_file_in_write_mode_never_truncates_it() {
    // np.load(path, mmap_mode='w+') truncates the file and loses its data.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keep.npy");
    let mut a = NpyOptions::new(f64s(), &[50]).create_private(&path).unwrap();
    a.fill_with(|i| i as f64).unwrap();
    a.close().unwrap();
    let before = file_hash(&path);
    let a = open_npy(&path, Mode::Write).unwrap();
    assert_eq!(a.mode(), Mode::ReadWrite);
    assert_eq!(a.get::<f64>(&[49]).unwrap(), 49.0);
    drop(a);
    assert_eq!(file_hash(&path), before);
}

#[test]
fn create_new_refuses_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.npy");
    std::fs::write(&path, b"precious").unwrap();
    let e = NpyOptions::new(f64s(), &[3]).create_new_private(&path).unwrap_err();
    assert!(e.to_string().contains("already exists"), "{e}");
    assert_eq!(e.kind(), ErrorKind::AlreadyExists);
    // raw files too (issue 10: the CLI checked exists() and then created)
    let e = RawOptions::new(f64s()).shape(&[3]).create_new_private(&path).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
    let fresh = dir.path().join("y.f8");
    let a = RawOptions::new(f64s()).mode(Mode::ReadOnly).shape(&[3]).create_new_private(&fresh).unwrap();
    assert_eq!((a.mode(), a.nbytes()), (Mode::Write, 24));
}

/// Issue 10: opening a FIFO waited forever for a writer (or, to overwrite
/// it, for a reader); now it is refused at once as not a regular file.
#[test]
fn fifos_are_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    rustix::fs::mknodat(rustix::fs::CWD, &fifo, rustix::fs::FileType::Fifo, rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR, 0)
        .unwrap();
    for mode in [Mode::ReadOnly, Mode::ReadWrite] {
        let e = RawOptions::new(f64s()).mode(mode).open_private(&fifo).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotAFile, "{e}");
        assert_eq!(open_npy(&fifo, mode).unwrap_err().kind(), ErrorKind::NotAFile);
    }
    let e = RawOptions::new(f64s()).mode(Mode::Write).shape(&[3]).open_private(&fifo).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::NotAFile | ErrorKind::Io), "{e}");
    let e = NpyOptions::new(f64s(), &[3]).create_private(&fifo).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::NotAFile | ErrorKind::Io), "{e}");
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}

#[test]
fn mode_names_parse_as_numpy() {
    assert_eq!(Mode::parse("readwrite").unwrap(), Mode::ReadWrite);
    assert_eq!(Mode::parse("copyonwrite").unwrap(), Mode::CopyOnWrite);
    assert_eq!(Mode::parse("x").unwrap_err().kind(), ErrorKind::InvalidArgument);
}
