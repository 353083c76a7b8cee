//! How a pass reads a mapped array that is larger than RAM: in windows, in
//! file order, with a reader thread faulting the next windows in while the
//! engine's threads compute on this one, and the pages of each finished
//! window let go, so a pass over a cold file runs at the disk's speed,
//! keeps the process's resident set small and leaves the rest of the
//! system's page cache alone.
//!
//! The engine decides by itself ([`StreamHints::automatic`]): a contiguous
//! pass over more than half of the memory available streams; anything
//! smaller is left to the kernel (its pages stay cached for the next pass).
//! [`with_hints`] overrides the choice. Passes that write (in-place
//! `apply`, `rolling`'s output) fault their windows in writable and sync
//! each two windows behind before paging it out; fills of new files let go
//! of their pages behind the writers in the same cases
//! (`releases_behind`).
//!
//! In-place, cold, same file and machine, another run: `apply --mul 1.5`
//! and a flush, 55.9 s with the pages kept (22 GB resident, the bystander
//! evicted), 48.7 s streamed (NumPy's `a *= 1.5; a.flush()`: 116.3 s).
//!
//! What was measured (one cold float32 sum over a 36 GiB `.npy`, 1.5x this
//! 2-core machine's 24 GiB RAM, all rows in one session; `dd bs=16M` of the
//! same cold file: 48.7-57.9 s, NumPy's `a.sum()` on `np.load(mmap_mode='r')`:
//! 53.5 s; the tool is `examples/stream_probe.rs`):
//!
//! | strategy | seconds | note |
//! |---|---|---|
//! | reader thread: `MADV_POPULATE_READ` of 64 MiB windows, 2 ahead; `MADV_PAGEOUT` behind | 22.4 | kept |
//! | the same, `MADV_DONTNEED` + `posix_fadvise(DONTNEED)` behind | 22.6 | needs the descriptor |
//! | reader thread: `pread` into three 64 MiB buffers; `posix_fadvise(DONTNEED)` behind | 21.6 | a copy, no mapping: another engine |
//! | the same reader thread, windows of 16 MiB (4 ahead) / 256 MiB (2 ahead), DONTNEED | 24.5 / 25.4 | |
//! | 16 MiB windows in file order, no reader thread, DONTNEED behind | 27.8 | |
//! | 64 MiB windows, `MADV_WILLNEED` 2 windows ahead, DONTNEED behind | 35.6 | |
//! | rayon's split (two far-apart streams), kernel read-ahead only (this engine before) | 31.1-39.0 | the pages stay: reclaim costs ~30 s of CPU |
//! | reader thread: `MADV_POPULATE_READ` of 16 MiB / 4 MiB windows, pages kept | 32.0 / 71.0 | |
//! | `readahead(2)` or `MADV_WILLNEED` 16 MiB windows ahead, pages kept | 49.3 / 49.1 | |
//! | `WILLNEED` 64 MiB ahead and `PAGEOUT` per 64 KiB block (the CLI's hints before) | 96.7 | 30-40% system time, evicted the bystander |
//! | the kept strategy, `MADV_WILLNEED` over each window in 2 MiB steps before populating it | 36.8 | 26 s system time |
//!
//! With the device's read-ahead at the kernel's default of 128 KiB (this
//! machine has 8 MiB), in the same session: the kept strategy 40.3 s, with
//! `WILLNEED` steps 39.0 s, rayon's split 72.7 s, `dd` 46.9 s.
//!
//! Releasing behind is most of the gain: pages the pass has finished with
//! go back to the allocator at once, instead of the kernel finding and
//! reclaiming cold pages under pressure (and, "pages kept", the 1 GiB of
//! another file read before the pass was evicted in some runs; with release
//! it stayed cached in every run).

use std::cell::{Cell, RefCell};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

