//! The truncation guard: a file cut short under a live mapping becomes an
//! error ([`ErrorKind::Truncated`]), not a `SIGBUS` that kills the process.
//!
//! Every mapping an [`MmapArray`](crate::MmapArray) makes is registered here
//! (its page range, in a fixed table of atomics). A `SIGBUS` handler, installed
//! the first time a mapping is registered, looks the faulting address up:
//! - inside a registered range, it maps anonymous zero pages over the rest of
//!   that range, from the faulting page on (`mmap(MAP_FIXED)`), marks the
//!   range poisoned and returns, so the faulting access completes (reading
//!   zeros, or writing to memory that reaches no file). One fault per thread
//!   and range, whatever the length lost. The operation then checks the mark
//!   and returns the error; later typed access to the array fails with it.
//! - anywhere else (or a `SIGBUS` that is not a bad-address fault), it hands
//!   the signal to the handler installed before it: Python's `faulthandler`,
//!   Rust's stack-overflow handler, another library's; with none, the default
//!   action kills the process as before.
//!
//! Written by hand because no crate does this: memmap2 documents the
//! `SIGBUS` and leaves it to the caller. The handler only loads and stores
//! atomics and calls `mmap` and `sigaction` (plain system calls on Linux), so
//! it is async-signal-safe. If a library installs its own `SIGBUS` handler
//! after mmarray (Python's `faulthandler.enable()`), the next mapping made
//! reinstalls mmarray's in front of it, chaining to it.

use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;

use crate::error::{Error, ErrorKind};

/// Mappings guarded at once; more are mapped unguarded (as before the guard).
const SLOTS: usize = 4096;

struct Slot {
    /// Page-aligned start of the range; 0 while the slot is free.
    start: AtomicUsize,
    /// Page-aligned end (exclusive).
    end: AtomicUsize,
    writable: AtomicBool,
    poisoned: AtomicBool,
    /// Closed in place: the pages are anonymous memory now.
    closed: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)] // (each array element is its own atomic)
const FREE: Slot = Slot {
    start: AtomicUsize::new(0),
    end: AtomicUsize::new(0),
    writable: AtomicBool::new(false),
    poisoned: AtomicBool::new(false),
    closed: AtomicBool::new(false),
};
static REGISTRY: [Slot; SLOTS] = [FREE; SLOTS];

/// The handler that was installed before ours (a leaked `sigaction`), or null.
static PREVIOUS: AtomicPtr<libc::sigaction> = AtomicPtr::new(std::ptr::null_mut());

/// Normal-context bookkeeping: which file each slot maps, and the files of
/// released mappings that were truncated (for [`take_truncation`]).
struct Book {
    paths: Vec<Option<PathBuf>>,
    truncated: Vec<PathBuf>,
}
static BOOK: Mutex<Book> = Mutex::new(Book { paths: Vec::new(), truncated: Vec::new() });

fn book() -> std::sync::MutexGuard<'static, Book> {
    BOOK.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A registered mapping; unregisters when dropped, which must happen before
/// the range is unmapped (so the handler never claims an address that a
/// later, unrelated mapping reuses).
#[derive(Debug)]
pub(crate) struct Guard {
    slot: Option<usize>,
}

impl Guard {
    /// No range (an empty array, or a closed one).
    pub(crate) const NONE: Guard = Guard { slot: None };

    /// Registers the pages holding `bytes`, a mapping of the file at `path`.
    /// If the table is full the mapping is simply not guarded.
    pub(crate) fn register(bytes: &[u8], writable: bool, path: &Path) -> Guard {
        if bytes.is_empty() {
            return Guard::NONE;
        }
        let page = rustix::param::page_size();
        let start = bytes.as_ptr() as usize & !(page - 1);
        let end = (bytes.as_ptr() as usize + bytes.len()).div_ceil(page) * page;
        let mut book = book();
        install();
        let Some(i) = REGISTRY.iter().position(|s| s.start.load(SeqCst) == 0) else {
            return Guard::NONE;
        };
        let slot = &REGISTRY[i];
        slot.end.store(end, SeqCst);
        slot.writable.store(writable, SeqCst);
        slot.poisoned.store(false, SeqCst);
        slot.closed.store(false, SeqCst);
        slot.start.store(start, SeqCst); // published last: the handler reads start first
        if book.paths.len() < SLOTS {
            book.paths.resize(SLOTS, None);
        }
        book.paths[i] = Some(path.to_path_buf());
        Guard { slot: Some(i) }
    }

