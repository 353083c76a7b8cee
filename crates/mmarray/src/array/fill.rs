//! Filling a whole array in parallel, at the disk's write speed:
//! [`MmapArray::fill_chunks`].

use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use super::{read_only, Mapping, MmapArray};
use crate::element::Element;
use crate::error::{Error, Result};

/// Bytes of data per chunk handed to a fill function. A fixed number of
/// elements whatever the thread count, so a fill that depends only on its
/// indices writes the same bytes on any machine; large enough that the
/// per-chunk cost (a call, a `pwrite`) is noise, small enough that each
/// thread's buffer stays in its core's cache.
const CHUNK_BYTES: usize = 1 << 20;

impl MmapArray {
    /// Writes every element, a chunk at a time on the engine's threads
    /// ([`compute::threads`](crate::compute::threads)): `f(start, chunk)`
    /// fills `chunk` with the elements at **memory-order** positions
    /// `start..start + chunk.len()` (for a C-order array the flat C index;
    /// [`logical_indices`](crate::logical_indices) gives the C index of each
    /// position of a Fortran-order one). Chunks are the same whatever the
    /// thread count, and each is written once, so a deterministic `f` gives
    /// the same file on any machine. Bytes are swapped for non-native byte
    /// order.
    ///
    /// The fast way to make an array's data. When the mapping shares the
    /// file's pages (an array made by
    /// [`create_pending`](crate::NpyOptions::create_pending), or opened
    /// `w+` or `r+`), the chunks are written with `pwrite(2)` from a buffer
    /// per thread, and the kernel starts writing each to disk at once
    /// (`sync_file_range`), so the disk works while the next chunks are
    /// made; in mode `c` they are copied into the mapping. Memory: one chunk
    /// buffer per thread. [`fill_with`](Self::fill_with) is the sequential,
    /// one-element-at-a-time form.
    ///
    /// ```
    /// use mmarray::{DType, NpyOptions, ScalarKind};
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("squares.npy");
    /// let mut a = NpyOptions::new(DType::native(ScalarKind::U64), &[1000, 1000]).create_pending(&path)?;
    /// a.fill_chunks(|start, chunk: &mut [u64]| {
    ///     for (i, x) in chunk.iter_mut().enumerate() {
    ///         *x = ((start + i) as u64).pow(2);
    ///     }
    /// })?;
    /// a.persist(false)?;
    /// // SAFETY: nothing else changes the file while it is mapped.
    /// let b = unsafe { mmarray::MmapArray::open_npy(&path, mmarray::Mode::ReadOnly)? };
    /// assert_eq!(b.get::<u64>(&[999, 999])?, 999_999u64.pow(2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::ReadOnly`](crate::ErrorKind::ReadOnly) in mode `r`;
    /// [`ErrorKind::DtypeMismatch`](crate::ErrorKind::DtypeMismatch) if `T`
    /// is not the array's type; [`ErrorKind::Io`](crate::ErrorKind::Io) if
    /// a write fails (a full disk where the file could not be reserved);
    /// [`ErrorKind::Truncated`](crate::ErrorKind::Truncated) if the mapped
    /// file lost pages meanwhile.
    pub fn fill_chunks<T: Element + Default>(&mut self, f: impl Fn(usize, &mut [T]) + Sync) -> Result<()> {
        if !self.mode.is_writable() {
            return Err(read_only(&self.path));
        }
        self.check_kind::<T>()?;
        let swap = !self.layout.dtype.is_native();
        let per_chunk = (CHUNK_BYTES / std::mem::size_of::<T>()).max(1);
        self.write_chunks(per_chunk, |start, buf: &mut [T]| {
            f(start, buf);
            if swap {
                buf.iter_mut().for_each(|x| *x = x.swap_bytes());
            }
        })
    }

    /// [`fill_chunks`](Self::fill_chunks) for the array's bytes as they
    /// are in the file (no dtype check, no byte swapping): `f(start, chunk)`
    /// fills the data bytes `start..start + chunk.len()`. For copying data
    /// that is already in the file's format (`mmarray convert`).
    ///
    /// ```
    /// use mmarray::{DType, NpyOptions, ScalarKind};
    /// let dir = tempfile::tempdir()?;
    /// let src: Vec<u8> = (0..4000u32).flat_map(|i| (i as f32).to_le_bytes()).collect();
    /// let mut a = NpyOptions::new(DType::parse("<f4")?, &[4000]).create_pending(dir.path().join("a.npy"))?;
    /// a.fill_bytes(|start, chunk| chunk.copy_from_slice(&src[start..start + chunk.len()]))?;
    /// assert_eq!(a.get::<f32>(&[3999])?, 3999.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`fill_chunks`](Self::fill_chunks), without the dtype check.
    pub fn fill_bytes(&mut self, f: impl Fn(usize, &mut [u8]) + Sync) -> Result<()> {
        if !self.mode.is_writable() {
            return Err(read_only(&self.path));
        }
        self.write_chunks(CHUNK_BYTES, f)
    }