/// What happens to pages once a pass has processed them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Behind {
    /// Nothing: they stay as they are (the right choice when the data fits
    /// in RAM and will be read again).
    #[default]
    Keep,
    /// `MADV_COLD`: they become the first candidates for eviction, ahead of
    /// other programs' memory (Linux 5.4+).
    Cold,
    /// `MADV_PAGEOUT`: they are dropped now (clean file pages leave the page
    /// cache and the process's resident set; nothing is lost, the file is
    /// read again if touched; dirty ones are written first), Linux 5.4+.
    Release,
}

/// How the passes run inside [`with_hints`] read a contiguous array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamHints {
    /// Bytes per window; 0 for no windows: the pass is split among the
    /// threads as a whole and the kernel's read-ahead alone reads it.
    pub window: usize,
    /// How many windows a reader thread faults in (`MADV_POPULATE_READ`)
    /// ahead of the window being computed; 0 for no reader thread.
    pub ahead: usize,
    /// What to do with each window's pages once it is processed (only
    /// pages of a file mapped by mmarray: an in-memory array's are kept).
    pub behind: Behind,
}

impl Default for StreamHints {
    /// [`StreamHints::kernel`].
    fn default() -> Self {
        Self::kernel()
    }
}

impl StreamHints {
    /// No windows, no reader thread, pages kept: the kernel reads the pass
    /// as it faults (right for data that fits in RAM).
    #[must_use]
    pub const fn kernel() -> Self {
        Self { window: 0, ahead: 0, behind: Behind::Keep }
    }

    /// For a pass over data larger than RAM: 64 MiB windows, two read
    /// ahead by a reader thread, each released once processed.
    #[must_use]
    pub const fn larger_than_ram() -> Self {
        Self { window: 64 << 20, ahead: 2, behind: Behind::Release }
    }

    /// The engine's choice for a contiguous pass over `bytes` of a mapped
    /// file (in-memory arrays get [`kernel`](Self::kernel)) when the
    /// system has `available` bytes of memory to spare (`MemAvailable`):
    /// [`larger_than_ram`](Self::larger_than_ram) for a pass of at least
    /// 1 GiB over more than half of it, else [`kernel`](Self::kernel).
    ///
    /// ```
    /// use mmarray::compute::StreamHints;
    /// let gib = 1u64 << 30;
    /// assert_eq!(StreamHints::automatic(36 * gib, 23 * gib), StreamHints::larger_than_ram());
    /// assert_eq!(StreamHints::automatic(4 * gib, 23 * gib), StreamHints::kernel());
    /// assert_eq!(StreamHints::automatic(gib / 2, 0), StreamHints::kernel());
    /// ```
    #[must_use]
    pub const fn automatic(bytes: u64, available: u64) -> Self {
        if bytes >= MIN_STREAMED && bytes > available / 2 {
            Self::larger_than_ram()
        } else {
            Self::kernel()
        }
    }
}

/// The smallest pass [`StreamHints::automatic`] streams.
const MIN_STREAMED: u64 = 1 << 30;

/// [`StreamHints::automatic`] for `bytes` now (`MemAvailable` is read only
/// for a pass that could qualify).
fn automatic_now(bytes: usize) -> StreamHints {
    if (bytes as u64) < MIN_STREAMED {
        return StreamHints::kernel();
    }
    StreamHints::automatic(bytes as u64, available_memory())
}

thread_local! {
    /// `None`: [`StreamHints::automatic`] for each pass.
    static HINTS: Cell<Option<StreamHints>> = const { Cell::new(None) };
}

/// Runs `f` with `hints` applied to every contiguous pass the engine makes
/// from this thread (reductions, quantiles, histograms) instead of the
/// engine's own choice ([`StreamHints::automatic`]).
///
/// ```
/// use mmarray::compute::{with_hints, summary, NanPolicy, StreamHints};
/// let a = ndarray::Array1::<f32>::ones(1 << 20);
/// let m = with_hints(StreamHints::larger_than_ram(), || summary(&a.view(), NanPolicy::Propagate));
/// assert_eq!(m.mean(), 1.0);
/// ```
pub fn with_hints<R>(hints: StreamHints, f: impl FnOnce() -> R) -> R {
    with_hints_setting(Some(hints), f)
}

