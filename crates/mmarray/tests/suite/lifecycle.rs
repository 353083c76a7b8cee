//! Flushing, closing, dropping, access hints, attributes, offsets, byte
//! order, empty arrays, and files deleted while mapped.

use crate::common;

use common::{open_npy, NpyPrivate, RawPrivate};
use mmarray::{Advice, ByteOrder, DType, ErrorKind, Format, Mode, NpyOptions, Order, RawOptions, ScalarKind};
use ndarray::s;

fn f64s() -> DType {
    DType::native(ScalarKind::F64)
}

#[test]
fn every_flush_makes_writes_visible_to_other_mappings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.npy");
    let mut a = NpyOptions::new(f64s(), &[1024]).create_private(&path).unwrap();
    let reader = open_npy(&path, Mode::ReadOnly).unwrap();
    a.set(&[0], 1.0).unwrap();
    a.flush().unwrap();
    a.set(&[1], 2.0).unwrap();
    a.flush_async().unwrap();
    a.set(&[600], 3.0).unwrap();
    a.flush_range(600 * 8, 8).unwrap();
    a.set(&[1023], 4.0).unwrap();
    a.flush_durable().unwrap();
    // A shared mapping shares the page cache: the reader sees each value.
    for (i, v) in [(0, 1.0), (1, 2.0), (600, 3.0), (1023, 4.0)] {
        assert_eq!(reader.get::<f64>(&[i]).unwrap(), v);
    }
    a.close().unwrap();
    // and the bytes are in the file, read without any mapping
    let bytes = std::fs::read(&path).unwrap();
    let at = |i: usize| f64::from_le_bytes(bytes[128 + 8 * i..136 + 8 * i].try_into().unwrap());
    assert_eq!((at(0), at(1), at(600), at(1023)), (1.0, 2.0, 3.0, 4.0));
}

#[test]
fn attributes_match_numpy_conventions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.raw");
    let a = RawOptions::new(DType::native(ScalarKind::I32))
        .mode(Mode::Write)
        .shape(&[2, 3, 4])
        .order(Order::F)
        .offset(10)
        .open_private(&path)
        .unwrap();
    assert_eq!(a.path(), path);
    assert_eq!(a.dtype().descr(), "<i4");
    assert_eq!(a.shape(), &[2, 3, 4]);
    assert_eq!(a.strides(), vec![4, 8, 24]); // np.empty((2,3,4), '<i4', order='F').strides
    assert_eq!(a.order(), Order::F);
    assert_eq!(a.offset(), 10);
    assert_eq!(a.mode(), Mode::Write);
    assert_eq!(a.nbytes(), 96);
    assert_eq!(a.len(), 24);
    assert_eq!(a.ndim(), 3);
    assert_eq!(a.format(), Format::Raw);
    drop(a);
    let c = RawOptions::new(DType::native(ScalarKind::I32)).mode(Mode::ReadOnly).shape(&[2, 3, 4]).offset(10).open_private(&path).unwrap();
    assert_eq!(c.strides(), vec![48, 16, 4]);
}

#[test]
fn unaligned_offsets_read_correctly_but_refuse_zero_copy_views() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd.raw");
    let mut a = RawOptions::new(f64s()).mode(Mode::Write).shape(&[3, 3]).offset(3).open_private(&path).unwrap();
    let e = a.view_mut::<f64>().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Misaligned);
    assert!(e.to_string().contains("byte offset 3 is not aligned to 8 bytes"), "{e}");
    a.fill_with(|i| i as f64 * 1.5).unwrap();
    a.set(&[2, 2], -1.0).unwrap();
    drop(a);
    let b = RawOptions::new(f64s()).mode(Mode::ReadOnly).shape(&[3, 3]).offset(3).open_private(&path).unwrap();
    let owned = b.to_array::<f64>().unwrap();
    assert_eq!(owned[[1, 2]], 7.5);
    assert_eq!(owned[[2, 2]], -1.0);
    assert_eq!(b.get::<f64>(&[0, 1]).unwrap(), 1.5);
}

