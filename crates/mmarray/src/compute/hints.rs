//! Page-cache hints for a pass over a (mapped) array: read ahead of the
//! cursor, and let go of what is behind it, so a pass over a file larger
//! than RAM neither waits on every page nor pushes everything else out of
//! memory and grows the process's resident size without bound.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

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
    /// read again if touched), Linux 5.4+.
    Release,
}

/// Hints for the passes run inside [`with_hints`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamHints {
    /// Ask the kernel to start reading this many bytes ahead of the cursor
    /// (`MADV_WILLNEED`); 0 leaves read-ahead to the kernel.
    pub read_ahead: usize,
    /// What to do with processed pages.
    pub behind: Behind,
}

impl StreamHints {
    /// For a pass over data much larger than RAM: read 64 MiB ahead, release
    /// what is done.
    #[must_use]
    pub fn larger_than_ram() -> Self {
        Self { read_ahead: 64 << 20, behind: Behind::Release }
    }
}

thread_local! {
    static HINTS: Cell<StreamHints> = const { Cell::new(StreamHints { read_ahead: 0, behind: Behind::Keep }) };
}

/// Runs `f` with `hints` applied to every contiguous pass the engine makes
/// from this thread (reductions, quantiles, histograms).
///
/// ```
/// use mmarray::compute::{with_hints, summary, NanPolicy, StreamHints};
/// let a = ndarray::Array1::<f32>::ones(1 << 20);
/// let m = with_hints(StreamHints::larger_than_ram(), || summary(&a.view(), NanPolicy::Propagate));
/// assert_eq!(m.mean(), 1.0);
/// ```
pub fn with_hints<R>(hints: StreamHints, f: impl FnOnce() -> R) -> R {
    let old = HINTS.with(|h| h.replace(hints));
    let out = f();
    HINTS.with(|h| h.set(old));
    out
}

/// The hints in force on this thread.
pub(crate) fn current() -> StreamHints {
    HINTS.with(Cell::get)
}

fn advise<T>(xs: &[T], advice: rustix::mm::Advice) {
    if xs.is_empty() {
        return;
    }
    let page = rustix::param::page_size();
    let start = xs.as_ptr() as usize;
    let end = start + std::mem::size_of_val(xs);
    let aligned = start & !(page - 1);
    // SAFETY: [aligned, end) covers only pages that hold bytes of `xs`,
    // which are mapped while the borrow lives. WILLNEED, COLD and PAGEOUT
    // never change memory contents (they only steer read-ahead and
    // reclaim), so any memory, file-backed or anonymous, stays intact.
    let _ = unsafe { rustix::mm::madvise(aligned as *mut std::ffi::c_void, end - aligned, advice) };
}

/// Applies `hints` around the processing of `done` (just processed) within
/// `all` (the whole contiguous pass): read ahead of it, release it.
pub(crate) fn around<T>(hints: StreamHints, all: &[T], start: usize, len: usize) {
    let size = std::mem::size_of::<T>().max(1);
    if hints.read_ahead > 0 {
        let ahead = start + len + hints.read_ahead / size;
        if ahead < all.len() {
            advise(&all[ahead..(ahead + len).min(all.len())], rustix::mm::Advice::WillNeed);
        }
    }
    let done = &all[start..(start + len).min(all.len())];
    match hints.behind {
        Behind::Keep => {}
        Behind::Cold => advise(done, rustix::mm::Advice::LinuxCold),
        Behind::Release => advise(done, rustix::mm::Advice::LinuxPageOut),
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
