//! How many threads the engine computes on: one setting for the process,
//! read once from `MMARRAY_THREADS` or set by [`set_threads`] (the CLI's
//! `--threads`, Python's `mmarray.set_threads`), applied by [`install`].
//!
//! The engine's parallel loops are rayon's: they run on whichever rayon pool
//! the calling thread is in. With no setting that is rayon's global pool
//! (one thread per core, or `RAYON_NUM_THREADS`), and [`install`] runs its
//! work directly, so the default costs nothing. With a setting, [`install`]
//! runs the work on a pool of exactly that many threads, built once and
//! kept until the setting changes. A crate user who manages rayon pools
//! already can ignore all this and call the engine from inside their own
//! `ThreadPool::install`.

use std::sync::{Arc, Mutex};

use crate::error::{Error, ErrorKind, Result};

/// The environment variable read by [`set_threads`]`(None)`: a positive
/// thread count, or `0` (or unset, or empty) for one thread per core.
pub const THREADS_ENV: &str = "MMARRAY_THREADS";

/// The setting: `None` for rayon's global pool, else our own pool.
static POOL: Mutex<Option<Arc<rayon::ThreadPool>>> = Mutex::new(None);

/// Parses a thread count as `MMARRAY_THREADS` and `--threads` take it: a
/// positive integer, or `0` for one thread per core (that many, counted
/// now: [`std::thread::available_parallelism`]).
///
/// ```
/// use mmarray::compute::parse_threads;
/// assert_eq!(parse_threads("4", "--threads")?, 4);
/// assert!(parse_threads(" 0 ", "--threads")? >= 1);
/// assert!(parse_threads("four", "--threads").is_err());
/// # Ok::<(), mmarray::Error>(())
/// ```
///
/// # Errors
/// [`ErrorKind::InvalidArgument`] naming `what` and the text.
pub fn parse_threads(text: &str, what: &str) -> Result<usize> {
    let bad = || {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("{what}={text:?} is not a thread count: expected an integer from 1 to {MAX_THREADS}, or 0 for one thread per core"),
        )
    };
    text.trim().parse::<usize>().ok().and_then(thread_count).ok_or_else(bad)
}

/// A requested thread count as [`set_threads`] takes it: `0` becomes one
/// thread per core (counted now: [`std::thread::available_parallelism`]);
/// `None` for more than any machine has.
///
/// ```
/// use mmarray::compute::thread_count;
/// assert_eq!(thread_count(3), Some(3));
/// assert!(thread_count(0) >= Some(1));
/// assert_eq!(thread_count(1 << 40), None);
/// ```
#[must_use]
pub fn thread_count(n: usize) -> Option<usize> {
    match n {
        0 => Some(std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)),
        n if n <= MAX_THREADS => Some(n),
        _ => None,
    }
}

/// More threads than this is a typo, not a machine (and each costs a stack).
const MAX_THREADS: usize = 4096;

/// Sets the number of threads the engine computes on from now on, in the
/// whole process: `Some(n)` for exactly `n`, `None` for the default, which
/// is [`THREADS_ENV`] if it is set and one thread per core otherwise.
/// Work already running keeps the pool it started on. With no count and
/// no variable this starts no thread (rayon's global pool starts on first
/// use), so calling it at start-up costs nothing.
///
/// ```
/// use mmarray::compute::{install, set_threads, threads};
/// set_threads(Some(1))?;
/// assert_eq!((threads(), install(rayon::current_num_threads)), (1, 1));
/// set_threads(None)?;
/// assert_eq!(threads(), install(rayon::current_num_threads));
/// # Ok::<(), mmarray::Error>(())
/// ```
///
/// # Errors
/// [`ErrorKind::InvalidArgument`] for `Some(0)`, or when `n` is `None` and
/// [`THREADS_ENV`] holds something other than a thread count (see
/// [`parse_threads`]); [`ErrorKind::Io`] if the operating system refuses to
/// start the threads. The setting is unchanged after an error.
pub fn set_threads(n: Option<usize>) -> Result<()> {
    let n = match n {
        Some(0) => return Err(Error::new(ErrorKind::InvalidArgument, "a thread count must be at least 1")),
        Some(n) if n > MAX_THREADS => {
            return Err(Error::new(ErrorKind::InvalidArgument, format!("{n} threads is more than {MAX_THREADS}")))
        }
        Some(n) => Some(n),
        None => match std::env::var(THREADS_ENV) {
            Ok(text) if !text.trim().is_empty() => Some(parse_threads(&text, THREADS_ENV)?),
            _ => None,
        },
    };
    let pool = match n {
        None => None,
        Some(n) => Some(Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .thread_name(|i| format!("mmarray-{i}"))
                .build()
                .map_err(|e| Error::new(ErrorKind::Io, format!("cannot start {n} engine threads: {e}")))?,
        )),
    };
    *POOL.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = pool;
    Ok(())
}

/// The number of threads the engine computes on (from a thread outside any
/// rayon pool: [`install`] decides).
#[must_use]
pub fn threads() -> usize {
    match current() {
        Some(pool) => pool.current_num_threads(),
        None => rayon::current_num_threads(),
    }
}

fn current() -> Option<Arc<rayon::ThreadPool>> {
    POOL.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
}

/// Runs `f` on the engine's threads as [`set_threads`] set them, so every
/// parallel loop inside uses that many; the page-cache hints and progress
/// counter of the calling thread ([`super::with_hints`],
/// [`super::with_progress`]) go along. A panic in `f` is resumed on the
/// caller. With no setting `f` simply runs here.
pub fn install<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let Some(pool) = current() else { return f() };
    if pool.current_thread_index().is_some() {
        return f(); // already on it
    }
    let hints = super::hints::setting();
    let progress = super::hints::progress();
    pool.install(move || {
        super::hints::with_hints_setting(hints, || match progress {
            Some(p) => super::with_progress(p, f),
            None => f(),
        })
    })
}
