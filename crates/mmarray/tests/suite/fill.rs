//! `fill_chunks` and `fill_bytes`: the parallel fill writes every element
//! where the file's order and byte order say, for every dtype, through both
//! of its write paths (`pwrite` to a new, `w+` or `r+` file, copies into the
//! mapping in mode `c`), the same bytes whatever the thread count.

use crate::common;

use common::{check_file_bytes, check_formula, open_npy, Formula, RawPrivate};
use mmarray::{logical_indices, ByteOrder, DType, ErrorKind, Mode, MmapArray, NpyOptions, Order, RawOptions};

fn fill<T: Formula + Default>(a: &mut MmapArray) {
    let (shape, order) = (a.shape().to_vec(), a.order());
    a.fill_chunks(|start, chunk: &mut [T]| {
        for (x, i) in chunk.iter_mut().zip(logical_indices(&shape, order, start)) {
            *x = T::formula(i);
        }
    })
    .unwrap();
}

/// The mapping's elements (not the file's) against the formula.
fn check_mapping<T: Formula>(a: &MmapArray) -> Result<(), String> {
    let owned = a.to_array::<T>().map_err(|e| e.to_string())?;
    match owned.iter().enumerate().find(|(i, v)| v.ne_bytes() != T::formula(*i).ne_bytes()) {
        Some((i, v)) => Err(format!("element {i} in the mapping: {v:?} != {:?}", T::formula(i))),
        None => Ok(()),
    }
}

fn on_threads<R: Send>(n: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap().install(f)
}

/// Every dtype, both orders, both byte orders, pending and named.
fn every_layout<T: Formula + Default>(shape: &[usize]) {
    let dir = tempfile::tempdir().unwrap();
    for order in [Order::C, Order::F] {
        for byte_order in [ByteOrder::Little, ByteOrder::Big] {
            let dtype = DType::with_byte_order(T::KIND, byte_order);
            let what = format!("{} {order:?}", dtype.descr());
            // a pending .npy, on 3 threads
            let path = dir.path().join("pending.npy");
            let mut a = NpyOptions::new(dtype, shape).order(order).create_pending(&path).unwrap();
            on_threads(3, || fill::<T>(&mut a));
            a.persist(true).unwrap();
            let a = open_npy(&path, Mode::ReadOnly).unwrap();
            check_formula::<T>(&a).unwrap_or_else(|e| panic!("pending {what}: {e}"));
            drop(a);
            // a named raw file opened w+, at an offset, on 2 threads
            let path = dir.path().join("named.raw");
            let opts = RawOptions::new(dtype).mode(Mode::Write).shape(shape).order(order).offset(24);
            let mut a = opts.open_private(&path).unwrap();
            on_threads(2, || fill::<T>(&mut a));
            a.close().unwrap();
            let a = RawOptions::new(dtype).mode(Mode::ReadOnly).shape(shape).order(order).offset(24).open_private(&path).unwrap();
            check_file_bytes::<T>(&a, 0).unwrap_or_else(|e| panic!("named {what}: {e}"));
            drop(a);
            // the same file with other bytes in it, opened r+: written
            // with pwrite, and the open mapping shows the new values
            let junk: Vec<u8> = (0..std::fs::metadata(&path).unwrap().len()).map(|i| (i * 7 + 3) as u8).collect();
            std::fs::write(&path, &junk).unwrap();
            let mut a = opts.clone().mode(Mode::ReadWrite).open_private(&path).unwrap();
            on_threads(2, || fill::<T>(&mut a));
            check_formula::<T>(&a).unwrap_or_else(|e| panic!("r+ {what}, through the mapping: {e}"));
            a.close().unwrap();
            let a = opts.clone().mode(Mode::ReadOnly).open_private(&path).unwrap();
            check_file_bytes::<T>(&a, 0).unwrap_or_else(|e| panic!("r+ {what}: {e}"));
            assert_eq!(std::fs::read(&path).unwrap()[..24], junk[..24], "r+ {what}: the bytes before the offset changed");
            drop(a);
            // mode c: the mapping changes, the file never does
            std::fs::write(&path, &junk).unwrap();
            let mut a = opts.clone().mode(Mode::CopyOnWrite).open_private(&path).unwrap();
            on_threads(2, || fill::<T>(&mut a));
            check_mapping::<T>(&a).unwrap_or_else(|e| panic!("c {what}: {e}"));
            a.close().unwrap();
            assert!(std::fs::read(&path).unwrap() == junk, "c {what}: the file changed");
        }
    }
}

#[test]
fn every_dtype_lands_where_its_layout_says() {
    // 105,015 elements: several 1 MiB chunks for the widest types
    let shape = [3, 5, 7001];
    every_layout::<bool>(&shape);
    every_layout::<i8>(&shape);
    every_layout::<i16>(&shape);
    every_layout::<i32>(&shape);
    every_layout::<i64>(&shape);
    every_layout::<u8>(&shape);
    every_layout::<u16>(&shape);
    every_layout::<u32>(&shape);
    every_layout::<u64>(&shape);
    every_layout::<mmarray::f16>(&shape);
    every_layout::<f32>(&shape);
    every_layout::<f64>(&shape);
    every_layout::<mmarray::Complex32>(&shape);
    every_layout::<mmarray::Complex64>(&shape);
}

#[test]
fn chunk_edges_and_small_shapes() {
    // a last chunk of one element, an exact number of chunks, and less
    // than one chunk
    every_layout::<u8>(&[(1 << 20) + 1]);
    every_layout::<f64>(&[2, 1 << 17]);
    every_layout::<f32>(&[1]);
    every_layout::<f64>(&[4, 0, 3]);
}