#[test]
fn non_native_byte_order_reads_and_writes_through_the_swapping_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("be.npy");
    let be = DType::with_byte_order(ScalarKind::F64, ByteOrder::Big);
    let mut a = NpyOptions::new(be, &[4]).create_private(&path).unwrap();
    a.fill_with(|i| i as f64 + 0.5).unwrap();
    a.close().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[128..136], &0.5f64.to_be_bytes(), "stored big-endian");
    let mut b = open_npy(&path, Mode::ReadWrite).unwrap();
    assert_eq!(b.dtype().descr(), ">f8");
    let e = b.view::<f64>().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ByteOrder);
    assert!(e.to_string().contains("big-endian ('>f8')"), "{e}");
    assert_eq!(b.to_array::<f64>().unwrap().into_raw_vec_and_offset().0, vec![0.5, 1.5, 2.5, 3.5]);
    b.set(&[3], 10.0).unwrap();
    assert_eq!(b.get::<f64>(&[3]).unwrap(), 10.0);
}

#[test]
fn advice_is_accepted_for_every_kind_and_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.npy");
    NpyOptions::new(f64s(), &[100_000]).create_private(&path).unwrap().close().unwrap();
    for mode in [Mode::ReadOnly, Mode::ReadWrite, Mode::CopyOnWrite] {
        let a = open_npy(&path, mode).unwrap();
        for advice in ["normal", "sequential", "random", "willneed"] {
            a.advise(Advice::parse(advice).unwrap()).unwrap();
            a.advise_range(Advice::parse(advice).unwrap(), 4096 * 3 + 5, 10_000).unwrap();
        }
    }
    assert!(Advice::parse("dontneed").is_err());
}

#[test]
fn empty_arrays_open_and_view() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.npy");
    let mut a = NpyOptions::new(f64s(), &[0, 5]).create_private(&path).unwrap();
    assert_eq!(a.view_mut::<f64>().unwrap().shape(), &[0, 5]);
    a.close().unwrap();
    let b = open_npy(&path, Mode::ReadOnly).unwrap();
    assert_eq!(b.view::<f64>().unwrap().len(), 0);
    assert_eq!(b.nbytes(), 0);
    b.flush_range(0, 0).unwrap();
    // a raw file with nothing after the offset: an empty 1-D array
    let raw = dir.path().join("empty.raw");
    std::fs::write(&raw, b"abcd").unwrap();
    let r = RawOptions::new(f64s()).mode(Mode::ReadOnly).offset(4).open_private(&raw).unwrap();
    assert_eq!(r.shape(), &[0]);
    // 0-d arrays hold one element
    let z = NpyOptions::new(f64s(), &[]).create_private(dir.path().join("scalar.npy")).unwrap();
    assert_eq!(z.len(), 1);
    assert_eq!(z.view::<f64>().unwrap().ndim(), 0);
}

#[test]
fn bool_arrays_view_only_valid_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.raw");
    std::fs::write(&path, [0u8, 1, 2, 1]).unwrap();
    let a = RawOptions::new(DType::native(ScalarKind::Bool)).mode(Mode::ReadOnly).open_private(&path).unwrap();
    let e = a.view::<bool>().unwrap_err();
    assert!(e.to_string().contains("holds the byte 2 at element 2"), "{e}");
    // as NumPy reads them: any non-zero byte is true
    assert_eq!(a.to_array::<bool>().unwrap().into_raw_vec_and_offset().0, vec![false, true, true, true]);
}

#[test]
fn a_file_deleted_while_mapped_stays_readable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gone.npy");
    let mut a = NpyOptions::new(f64s(), &[1000]).create_private(&path).unwrap();
    a.view_mut::<f64>().unwrap().slice_mut(s![..]).fill(2.0);
    a.flush().unwrap();
    std::fs::remove_file(&path).unwrap();
    // The open mapping keeps the inode alive (Linux): reads and writes work.
    assert_eq!(a.view::<f64>().unwrap().sum(), 2000.0);
    a.set(&[5], 3.0).unwrap();
    assert_eq!(a.get::<f64>(&[5]).unwrap(), 3.0);
    a.close().unwrap();
    let e = open_npy(&path, Mode::ReadOnly).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains("gone.npy"), "{e}");
}