    /// Writes the data as `per_chunk`-item chunks of `B` made by `make`:
    /// with `pwrite` to the file when the mapping shares its pages (a new
    /// file, mode `w+` or `r+`), else into the mapping (mode `c`).
    ///
    /// `pwrite` of whole chunks fills the page cache without a page fault
    /// per page (and, on ext4, a block allocation per faulted page), and
    /// leaves the pages out of the process's resident set: the 4.66 GiB
    /// array of `demo --size large`, alternating runs on the 2-core machine
    /// (disk busy and slow that day): through the mapping 15.6 s and 11.1 s,
    /// peak RSS 4780 MiB; with pwrite 11.1 s and 8.9 s, peak RSS 95 MiB. The shared
    /// mapping sees the written pages (one page cache), and `&mut self`
    /// means no view of the old bytes is alive.
    fn write_chunks<B: Copy + Default + Send>(&mut self, per_chunk: usize, make: impl Fn(usize, &mut [B]) + Sync) -> Result<()> {
        let size = std::mem::size_of::<B>();
        let n = self.nbytes() / size;
        if let Some(file) = self.file.as_ref().filter(|f| self.pending.is_some() || writes_through(&self.map, f)) {
            // (a file cut short since it was mapped: an error now, where
            // pwrite would silently grow it back)
            self.check_intact()?;
            let (offset, path) = (self.layout.offset, &self.path);
            let chunks = n.div_ceil(per_chunk);
            // Threads take chunks in file order from one counter, so the
            // writes (and the write-back they start) move through the file
            // front to back.
            let next = AtomicUsize::new(0);
            let workers = crate::compute::threads().clamp(1, chunks.max(1));
            // A file larger than the memory to spare (the engine's rule for
            // passes, `StreamHints`) is let go of behind the writers: a
            // chunk [`LAG`] chunks back is waited for on disk and dropped
            // from the page cache, so writing never waits for the kernel
            // to find and reclaim dirty pages (measured in `drop_behind`).
            let behind = crate::compute::releases_behind(self.nbytes());
            return (0..workers).into_par_iter().try_for_each(|_| {
                let mut buf = vec![B::default(); per_chunk.min(n)];
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= chunks {
                        return Ok(());
                    }
                    let start = k * per_chunk;
                    let buf = &mut buf[..per_chunk.min(n - start)];
                    make(start, buf);
                    let at = offset + (start * size) as u64;
                    // SAFETY: B is u8 or an `Element`, plain old data, so its
                    // bytes may be read as u8; the slice covers exactly the
                    // buffer's items.
                    let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), std::mem::size_of_val(buf)) };
                    file.write_all_at(bytes, at).map_err(|e| Error::io(path, "cannot write", e))?;
                    start_writeback(file, at, bytes.len());
                    if behind && k >= LAG {
                        // (each chunk is dropped by whoever writes the chunk
                        // LAG after it, with the FOLIO bytes before it: a
                        // large folio of the page cache that straddles two
                        // chunks is not dropped with either, but lies whole
                        // in a later range; the last LAG chunks stay cached)
                        let end = offset + ((k - LAG + 1) * per_chunk * size) as u64;
                        let old = (end - (per_chunk * size) as u64).saturating_sub(FOLIO).max(offset);
                        drop_behind(file, old, end - old).map_err(|e| Error::io(path, "cannot write", e))?;
                    }
                }
            });
        }
        let bytes = match &mut self.map {
            Mapping::Mapped(r) => r.bytes_mut().ok_or_else(|| read_only(&self.path))?,
            Mapping::Empty => return Ok(()),
        };
        bytes.par_chunks_mut(per_chunk * size).enumerate().for_each_init(
            || vec![B::default(); per_chunk.min(n)],
            |buf, (k, dst)| {
                let buf = &mut buf[..dst.len() / size];
                make(k * per_chunk, buf);
                // SAFETY: as above.
                dst.copy_from_slice(unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), dst.len()) });
            },
        );
        self.check_intact()
    }
}

