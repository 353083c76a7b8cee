//! Progress bars on standard error: drawn only when it is a terminal (so
//! pipes, logs and `--json` output stay clean), silenced by `--quiet`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

static QUIET: AtomicBool = AtomicBool::new(false);

/// Turns every progress bar off (`--quiet`).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// A one-line note on stderr (`note: ...`), unless `--quiet`; a closed or
/// full stderr is ignored.
pub fn note(msg: &str) {
    if !QUIET.load(Ordering::Relaxed) {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "note: {msg}");
    }
}

/// Prints `warning: {msg}` to standard error (even with `--quiet`: a
/// warning is about the result, not the progress).
pub fn warn(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "warning: {msg}");
}

fn target() -> ProgressDrawTarget {
    if QUIET.load(Ordering::Relaxed) {
        ProgressDrawTarget::hidden()
    } else {
        // indicatif draws nothing when stderr is not a terminal
        ProgressDrawTarget::stderr()
    }
}

/// A bar over `total` bytes: bytes done, throughput and ETA.
pub fn bytes(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), target());
    let style = ProgressStyle::with_template(
        "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar
}

/// A bar over `total` steps (with elapsed time and ETA).
pub fn steps(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), target());
    let style = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({elapsed}, ETA {eta})")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar
}

/// Sets its flag when dropped, on return or unwinding alike.
struct Finish<'a>(&'a AtomicBool);

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs `f` (engine work) under a byte bar fed by the engine's progress
/// counter: bytes done, throughput and ETA against `total`.
pub fn engine<R: Send>(total: u64, what: &str, f: impl FnOnce() -> R + Send) -> R {
    let bar = bytes(total, what);
    let done = Arc::new(AtomicU64::new(0));
    let finished = AtomicBool::new(false);
    let out = std::thread::scope(|s| {
        s.spawn(|| {
            while !finished.load(Ordering::Relaxed) {
                bar.set_position(done.load(Ordering::Relaxed).min(total));
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        // Set on the way out however `f` ends: if it panics, the scope
        // waits for the bar thread before passing the panic on, and a flag
        // set only after a normal return would make that wait forever.
        let _finish = Finish(&finished);
        mmarray::compute::with_progress(done.clone(), f)
    });
    bar.finish_and_clear();
    out
}