#[test]
fn overwriting_a_mapped_file_is_refused_instead_of_crashing_its_reader() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.npy");
    let mut w = NpyOptions::new(f64s(), &[1000]).create_private(&path).unwrap();
    w.set(&[999], 1.0).unwrap();
    // While `w` maps the file, overwriting (and so truncating) it is refused.
    let e = NpyOptions::new(f64s(), &[10]).create_private(&path).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InUse, "{e}");
    assert!(e.to_string().contains("shared.npy: is mapped by another array"), "{e}");
    let e = RawOptions::new(f64s()).mode(Mode::Write).shape(&[1]).open_private(&path).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InUse);
    assert_eq!(w.get::<f64>(&[999]).unwrap(), 1.0, "the mapping is intact");
    // Readers and writers can share it.
    let r = open_npy(&path, Mode::ReadOnly).unwrap();
    let r2 = open_npy(&path, Mode::ReadWrite).unwrap();
    drop((r, r2));
    w.close().unwrap();
    // Once closed, the overwrite goes ahead.
    let a = NpyOptions::new(f64s(), &[10]).create_private(&path).unwrap();
    assert_eq!(a.len(), 10);
}

#[test]
fn close_in_place_releases_the_file_but_keeps_addresses_valid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.npy");
    let mut a = NpyOptions::new(f64s(), &[5000]).create_private(&path).unwrap();
    a.view_mut::<f64>().unwrap().fill(4.0);
    let raw = a.as_bytes().as_ptr();
    a.close_in_place().unwrap();
    assert!(a.is_closed());
    assert_eq!(a.view::<f64>().unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(a.get::<f64>(&[0]).unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(a.as_bytes_mut().unwrap_err().kind(), ErrorKind::Closed);
    // the data reached the file before the release
    let b = open_npy(&path, Mode::ReadOnly).unwrap();
    assert_eq!(b.view::<f64>().unwrap().sum(), 20000.0);
    drop(b);
    // the same addresses still read (zeros), they do not fault
    assert_eq!(a.as_bytes().as_ptr(), raw);
    assert!(a.as_bytes().iter().all(|&x| x == 0));
    // a foreign writer (a NumPy view of the buffer) writes nowhere, no fault
    // SAFETY: the range stays mapped (private zero pages, writable because
    // the array was) until `a` drops; no Rust reference into it is alive.
    unsafe { raw.cast_mut().write_volatile(7) };
    // and code that computed through such a pointer can tell
    let e = mmarray::check_address(raw as usize + 100).unwrap_err();
    assert_eq!((e.kind(), e.path()), (ErrorKind::Closed, Some(path.as_path())));
    assert!(mmarray::check_address(&e as *const _ as usize).is_ok(), "not an mmarray mapping");
    // and the lock is gone: the file can be overwritten now
    NpyOptions::new(f64s(), &[3]).create_private(&path).unwrap();
    a.close_in_place().unwrap(); // twice is fine
}

/// Issue 11: another handle truncating the file under a live mapping used
/// to kill the process with SIGBUS at the first access past the new end.
/// Now the access reads zeros (writes go nowhere) on every thread of a
/// parallel pass, and the array reports the truncation.
#[test]
fn truncation_while_mapped_is_an_error_not_a_crash() {
    use mmarray::compute::{apply, reduce, ReduceOptions, Scalar, Stat, Step};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.npy");
    let n = 8 << 20; // 64 MiB of f64: many blocks, on every rayon thread
    let mut a = NpyOptions::new(f64s(), &[n]).create_private(&path).unwrap();
    a.view_mut::<f64>().unwrap().fill(1.0);
    a.flush().unwrap();
    let reader = open_npy(&path, Mode::ReadOnly).unwrap();
    // views taken before: afterwards typed access refuses (the length check)
    let rv = reader.view::<f64>().unwrap();
    let mut wv = a.view_mut::<f64>().unwrap();
    let keep = 1 << 20; // bytes left: the 128-byte header and 131056 values
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(keep).unwrap();

    let sum = *reduce(&rv, Stat::Sum, &ReduceOptions::default()).unwrap().first().unwrap();
    assert_eq!(sum, ((keep - 128) / 8) as f64, "the values past the end read as zeros");
    let e = reader.check_intact().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Truncated);
    assert_eq!(e.path(), Some(path.as_path()));
    let msg = e.to_string();
    assert!(msg.contains("was truncated to 1048576 bytes while in use (the array needs 67108992 bytes)"), "{msg}");
    assert_eq!(e.raw_os_error(), Some(libc::EIO));
    // every later typed access says so, and so does the process-wide check
    assert_eq!(reader.view::<f64>().unwrap_err().kind(), ErrorKind::Truncated);
    assert_eq!(reader.get::<f64>(&[0]).unwrap_err().kind(), ErrorKind::Truncated);
    assert_eq!(reader.to_array::<f64>().unwrap_err().kind(), ErrorKind::Truncated);
    assert!(mmarray::truncation().is_some_and(|e| e.kind() == ErrorKind::Truncated));
    // (the mapping contract: no view of `reader` is alive while `a` writes)
    drop(rv);

    // the writer, in place, in parallel: no crash, and close reports it
    apply(wv.view_mut(), &[Step::Add(Scalar::Float(1.0))]).unwrap();
    drop(wv);
    assert_eq!(a.check_intact().unwrap_err().kind(), ErrorKind::Truncated);
    assert_eq!(a.close().unwrap_err().kind(), ErrorKind::Truncated);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), keep, "nothing grew the file back");
}