/// Whether a `pwrite` to `file` lands in the pages `map` shows: a shared
/// writable mapping, of a descriptor not opened `O_APPEND` (where `pwrite`
/// ignores its offset on Linux).
fn writes_through(map: &Mapping, file: &std::fs::File) -> bool {
    map.shared().is_some()
        && rustix::fs::fcntl_getfl(file).is_ok_and(|flags| !flags.contains(rustix::fs::OFlags::APPEND))
}

/// The logical (C-order flat) index of each element at memory-order
/// positions `start..` of an array of `shape` in `order`, in memory order:
/// `start, start + 1, ...` for C order, the transposed walk for Fortran
/// order. What [`MmapArray::fill_with`] passes its function, for use inside
/// [`MmapArray::fill_chunks`].
///
/// ```
/// use mmarray::{logical_indices, Order};
/// // a 2x3 Fortran-order array holds a[0,0], a[1,0], a[0,1], a[1,1], a[0,2], a[1,2]
/// assert_eq!(logical_indices(&[2, 3], Order::F, 1).collect::<Vec<_>>(), [3, 1, 4, 2, 5]);
/// assert_eq!(logical_indices(&[2, 3], Order::C, 4).collect::<Vec<_>>(), [4, 5]);
/// ```
pub fn logical_indices(shape: &[usize], order: crate::Order, start: usize) -> impl Iterator<Item = usize> + use<> {
    let shape = shape.to_vec();
    let n: usize = shape.iter().product();
    let fortran = order == crate::Order::F && shape.len() > 1;
    // the multi-index of memory position `start`, first axis fastest
    let mut index = vec![0usize; shape.len()];
    if fortran {
        let mut rest = start;
        for (i, &d) in index.iter_mut().zip(&shape) {
            *i = rest % d.max(1);
            rest /= d.max(1);
        }
    }
    let c_strides = super::element_strides(&shape, crate::Order::C);
    (start.min(n)..n).map(move |pos| {
        if !fortran {
            return pos;
        }
        let c: isize = index.iter().zip(&c_strides).map(|(&i, &s)| i as isize * s).sum();
        for (i, &d) in index.iter_mut().zip(&shape) {
            *i += 1;
            if *i < d {
                break;
            }
            *i = 0;
        }
        c.unsigned_abs()
    })
}

/// How many chunks back [`drop_behind`] works when a file larger than RAM
/// is filled: 64 MiB of 1 MiB chunks in flight to the disk.
const LAG: usize = 64;

/// The largest folio the kernel caches a file in (x86-64's PMD size): a
/// folio is dropped only when the range asked for holds all of it, so each
/// dropped range reaches this far back into the last. (Without it, 80 MiB
/// and more of a 160 MiB fill stayed cached some runs, not 64: the folios
/// astride the unaligned 1 MiB chunks, the data starting after a header.)
const FOLIO: u64 = 2 << 20;

/// Waits until the `len` bytes at `at` are on disk and drops them from the
/// page cache (`sync_file_range` with both waits, then
/// `posix_fadvise(DONTNEED)`, which does not drop pages someone has
/// mapped). Filling a new 36 GiB file on the 2-core machine (24 GiB RAM),
/// 1 MiB `pwrite`s from two threads, one run: with the writes only started
/// (`start_writeback`, what small files get) 68.2 s; nothing 62.9 s; this,
/// 64 chunks back, 19.6 s (16 MiB chunks, 4 back: 25.1 s); `dd bs=16M
/// conv=fdatasync` of the same size 49.6 s. A write error surfaces here.
fn drop_behind(file: &std::fs::File, at: u64, len: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE | libc::SYNC_FILE_RANGE_WAIT_AFTER;
    // SAFETY: plain system calls on a descriptor we own; they read no
    // memory of ours.
    if unsafe { libc::sync_file_range(file.as_raw_fd(), at as libc::off64_t, len as libc::off64_t, flags) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: as above. (Only a hint: its failure changes nothing.)
    unsafe { libc::posix_fadvise(file.as_raw_fd(), at as libc::off64_t, len as libc::off64_t, libc::POSIX_FADV_DONTNEED) };
    Ok(())
}

/// Asks the kernel to start writing `len` bytes at `at` to disk now
/// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`, which does not wait), so the
/// disk writes while the next chunks are made instead of all at the final
/// `fsync`. Only a hint: an error is ignored (the final `fsync` reports any
/// real write failure).
fn start_writeback(file: &std::fs::File, at: u64, len: usize) {
    use std::os::fd::AsRawFd;
    // SAFETY: a plain system call on a descriptor we own; it reads no memory
    // of ours.
    let _ = unsafe {
        libc::sync_file_range(file.as_raw_fd(), at as libc::off64_t, len as libc::off64_t, libc::SYNC_FILE_RANGE_WRITE)
    };
}
