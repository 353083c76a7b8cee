//! The `mmarray` command line: inspect, create and convert memory-mapped
//! arrays (raw files and NumPy `.npy`).

mod args;
mod commands;
mod input;
mod output;
mod progress;

use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;
use std::sync::Mutex;

use clap::{CommandFactory, FromArgMatches};

/// Exit status of a command that panicked (`EX_SOFTWARE` in `sysexits.h`).
const EXIT_INTERNAL: u8 = 70;

/// Where the first panic happened (`file:line:column`), recorded by the
/// panic hook for the final `error: internal error ...` line.
static PANIC_LOCATION: Mutex<Option<String>> = Mutex::new(None);

fn main() -> ExitCode {
    // SAFETY: setting a signal's disposition to SIG_IGN at the start of
    // main, before any thread exists, has no data-race or handler concerns.
    // Ignoring SIGXFSZ turns "file size limit exceeded" into an EFBIG error
    // that mmarray reports, instead of the process being killed.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let matches = args::Cli::command().get_matches();
    let cli = match args::Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    progress::set_quiet(cli.quiet);
    let command = matches.subcommand_name().unwrap_or("mmarray").to_string();
    quiet_panics();
    // A panic is a bug, but it still ends as one `error:` line and exit 70,
    // after the unwinding has removed any half-written output (see
    // `output::create_output`), never as a hang or a backtrace on a user's screen.
    // (a file truncated under the command fails it, whatever the command did
    // with the zeros it read: see `output::check_truncation`; a command that
    // failed on a file truncated meanwhile reports the truncation, the
    // cause, rather than what the engine made of the zeros)
    if let Err(e) = mmarray::compute::set_threads(cli.threads) {
        report(&format!("error: {e}"));
        return ExitCode::FAILURE;
    }
    // (the whole command runs on the engine's threads, so every parallel
    // loop in it, the engine's or the command's own, uses --threads)
    let run = || mmarray::compute::install(|| commands::run(cli, &matches).and_then(|()| output::check_faults()));
    match panic::catch_unwind(AssertUnwindSafe(run)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            match mmarray::truncation() {
                Some(t) if t.to_string() != e.to_string() => report(&format!("error: {t} (then the command failed: {e})")),
                _ => report(&format!("error: {e}")),
            }
            ExitCode::FAILURE
        }
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(ToString::to_string)
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            let at = PANIC_LOCATION.lock().ok().and_then(|l| l.clone()).map_or_else(String::new, |l| format!(" (at {l})"));
            report(&format!("error: internal error in {command}: {msg}{at}; please report it"));
            ExitCode::from(EXIT_INTERNAL)
        }
    }
}

/// Writes the final error line to stderr; if stderr is closed or full there
/// is nobody to tell, and the exit code still says it (`eprintln!` would
/// panic and turn the exit code into 101).
fn report(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Replaces the default panic hook (a message and backtrace hint per
/// panicking thread) by one that only records where the first panic
/// happened; `RUST_BACKTRACE` set keeps the default report, on stderr,
/// before the final error line.
fn quiet_panics() {
    let default = panic::take_hook();
    let verbose = std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0");
    panic::set_hook(Box::new(move |info| {
        if let Ok(mut slot) = PANIC_LOCATION.lock() {
            if slot.is_none() {
                *slot = info.location().map(ToString::to_string);
            }
        }
        if verbose {
            default(info);
        }
    }));
}

/// Panics if the environment variable `MMARRAY_TEST_PANIC` names `command`:
/// lets the tests prove that a panic anywhere ends cleanly. Only in builds
/// with debug assertions (the tests' dev profile); a no-op in release.
pub fn test_panic(command: &str) {
    #[cfg(debug_assertions)]
    if std::env::var("MMARRAY_TEST_PANIC").is_ok_and(|c| c == command) {
        panic!("forced by MMARRAY_TEST_PANIC={command}");
    }
    #[cfg(not(debug_assertions))]
    let _ = command;
}
