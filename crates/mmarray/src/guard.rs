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
//! A cut that ends inside the last mapped page raises no `SIGBUS` (the rest
//! of that page reads as zeros), so the checks also compare the file's
//! length (`fstat` of the array's descriptor) with what the array needs.
//! What no check can see: a file cut and grown back to its old length
//! between two accesses (the lost bytes come back as zeros).
//!
//! Written by hand because no crate does this: memmap2 documents the
//! `SIGBUS` and leaves it to the caller. The handler only loads and stores
//! atomics and calls `mmap` and `sigaction` (plain system calls on Linux), so
//! it is async-signal-safe. If a library installs its own `SIGBUS` handler
//! after mmarray (Python's `faulthandler.enable()`, or its `disable()`, which
//! puts back the default), mmarray's is put back in front of it, chaining to
//! it, at the next mapping made and the next check ([`check_address`],
//! [`truncation`]).

use std::ffi::c_void;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;

use crate::error::{Error, ErrorKind};

/// Mappings guarded at once: more than the kernel's default limit of
/// mappings per process (`vm.max_map_count`, 65530), so in practice every
/// mapping; past it, mapping fails with an error rather than go unguarded.
const SLOTS: usize = 65536;

struct Slot {
    /// A sequence count, odd while the slot is being written: the handler
    /// reads `start` and `end` between two equal even counts, so it never
    /// pairs the start of one registration with the end of the next.
    seq: AtomicUsize,
    /// Page-aligned start of the range; 0 while the slot is free.
    start: AtomicUsize,
    /// Page-aligned end (exclusive).
    end: AtomicUsize,
    writable: AtomicBool,
    /// A shared mapping (writes reach the file), not a private one.
    shared: AtomicBool,
    poisoned: AtomicBool,
    /// Closed in place: the pages are anonymous memory now.
    closed: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)] // (each array element is its own atomic)
const FREE: Slot = Slot {
    seq: AtomicUsize::new(0),
    start: AtomicUsize::new(0),
    end: AtomicUsize::new(0),
    writable: AtomicBool::new(false),
    shared: AtomicBool::new(false),
    poisoned: AtomicBool::new(false),
    closed: AtomicBool::new(false),
};
static REGISTRY: [Slot; SLOTS] = [FREE; SLOTS];

/// One past the highest slot ever used: the handler and the checks scan
/// only `REGISTRY[..HIGH]` (slots are taken lowest first, so this stays
/// near the number of live mappings).
static HIGH: AtomicUsize = AtomicUsize::new(0);

/// The registered slots that may be in use.
fn used() -> &'static [Slot] {
    &REGISTRY[..HIGH.load(SeqCst).min(SLOTS)]
}

/// The handler that was installed before ours (a leaked `sigaction`), or null.
static PREVIOUS: AtomicPtr<libc::sigaction> = AtomicPtr::new(std::ptr::null_mut());

/// What a slot maps, for the checks (normal context only).
struct Entry {
    path: PathBuf,
    /// The array's own descriptor, valid while the slot is registered and
    /// not closed (the array unregisters before it closes its file).
    fd: RawFd,
    /// The file length the array needs (offset + data bytes).
    needed: u64,
}

/// Normal-context bookkeeping: what each slot maps, and the released
/// mappings that were truncated (for [`truncation`]).
struct Book {
    entries: Vec<Option<Entry>>,
    truncated: Vec<Lost>,
}
/// A released mapping that had lost data, for [`truncation`].
#[derive(Debug)]
struct Lost {
    path: PathBuf,
    now: Option<u64>,
    needed: u64,
    free: Option<u64>,
    /// An access faulted (zeros were read, or writes lost), not only a
    /// shorter file seen at release.
    faulted: bool,
}

impl Lost {
    fn error(&self) -> Error {
        match self.now {
            Some(n) if n >= self.needed => page_lost(&self.path, self.free),
            _ => truncated(&self.path, self.now, None),
        }
    }
}