/// [`with_hints`] with the setting as stored (`None`: automatic).
pub(crate) fn with_hints_setting<R>(hints: Option<StreamHints>, f: impl FnOnce() -> R) -> R {
    let old = HINTS.with(|h| h.replace(hints));
    let out = f();
    HINTS.with(|h| h.set(old));
    out
}

/// The setting on this thread (`None`: automatic).
pub(crate) fn setting() -> Option<StreamHints> {
    HINTS.with(Cell::get)
}

/// The system's `MemAvailable` in bytes (`u64::MAX` where it cannot be
/// read: then nothing is taken for larger than RAM).
pub(crate) fn available_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let line = m.lines().find(|l| l.starts_with("MemAvailable:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(u64::MAX, |kib| kib.saturating_mul(1024))
}

/// Whether the engine now takes a pass over `bytes` of a mapped file for
/// one larger than RAM ([`StreamHints::automatic`] against the system's
/// `MemAvailable`), and lets go of its pages behind it: what a reader of
/// such a file in pieces (a dask task's chunk) asks before it sets
/// [`MmapArray::drop_behind`](crate::MmapArray::drop_behind) on each piece.
///
/// ```
/// assert!(!mmarray::compute::larger_than_ram(1 << 20));
/// assert!(mmarray::compute::larger_than_ram(u64::MAX));
/// ```
#[must_use]
pub fn larger_than_ram(bytes: u64) -> bool {
    bytes >= MIN_STREAMED && StreamHints::automatic(bytes, available_memory()).behind == Behind::Release
}

/// Whether a write of `bytes` to a file should let go of its pages behind
/// it (the writer's form of [`StreamHints::behind`]): as [`with_hints`]
/// says on this thread, else [`StreamHints::automatic`].
pub(crate) fn releases_behind(bytes: usize) -> bool {
    setting().unwrap_or_else(|| automatic_now(bytes)).behind == Behind::Release
}

/// [start, end) widened to whole pages: the pointer and length that
/// `madvise` and `msync` take (both want a page-aligned start).
fn pages(start: usize, end: usize) -> (*mut std::ffi::c_void, usize) {
    let aligned = start & !(rustix::param::page_size() - 1);
    (aligned as *mut std::ffi::c_void, end - aligned)
}

fn advise(start: usize, end: usize, advice: rustix::mm::Advice) -> rustix::io::Result<()> {
    if end <= start {
        return Ok(());
    }
    let (addr, len) = pages(start, end);
    // SAFETY: the pages cover only bytes of a slice the caller borrows for
    // the whole pass (so they stay mapped). The advices used
    // (POPULATE_READ/WRITE, COLD, PAGEOUT) never change memory contents:
    // they map pages that are there (POPULATE_WRITE as a write fault that
    // writes nothing, on a mapping the caller writes anyway), or reclaim
    // (dirty file pages are written first); POPULATE_* past the end of a
    // truncated file returns EFAULT instead of raising SIGBUS.
    unsafe { rustix::mm::madvise(addr, len, advice) }
}

/// Writes the dirty pages of [start, end) to the file and waits for them
/// (`msync(MS_SYNC)`).
fn sync(start: usize, end: usize) -> rustix::io::Result<()> {
    if end <= start {
        return Ok(());
    }
    let (addr, len) = pages(start, end);
    // SAFETY: as in `advise`, the pages belong to a slice borrowed for the
    // whole pass; msync writes the file's dirty pages to disk and changes
    // no memory.
    unsafe { rustix::mm::msync(addr, len, rustix::mm::MsyncFlags::SYNC) }
}

/// Reads [start, end) into the page cache and maps it
/// (`MADV_POPULATE_READ`: the kernel's fault-time read-ahead, in large
/// folios, for the whole window), writable for a pass that writes
/// (`MADV_POPULATE_WRITE`, so its writes take no fault). Only a hint: an
/// error (a kernel before 5.14, a truncated file, a full disk) leaves the
/// pages to be faulted in, where the error surfaces as the engine's.
fn populate(start: usize, end: usize, write: bool) {
    let advice = if write { rustix::mm::Advice::LinuxPopulateWrite } else { rustix::mm::Advice::LinuxPopulateRead };
    let _ = advise(start, end, advice);
}

/// Where a pass works: its bytes, whether it writes them, and how many of
/// them each of the pass's work units covers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Region {
    start: usize,
    bytes: usize,
    writes: bool,
    unit: usize,
}