/// The guard handles faults in its own ranges only: a SIGBUS in a mapping
/// mmarray did not make still ends the process, as without mmarray (the
/// signal goes on to the previous handler, here the default action).
#[test]
fn a_fault_outside_mmarray_mappings_still_kills() {
    if std::env::var_os("MMARRAY_FOREIGN_FAULT").is_some() {
        let dir = tempfile::tempdir().unwrap();
        let ours = dir.path().join("ours.npy");
        let _a = NpyOptions::new(f64s(), &[1024]).create_private(&ours).unwrap(); // installs the handler
        let path = dir.path().join("foreign.bin");
        let f = std::fs::File::options().read(true).write(true).create(true).truncate(true).open(&path).unwrap();
        f.set_len(1 << 20).unwrap();
        // SAFETY: a test-local file; the truncation below is the point.
        let m = unsafe { memmap2::Mmap::map(&f).unwrap() };
        f.set_len(4096).unwrap();
        let v = std::hint::black_box(m[1 << 19]); // SIGBUS, not ours
        println!("survived with {v}");
        std::process::exit(0);
    }
    use std::os::unix::process::ExitStatusExt;
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "lifecycle::a_fault_outside_mmarray_mappings_still_kills", "--nocapture", "--test-threads=1"])
        .env("MMARRAY_FOREIGN_FAULT", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.signal(), Some(libc::SIGBUS), "{:?}\n{}", out.status, String::from_utf8_lossy(&out.stdout));
}

/// `drop_behind`: dropping or closing the array drops its byte range's
/// pages from the page cache (and only those); without it they stay.
#[test]
fn drop_behind_releases_the_arrays_pages_when_it_goes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.bin");
    let mib = 1 << 20;
    std::fs::write(&path, vec![1u8; 64 * mib]).unwrap();
    let read = |drop_behind: bool, close: bool| {
        // the middle 32 MiB, read whole
        // SAFETY: the test's own file, unchanged while mapped.
        let mut a = unsafe { RawOptions::new(DType::native(ScalarKind::U8)).offset(16 * mib as u64).shape(&[32 * mib]).open(&path).unwrap() };
        a.drop_behind(drop_behind);
        assert_eq!(a.as_bytes().iter().map(|&b| u64::from(b)).sum::<u64>(), 32 * mib as u64);
        assert!(crate::page_cache::cached_bytes(&path) >= 32 * mib);
        if close {
            a.close_in_place().unwrap();
            a.close_in_place().unwrap(); // (idempotent)
        }
    };
    let evict = || {
        let f = std::fs::File::open(&path).unwrap();
        rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed).unwrap();
    };
    // the rest of the file cached, to see that it stays
    let _ = std::fs::read(&path).unwrap();
    read(false, false);
    assert_eq!(crate::page_cache::cached_bytes(&path), 64 * mib, "without drop_behind the pages stay");
    for close in [false, true] {
        let _ = std::fs::read(&path).unwrap();
        read(true, close);
        assert_eq!(crate::page_cache::cached_bytes(&path), 32 * mib, "close {close}: only the array's 32 MiB go");
    }
    evict();
    // an empty array drops nothing (a length of 0 means "to the end" to fadvise)
    let _ = std::fs::read(&path).unwrap();
    // SAFETY: as above.
    let mut e = unsafe { RawOptions::new(DType::native(ScalarKind::U8)).offset(8).shape(&[0]).open(&path).unwrap() };
    e.drop_behind(true);
    drop(e);
    assert_eq!(crate::page_cache::cached_bytes(&path), 64 * mib);
}