static BOOK: Mutex<Book> = Mutex::new(Book { entries: Vec::new(), truncated: Vec::new() });

fn book() -> std::sync::MutexGuard<'static, Book> {
    BOOK.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The file's length now, through a descriptor.
fn length(fd: RawFd) -> Option<u64> {
    // SAFETY: the caller passes a descriptor that is open (see `Entry::fd`);
    // it is only borrowed for the fstat.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    rustix::fs::fstat(fd).ok().and_then(|st| u64::try_from(st.st_size).ok())
}

/// A registered mapping; unregisters when dropped, which must happen before
/// the range is unmapped (so the handler never claims an address that a
/// later, unrelated mapping reuses) and before the array's file is closed.
#[derive(Debug)]
pub(crate) struct Guard {
    slot: Option<usize>,
}

impl Guard {
    /// No range (an empty array, or a closed one).
    pub(crate) const NONE: Guard = Guard { slot: None };

    /// Registers the pages holding `bytes`, a mapping (`shared` or private)
    /// of the file at `path` open as `fd`, which must be at least `needed`
    /// bytes long.
    ///
    /// # Errors
    /// [`ErrorKind::Io`] if every slot is taken.
    pub(crate) fn register(bytes: &[u8], writable: bool, shared: bool, path: &Path, fd: RawFd, needed: u64) -> Result<Guard, Error> {
        if bytes.is_empty() {
            return Ok(Guard::NONE);
        }
        let page = rustix::param::page_size();
        let start = bytes.as_ptr() as usize & !(page - 1);
        let end = (bytes.as_ptr() as usize + bytes.len()).div_ceil(page) * page;
        let mut book = book();
        install();
        let Some(i) = (0..SLOTS).find(|&i| REGISTRY[i].start.load(SeqCst) == 0) else {
            return Err(Error::at(ErrorKind::Io, path, format_args!("cannot guard another mapping: {SLOTS} are in use")));
        };
        HIGH.fetch_max(i + 1, SeqCst); // (before the slot is published)
        let slot = &REGISTRY[i];
        slot.seq.fetch_add(1, SeqCst); // (odd: being written)
        slot.end.store(end, SeqCst);
        slot.writable.store(writable, SeqCst);
        slot.shared.store(shared, SeqCst);
        slot.poisoned.store(false, SeqCst);
        slot.closed.store(false, SeqCst);
        slot.start.store(start, SeqCst); // published last: the handler reads start first
        slot.seq.fetch_add(1, SeqCst);
        if book.entries.len() < SLOTS {
            book.entries.resize_with(SLOTS, || None);
        }
        book.entries[i] = Some(Entry { path: path.to_path_buf(), fd, needed });
        Ok(Guard { slot: Some(i) })
    }

    /// Whether a fault inside the range replaced part of it with zeros.
    pub(crate) fn poisoned(&self) -> bool {
        self.slot.is_some_and(|i| REGISTRY[i].poisoned.load(SeqCst))
    }