#[test]
fn the_same_bytes_on_any_number_of_threads() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = vec![];
    for threads in [1, 2, 7] {
        let path = dir.path().join(format!("t{threads}.npy"));
        let mut a = NpyOptions::new(DType::parse("<u4").unwrap(), &[1_000_003]).create_pending(&path).unwrap();
        // a chunk's values depend only on its start, as the contract asks
        on_threads(threads, || {
            a.fill_chunks(|start, chunk: &mut [u32]| {
                let mut x = start as u32 ^ 0x9e37_79b9;
                for v in chunk {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    *v = x;
                }
            })
        })
        .unwrap();
        a.persist(false).unwrap();
        files.push(std::fs::read(&path).unwrap());
    }
    assert!(files.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn fill_bytes_copies_the_file_format_as_is() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.npy");
    // big-endian data, copied as bytes: no swapping on the way
    let src: Vec<u8> = (0..300_000u32).flat_map(|i| (i as f32).to_be_bytes()).collect();
    let mut a = NpyOptions::new(DType::parse(">f4").unwrap(), &[300_000]).create_pending(&path).unwrap();
    on_threads(2, || a.fill_bytes(|start, chunk| chunk.copy_from_slice(&src[start..start + chunk.len()]))).unwrap();
    a.persist(false).unwrap();
    let a = open_npy(&path, Mode::ReadOnly).unwrap();
    assert_eq!(a.as_bytes(), &src[..]);
    assert_eq!(a.get::<f32>(&[299_999]).unwrap(), 299_999.0);
}

#[test]
fn a_descriptor_opened_for_append_is_written_through_the_mapping() {
    // pwrite on an O_APPEND descriptor ignores its offset (Linux): every
    // chunk would land at the end of the file
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("append.raw");
    std::fs::write(&path, vec![0u8; 8 + 8 * 300_000]).unwrap();
    let file = std::fs::OpenOptions::new().read(true).append(true).open(&path).unwrap();
    let opts = RawOptions::new(DType::parse("<f8").unwrap()).mode(Mode::ReadWrite).offset(8);
    // SAFETY: the test's own file, no other handle writes it
    let mut a = unsafe { opts.open_file(file, &path) }.unwrap();
    on_threads(2, || fill::<f64>(&mut a));
    a.close().unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 8 + 8 * 300_000);
    let a = opts.mode(Mode::ReadOnly).open_private(&path).unwrap();
    check_file_bytes::<f64>(&a, 0).unwrap();
}

#[test]
fn a_file_cut_short_is_an_error_and_is_not_grown_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.raw");
    std::fs::write(&path, vec![0u8; 8 * 300_000]).unwrap();
    let mut a = RawOptions::new(DType::parse("<f8").unwrap()).mode(Mode::ReadWrite).open_private(&path).unwrap();
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(1000).unwrap();
    let e = a.fill_chunks(|_, chunk: &mut [f64]| chunk.fill(1.0)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Truncated, "{e}");
    assert!(e.to_string().contains("cut.raw"), "{e}");
    let e = a.fill_bytes(|_, chunk| chunk.fill(1)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Truncated, "{e}");
    drop(a);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 1000);
}

#[test]
fn refusals() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.npy");
    let mut a = NpyOptions::new(DType::parse("<f8").unwrap(), &[10]).create_pending(&path).unwrap();
    let e = a.fill_chunks(|_, _: &mut [f32]| {}).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DtypeMismatch, "{e}");
    a.persist(false).unwrap();
    let mut r = open_npy(&path, Mode::ReadOnly).unwrap();
    assert_eq!(r.fill_chunks(|_, _: &mut [f64]| {}).unwrap_err().kind(), ErrorKind::ReadOnly);
    assert_eq!(r.fill_bytes(|_, _| {}).unwrap_err().kind(), ErrorKind::ReadOnly);
}

/// A fill that releases behind it (what a file larger than RAM gets: the
/// engine's rule, forced here with `with_hints`) writes the same bytes and
/// leaves at most its last 64 MiB in the page cache, and a folio astride
/// their start; without, the whole file stays cached. (The bound was 80
/// MiB, and 72-85 MiB stayed in some runs: large folios astride two chunks
/// were dropped with neither.)
#[test]
fn fills_larger_than_ram_let_go_of_the_page_cache() {
    use mmarray::compute::{with_hints, StreamHints};
    let dir = tempfile::tempdir().unwrap();
    let n = 40 << 20; // 160 MiB of u32
    let make = |name: &str, hints: StreamHints| {
        let path = dir.path().join(name);
        let mut a = NpyOptions::new(DType::native(mmarray::ScalarKind::U32), &[n]).create_pending(&path).unwrap();
        with_hints(hints, || fill::<u32>(&mut a));
        a.persist(false).unwrap();
        (path, crate::page_cache::cached_bytes(&dir.path().join(name)))
    };
    let (kept, kept_cached) = make("kept.npy", StreamHints::kernel());
    let (released, released_cached) = make("released.npy", StreamHints::larger_than_ram());
    assert_eq!(std::fs::read(&kept).unwrap(), std::fs::read(&released).unwrap());
    check_formula::<u32>(&open_npy(&released, Mode::ReadOnly).unwrap()).unwrap();
    assert!(kept_cached > 150 << 20, "the kept fill should stay cached: {kept_cached} bytes");
    assert!(released_cached < 68 << 20, "a fill releasing behind kept {released_cached} bytes cached");
}