impl Region {
    /// `xs`, read, `unit` bytes per work unit.
    pub(crate) fn read<T>(xs: &[T], unit: usize) -> Self {
        Self { start: xs.as_ptr() as usize, bytes: std::mem::size_of_val(xs), writes: false, unit: unit.max(1) }
    }

    /// `xs`, written (read first, as an in-place operation does), `unit`
    /// bytes per work unit.
    pub(crate) fn write<T>(xs: &mut [T], unit: usize) -> Self {
        Self { start: xs.as_ptr() as usize, bytes: std::mem::size_of_val(xs), writes: true, unit: unit.max(1) }
    }

    /// The bytes of units `lo..hi`, as addresses (clamped to the region).
    fn span(&self, lo: usize, hi: usize) -> (usize, usize) {
        (self.start + (lo * self.unit).min(self.bytes), self.start + (hi * self.unit).min(self.bytes))
    }
}

/// Runs `run` over `units` work units that cover each of `regions` in
/// order (unit `i` is bytes `i * unit ..` of each), as the hints in force
/// say: once over them all, or window by window in file order, with a
/// reader thread ahead and each window's pages released after. Returns
/// each call's result, in order. No regions: the pass is not one
/// contiguous run, and is left to the kernel.
///
/// A written window is released [`StreamHints::ahead`] windows later (at
/// least one), after `msync(MS_SYNC)` puts it on disk: dirty pages cannot
/// be dropped, and waiting for one window while the next are read and
/// computed keeps the disk busy. The last windows stay dirty for the
/// caller's flush. Only a shared mapping's pages are released: anonymous
/// memory (an in-memory array) or a private mapping's written pages would
/// go to swap.
pub(crate) fn in_windows<R>(regions: &[Region], units: usize, mut run: impl FnMut(Range<usize>) -> R) -> Vec<R> {
    if regions.is_empty() || units <= 1 || regions.iter().any(|r| r.bytes == 0) {
        return vec![run(0..units)];
    }
    let forced = setting();
    let hints = forced.unwrap_or_else(|| automatic_now(regions.iter().map(|r| r.bytes).sum()));
    if hints.window == 0 {
        return vec![run(0..units)];
    }
    let shared: Vec<bool> = regions.iter().map(|r| crate::guard::maps_file(r.start, r.start + r.bytes) == Some(true)).collect();
    if forced.is_none() && !shared.contains(&true) {
        return vec![run(0..units)]; // (the engine streams mapped files only)
    }
    let behind: Vec<Behind> = shared.iter().map(|&sh| if sh { hints.behind } else { Behind::Keep }).collect();
    let per = (hints.window / regions.iter().map(|r| r.unit).sum::<usize>()).max(1);
    let windows = units.div_ceil(per);
    let release = |k: usize| {
        for (r, &behind) in regions.iter().zip(&behind) {
            let (lo, hi) = r.span(k * per, (k + 1) * per);
            if r.writes && behind != Behind::Keep && sync(lo, hi).is_err() {
                continue; // (kept: the caller's flush reports the error)
            }
            let _ = match behind {
                Behind::Keep => Ok(()),
                Behind::Cold => advise(lo, hi, rustix::mm::Advice::LinuxCold),
                Behind::Release => advise(lo, hi, rustix::mm::Advice::LinuxPageOut),
            };
        }
    };
    let lag = if regions.iter().any(|r| r.writes) { hints.ahead.max(1) } else { 0 };
    let track = Track::default();
    std::thread::scope(|s| {
        let reader = (hints.ahead > 0).then(|| {
            std::thread::Builder::new().name("mmarray-read".into()).spawn_scoped(s, || {
                // However the reader ends (a panic included), the pass stops
                // waiting for it: the rest is simply faulted in.
                let _gone = track.on_drop(|st| st.ready = usize::MAX);
                for k in 0..windows {
                    if track.wait(|st| st.stop || k < st.done.saturating_add(hints.ahead)).stop {
                        return;
                    }
                    for r in regions {
                        let (lo, hi) = r.span(k * per, (k + 1) * per);
                        populate(lo, hi, r.writes);
                    }
                    track.update(|st| st.ready = k + 1);
                }
            })
        });
        // (a reader that could not start: the windows are simply faulted in)
        let reading = matches!(reader, Some(Ok(_)));
        // (the pass ended, early by a panic too: the reader stops waiting)
        let _stop = track.on_drop(|st| st.stop = true);
        let mut out = Vec::with_capacity(windows);
        for k in 0..windows {
            if reading {
                track.wait(|st| st.ready > k);
            }
            out.push(run(k * per..((k + 1) * per).min(units)));
            if k >= lag {
                release(k - lag);
            }
            track.update(|st| st.done = k + 1);
        }
        out
    })
}