    /// Records that the range was closed in place (see [`check_address`]).
    /// Call before closing the array's file: under the book's lock, so no
    /// check is between reading "not closed" and its `fstat` of the
    /// descriptor about to be closed (and perhaps reused).
    pub(crate) fn mark_closed(&self) {
        if let Some(i) = self.slot {
            let _book = book();
            REGISTRY[i].closed.store(true, SeqCst);
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(i) = self.slot.take() {
            let mut book = book();
            let entry = book.entries[i].take();
            let slot = &REGISTRY[i];
            if let Some(e) = entry {
                let closed = slot.closed.load(SeqCst);
                let now = if closed { None } else { length(e.fd) };
                if slot.poisoned.load(SeqCst) || now.is_some_and(|n| n < e.needed) {
                    // SAFETY: the descriptor is still open (the Guard drops first).
                    let fd = (!closed).then(|| unsafe { std::os::fd::BorrowedFd::borrow_raw(e.fd) });
                    let free = fd.and_then(crate::storage::available_bytes);
                    book.truncated.push(Lost { path: e.path, now, needed: e.needed, free, faulted: slot.poisoned.load(SeqCst) });
                }
            }
            slot.seq.fetch_add(1, SeqCst);
            slot.start.store(0, SeqCst);
            slot.seq.fetch_add(1, SeqCst);
        }
    }
}

/// The error for a mapping of `path` that lost data to a truncation: it
/// names the file, its length `now` (if known) and, when known, how many
/// bytes the array needs.
pub(crate) fn truncated(path: &Path, now: Option<u64>, needed: Option<u64>) -> Error {
    let now = now.map_or_else(|| "was truncated".to_string(), |n| format!("was truncated to {n} bytes"));
    let needs = needed.map_or(String::new(), |n| format!(" (the array needs {n} bytes)"));
    Error::at(ErrorKind::Truncated, path, format_args!("{now} while in use{needs}: what was read past its end was zeros, not the file's data, and writes there were lost"))
}

/// The error for a mapping that faulted although its file is still long
/// enough: the kernel could not fill or keep a page. On a full file system
/// (`free`: its available bytes, under a page) a hole of a sparse file had
/// no space for a written page ([`ErrorKind::NoSpace`]); otherwise an I/O
/// error ([`ErrorKind::Io`], errno `EIO`).
fn page_lost(path: &Path, free: Option<u64>) -> Error {
    let page = rustix::param::page_size() as u64;
    let what = "what was read there was zeros, not the file's data, and writes there were lost";
    if free.is_some_and(|f| f < page) {
        Error::at(ErrorKind::NoSpace, path, format_args!("no space left on the device for a page written while in use (a hole of a sparse file: its space was never reserved): {what}"))
    } else {
        Error::at(ErrorKind::Io, path, format_args!("a page could not be read or written while in use (an I/O error, or no space for a hole of a sparse file): {what}"))
    }
}

/// The error of a mapping that lost data: a truncation if the file is now
/// shorter than the array needs (or its length is unknown), else a lost page.
pub(crate) fn lost(path: &Path, fd: Option<std::os::fd::BorrowedFd<'_>>, now: Option<u64>, needed: u64) -> Error {
    match now {
        Some(n) if n >= needed => page_lost(path, fd.and_then(crate::storage::available_bytes)),
        _ => truncated(path, now, Some(needed)),
    }
}

/// The truncation error of slot `i` (live, not closed), if it lost data:
/// a fault in its range, or a file now shorter than the array.
fn slot_truncation(i: usize, e: &Entry) -> Option<Error> {
    let now = length(e.fd);
    let short = now.is_some_and(|n| n < e.needed);
    // SAFETY: as in `length`: the descriptor is open while its entry is live.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(e.fd) };
    (REGISTRY[i].poisoned.load(SeqCst) || short).then(|| lost(&e.path, Some(fd), now, e.needed))
}

/// The error of [`ErrorKind::Truncated`] if any mapping made in this
/// process, live or released, lost data to a truncation; it names one such
/// file.
///
/// How mmarray survives a truncation: every mapping an
/// [`MmapArray`](crate::MmapArray) makes is registered with a `SIGBUS`
/// handler (installed with the first mapping, and again in front of any
/// handler installed later, which it then chains to). A bad-address fault
/// inside a registered range maps anonymous zero pages over the rest of the
/// range, marks it truncated and lets the access complete; any other
/// `SIGBUS` goes to the previous handler, or the default action, as if
/// mmarray were not there. A cut inside the last page raises no fault (the
/// rest of the page reads as zeros): the checks compare the file's length
/// too. For programs that check once, before they print a result or keep
/// an output, whatever arrays the work went through (the `mmarray` command
/// does). Arrays report their own truncation from every later typed access
/// and from [`MmapArray::check_intact`](crate::MmapArray::check_intact).
#[must_use]
pub fn truncation() -> Option<Error> {
    let book = book();
    install();
    live_loss(&book, false).or_else(|| book.truncated.first().map(Lost::error))
}

/// The loss of the first live (registered, not closed) mapping that lost
/// data; with `faulted_only`, only of one an access faulted on.
fn live_loss(book: &Book, faulted_only: bool) -> Option<Error> {
    book.entries.iter().take(used().len()).enumerate().find_map(|(i, e)| {
        let e = e.as_ref()?;
        let slot = &REGISTRY[i];
        let live = slot.start.load(SeqCst) != 0 && !slot.closed.load(SeqCst);
        (live && (!faulted_only || slot.poisoned.load(SeqCst))).then(|| slot_truncation(i, e)).flatten()
    })
}

/// Like [`truncation`], for faults only: the error if an access to any
/// mapping made in this process (live or released) faulted on pages a
/// truncation (or a full disk) took away, so zeros were read or writes lost.
/// A file cut after the last access, or inside a last page no access
/// faulted on, is not reported. For a program's last check, after its
/// result was delivered (checked with [`truncation`] at that point).
#[must_use]
pub fn faults() -> Option<Error> {
    let book = book();
    live_loss(&book, true).or_else(|| book.truncated.iter().find(|l| l.faulted).map(Lost::error))
}

/// Checks the live mmarray mapping holding the byte at `addr`, if any:
/// [`ErrorKind::Truncated`] if it lost data to a truncation of its file,
/// [`ErrorKind::Closed`] if it was closed in place
/// ([`MmapArray::close_in_place`](crate::MmapArray::close_in_place)), both
/// naming the file. For code that reaches mapped data through foreign
/// pointers: the Python bindings check each NumPy array's data address
/// before and after a computation, so a result computed while another thread
/// closed the array, or another process truncated its file, is an error,
/// never zeros taken for data. (It also puts mmarray's `SIGBUS` handler
/// back in front if another was installed since.)
///
/// # Errors
/// As above; `Ok` for an address no mmarray mapping holds.
pub fn check_address(addr: usize) -> Result<(), Error> {
    let book = book();
    install();
    let Some(i) = used().iter().position(|s| {
        let start = s.start.load(SeqCst);
        start != 0 && start <= addr && addr < s.end.load(SeqCst)
    }) else {
        return Ok(());
    };
    let Some(e) = book.entries.get(i).and_then(Option::as_ref) else {
        return Ok(());
    };
    if REGISTRY[i].closed.load(SeqCst) {
        return Err(Error::at(ErrorKind::Closed, &e.path, "the array was closed (while in use, if it was not closed before)"));
    }
    slot_truncation(i, e).map_or(Ok(()), Err)
}

/// Whether [start, end) lies inside one live (not closed) mmarray mapping
/// of a file, and if so whether it is shared: what the engine may page out
/// behind a pass (anonymous memory, or a private mapping's written pages,
/// paged out would go to swap). Lock-free: reads the registry as the
/// handler does.
pub(crate) fn maps_file(start: usize, end: usize) -> Option<bool> {
    used().iter().find_map(|s| {
        let seq = s.seq.load(SeqCst);
        let (lo, hi) = (s.start.load(SeqCst), s.end.load(SeqCst));
        let shared = s.shared.load(SeqCst);
        let live = seq % 2 == 0 && lo != 0 && lo <= start && end <= hi && !s.closed.load(SeqCst);
        (live && s.seq.load(SeqCst) == seq).then_some(shared)
    })
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
        for slot in used() {
            let seq = slot.seq.load(SeqCst);
            let start = slot.start.load(SeqCst);
            if start == 0 || addr < start || seq % 2 == 1 {
                continue;
            }
            let end = slot.end.load(SeqCst);
            if addr >= end || slot.seq.load(SeqCst) != seq {
                continue; // (or re-registered meanwhile: not one range)
            }
            let page = addr & !(rustix::param::page_size() - 1);
            let prot = if slot.writable.load(SeqCst) { libc::PROT_READ | libc::PROT_WRITE } else { libc::PROT_READ };
            // SAFETY: [page, end) lies inside a registered mapping, which
            // stays mapped until its Guard drops (before the unmap).
            // MAP_FIXED replaces those pages with anonymous zero pages in one
            // step, so no other mapping is touched and the access that
            // faulted finds memory when the handler returns.
            let r = unsafe {
                // (NORESERVE: the zero pages of a range larger than RAM
                // plus swap must not be refused under strict accounting of
                // private writable memory; they take memory only if written)
                libc::mmap(page as *mut c_void, end - page, prot, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED | libc::MAP_NORESERVE, -1, 0)
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
    // SAFETY: info is valid (see on_sigbus).
    let sent = unsafe { (*info).si_code } <= 0;
    // SAFETY: as above.
    let addr = unsafe { (*info).si_addr() } as usize;
    // A fault at the address the previous handler was just called for: it
    // returned without repairing it (a disabled faulthandler, a Python-level
    // handler), and the fault would re-run for ever. Take the default action
    // instead, as the process would without mmarray.
    let looping = !sent && LAST_CHAINED.swap(addr, SeqCst) == addr;
    let handler = if looping { libc::SIG_DFL } else { handler };
    if handler == libc::SIG_IGN && sent && !reentered {
        // kill(pid, SIGBUS) to a process that ignores it: ignored, as
        // without mmarray (a fault cannot be ignored: default action below)
        CHAINING.store(false, SeqCst);
        return;
    }
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        // SAFETY: a zeroed sigaction with SIG_DFL is the default action.
        let mut dfl: libc::sigaction = unsafe { std::mem::zeroed() };
        dfl.sa_sigaction = libc::SIG_DFL;
        // SAFETY: restoring the default action is async-signal-safe.
        unsafe { libc::sigaction(sig, &dfl, std::ptr::null_mut()) };
        if sent {
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

/// The fault address [`chain`] last handed to the previous handler.
static LAST_CHAINED: AtomicUsize = AtomicUsize::new(0);

#[cfg(test)]
mod tests {
    use super::maps_file;
    use crate::{DType, Mode, MmapArray, NpyOptions, ScalarKind};

    /// What the engine may page out behind a pass: a shared mapping's
    /// pages, not a private one's, not anonymous memory, not a mapping
    /// once it is gone.
    #[test]
    fn maps_file_tells_shared_private_and_unmapped_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npy");
        // SAFETY: the test's own new file; nothing else opens it meanwhile.
        let a = unsafe { NpyOptions::new(DType::native(ScalarKind::F64), &[100_000]).create(&path).unwrap() };
        a.close().unwrap();
        let span = |a: &MmapArray| {
            let b = a.as_bytes();
            (b.as_ptr() as usize + 8, b.as_ptr() as usize + b.len())
        };
        for (mode, want) in [(Mode::ReadOnly, Some(true)), (Mode::ReadWrite, Some(true)), (Mode::CopyOnWrite, Some(false))] {
            // SAFETY: the test's own file; nothing else changes it meanwhile.
            let a = unsafe { MmapArray::open_npy(&path, mode).unwrap() };
            let (lo, hi) = span(&a);
            assert_eq!(maps_file(lo, hi), want, "{mode:?}");
            assert_eq!(maps_file(lo, hi + (1 << 30)), None, "past its end, {mode:?}");
            drop(a);
            assert_eq!(maps_file(lo, hi), None, "after it is dropped, {mode:?}");
        }
        let v = vec![0u8; 1 << 20];
        assert_eq!(maps_file(v.as_ptr() as usize, v.as_ptr() as usize + v.len()), None);
    }
}
