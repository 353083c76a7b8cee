//! The page cache as the tests see it (core suite only: it maps with
//! memmap2 and asks libc's mincore, dev-dependencies of this crate).

/// How many of the file's bytes are in the page cache (`mincore` over a
/// fresh mapping, which reads nothing).
pub fn cached_bytes(path: &std::path::Path) -> usize {
    let f = std::fs::File::open(path).unwrap();
    // SAFETY: a read-only map of the test's own file, only passed to mincore.
    let map = unsafe { memmap2::Mmap::map(&f).unwrap() };
    let page = 4096;
    let mut vec = vec![0u8; map.len().div_ceil(page)];
    // SAFETY: `vec` has one byte per page of the mapping.
    assert_eq!(unsafe { libc::mincore(map.as_ptr() as *mut libc::c_void, map.len(), vec.as_mut_ptr()) }, 0);
    vec.iter().filter(|&&b| b & 1 == 1).count() * page
}