    /// Whether a fault inside the range replaced part of it with zeros.
    pub(crate) fn poisoned(&self) -> bool {
        self.slot.is_some_and(|i| REGISTRY[i].poisoned.load(SeqCst))
    }

    /// Records that the range was closed in place (see [`check_address`]).
    pub(crate) fn mark_closed(&self) {
        if let Some(i) = self.slot {
            REGISTRY[i].closed.store(true, SeqCst);
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(i) = self.slot.take() {
            let mut book = book();
            let path = book.paths[i].take();
            if REGISTRY[i].poisoned.load(SeqCst) {
                book.truncated.extend(path);
            }
            REGISTRY[i].start.store(0, SeqCst);
        }
    }
}

/// The error for a mapping of `path` that lost pages to a truncation: it
/// names the file, its length now (if it can still be read) and, when
/// known, how many bytes the array needs.
pub(crate) fn truncated(path: &Path, needed: Option<u64>) -> Error {
    let now = std::fs::metadata(path).map_or_else(|_| "was truncated".to_string(), |m| format!("was truncated to {} bytes", m.len()));
    let needs = needed.map_or(String::new(), |n| format!(" (the array needs {n} bytes)"));
    Error::at(ErrorKind::Truncated, path, format_args!("{now} while in use{needs}: what was read past its end was zeros, not the file's data, and writes there were lost"))
}

/// The error of [`ErrorKind::Truncated`] if any mapping made in this
/// process, live or released, lost pages to a truncation; it names one such
/// file.
///
/// How mmarray survives a truncation: every mapping an
/// [`MmapArray`](crate::MmapArray) makes is registered with a `SIGBUS`
/// handler (installed with the first mapping, and again in front of any
/// handler installed later, which it then chains to). A bad-address fault
/// inside a registered range maps anonymous zero pages over the rest of the
/// range, marks it truncated and lets the access complete; any other
/// `SIGBUS` goes to the previous handler, or the default action, as if
/// mmarray were not there. For programs that check once, before they print a result or keep an
/// output, whatever arrays the work went through (the `mmarray` command
/// does). Arrays report their own truncation from every later typed access
/// and from [`MmapArray::check_intact`](crate::MmapArray::check_intact).
#[must_use]
pub fn truncation() -> Option<Error> {
    let book = book();
    let live = REGISTRY
        .iter()
        .enumerate()
        .find(|(_, s)| s.start.load(SeqCst) != 0 && s.poisoned.load(SeqCst))
        .and_then(|(i, _)| book.paths.get(i).cloned().flatten());
    let path = live.or_else(|| book.truncated.first().cloned())?;
    drop(book);
    Some(truncated(&path, None))
}

/// Checks the live mmarray mapping holding the byte at `addr`, if any:
/// [`ErrorKind::Truncated`] if it lost pages to a truncation of its file,
/// [`ErrorKind::Closed`] if it was closed in place
/// ([`MmapArray::close_in_place`](crate::MmapArray::close_in_place)), both
/// naming the file. For code that reaches mapped data through foreign
/// pointers: the Python bindings check each NumPy array's data address
/// before and after a computation, so a result computed while another thread
/// closed the array, or another process truncated its file, is an error,
/// never zeros taken for data.
///
/// # Errors
/// As above; `Ok` for an address no mmarray mapping holds.
pub fn check_address(addr: usize) -> Result<(), Error> {
    let book = book();
    let Some(i) = REGISTRY.iter().position(|s| {
        let start = s.start.load(SeqCst);
        start != 0 && start <= addr && addr < s.end.load(SeqCst)
    }) else {
        return Ok(());
    };
    let (poisoned, closed) = (REGISTRY[i].poisoned.load(SeqCst), REGISTRY[i].closed.load(SeqCst));
    let Some(path) = book.paths.get(i).cloned().flatten() else {
        return Ok(());
    };
    drop(book);
    if poisoned {
        return Err(truncated(&path, None));
    }
    if closed {
        return Err(Error::at(ErrorKind::Closed, &path, "the array was closed (while in use, if it was not closed before)"));
    }
    Ok(())
}

/// Installs the handler unless it is already the current one (called with
/// the book locked, so installs do not race).
fn install() {
    // SAFETY: sigaction with a null new action only reads the current one
    // into `cur`, a zeroed plain-data struct.
    let mut cur: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut cur) } != 0 {
        return;
    }
    if cur.sa_sigaction == on_sigbus as *const () as usize {
        return;
    }
    // SAFETY: a zeroed sigaction is a valid value; we fill the handler, its
    // flags and an empty mask. SA_ONSTACK runs it on an alternate stack if
    // the thread has one (Rust's threads do), SA_SIGINFO passes the address,
    // SA_NODEFER lets a handler we chain to send SIGBUS back at once (as
    // faulthandler does), which `chain` then sees as re-entry.
    let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
    act.sa_sigaction = on_sigbus as *const () as usize;
    act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
    // SAFETY: sa_mask is a valid sigset_t to initialize.
    unsafe { libc::sigemptyset(&mut act.sa_mask) };
    let previous = Box::into_raw(Box::new(cur));
    PREVIOUS.store(previous, SeqCst); // (the replaced one is leaked: a handler may still read it)
    // SAFETY: installs a handler that is async-signal-safe (see the module
    // docs); the previous action was saved above for chaining.
    unsafe { libc::sigaction(libc::SIGBUS, &act, std::ptr::null_mut()) };
}

extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    // SAFETY: the kernel passes a valid siginfo_t with SA_SIGINFO.
    let (code, addr) = unsafe { ((*info).si_code, (*info).si_addr() as usize) };
    if code == libc::BUS_ADRERR {
        for slot in &REGISTRY {
            let start = slot.start.load(SeqCst);
            if start == 0 || addr < start {
                continue;
            }
            let end = slot.end.load(SeqCst);
            if addr >= end {
                continue;
            }
            let page = addr & !(rustix::param::page_size() - 1);
            let prot = if slot.writable.load(SeqCst) { libc::PROT_READ | libc::PROT_WRITE } else { libc::PROT_READ };
            // SAFETY: [page, end) lies inside a registered mapping, which
            // stays mapped until its Guard drops (before the unmap).
            // MAP_FIXED replaces those pages with anonymous zero pages in one
            // step, so no other mapping is touched and the access that
            // faulted finds memory when the handler returns.
            let r = unsafe {
                libc::mmap(page as *mut c_void, end - page, prot, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED, -1, 0)
            };
            if r != libc::MAP_FAILED {
                slot.poisoned.store(true, SeqCst);
                return;
            }
        }
    }
    // SAFETY: chaining with the arguments we were given.
    unsafe { chain(sig, info, ctx) }
}

/// Hands the signal to the previous handler; with none (or the default),
/// restores the default action so the fault, re-run on return, kills the
/// process with `SIGBUS` as it would have without mmarray.
///
/// # Safety
/// Only from the signal handler, with its arguments.
unsafe fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    let prev = PREVIOUS.load(SeqCst);
    // Re-entered while chaining: the handler we called sent the signal back
    // to us (Python's faulthandler restores the handler it found, which can
    // be ours, and raises again). Take the default action, or the two would
    // call each other for ever.
    let reentered = CHAINING.swap(true, SeqCst);
    let handler = if prev.is_null() || reentered {
        libc::SIG_DFL
    } else {
        // SAFETY: PREVIOUS points to a leaked, never-freed sigaction.
        unsafe { (*prev).sa_sigaction }
    };
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        // SAFETY: a zeroed sigaction with SIG_DFL is the default action.
        let mut dfl: libc::sigaction = unsafe { std::mem::zeroed() };
        dfl.sa_sigaction = libc::SIG_DFL;
        // SAFETY: restoring the default action is async-signal-safe.
        unsafe { libc::sigaction(sig, &dfl, std::ptr::null_mut()) };
        // SAFETY: info is valid (see on_sigbus).
        if unsafe { (*info).si_code } <= 0 {
            // sent by kill() or raise(): no fault will re-run, send it again
            // SAFETY: raise is async-signal-safe.
            unsafe { libc::raise(sig) };
        }
        return;
    }
    // SAFETY: PREVIOUS is non-null here (a non-default handler was read).
    let flags = unsafe { (*prev).sa_flags };
    if flags & libc::SA_SIGINFO != 0 {
        // SAFETY: with SA_SIGINFO the previous handler has this signature.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut c_void) = unsafe { std::mem::transmute(handler) };
        f(sig, info, ctx);
    } else {
        // SAFETY: without SA_SIGINFO it is a plain sa_handler.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(handler) };
        f(sig);
    }
    CHAINING.store(false, SeqCst);
}

/// Set while [`chain`] runs the previous handler.
static CHAINING: AtomicBool = AtomicBool::new(false);