/// Where a streamed pass and its reader thread are.
#[derive(Debug, Default, Clone, Copy)]
struct Progress {
    /// Windows faulted in by the reader.
    ready: usize,
    /// Windows processed by the pass.
    done: usize,
    /// The pass has ended (early, by a panic, too).
    stop: bool,
}

/// [`Progress`] shared by a pass and its reader.
#[derive(Default)]
struct Track {
    state: Mutex<Progress>,
    cv: Condvar,
}

impl Track {
    fn lock(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits until `ready(progress)`, and returns the progress then.
    fn wait(&self, ready: impl Fn(&Progress) -> bool) -> Progress {
        let mut st = self.lock();
        while !ready(&st) {
            st = self.cv.wait(st).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        *st
    }

    /// Changes the progress and wakes the other side.
    fn update(&self, change: impl FnOnce(&mut Progress)) {
        change(&mut self.lock());
        self.cv.notify_all();
    }

    /// Makes the [`update`](Self::update) `change` when the returned guard
    /// is dropped, however its scope ends.
    fn on_drop(&self, change: fn(&mut Progress)) -> impl Drop + '_ {
        struct OnDrop<'a>(&'a Track, fn(&mut Progress));
        impl Drop for OnDrop<'_> {
            fn drop(&mut self) {
                self.0.update(self.1);
            }
        }
        OnDrop(self, change)
    }
}

thread_local! {
    static PROGRESS: RefCell<Option<Arc<AtomicU64>>> = const { RefCell::new(None) };
}

/// Runs `f` with `counter` receiving the number of bytes each pass of the
/// engine has processed so far (from any thread), so a caller can show
/// progress (bytes done, throughput, ETA) from another thread.
///
/// ```
/// use std::sync::{atomic::{AtomicU64, Ordering}, Arc};
/// use mmarray::compute::{summary, with_progress, NanPolicy};
/// let a = ndarray::Array1::<f64>::ones(100_000);
/// let done = Arc::new(AtomicU64::new(0));
/// with_progress(done.clone(), || summary(&a.view(), NanPolicy::Propagate));
/// assert_eq!(done.load(Ordering::Relaxed), 800_000);
/// ```
pub fn with_progress<R>(counter: Arc<AtomicU64>, f: impl FnOnce() -> R) -> R {
    let old = PROGRESS.with(|p| p.replace(Some(counter)));
    let out = f();
    PROGRESS.with(|p| *p.borrow_mut() = old);
    out
}

/// The progress counter in force on this thread, if any.
pub(crate) fn progress() -> Option<Arc<AtomicU64>> {
    PROGRESS.with(|p| p.borrow().clone())
}

/// Adds `bytes` to `counter`, if there is one.
pub(crate) fn report(counter: Option<&Arc<AtomicU64>>, bytes: usize) {
    if let Some(c) = counter {
        c.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}
