//! The `mmarray` command line: inspect, create and convert memory-mapped
//! arrays (raw files and NumPy `.npy`).

mod args;
mod commands;
mod input;
mod output;
mod progress;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

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
    match commands::run(cli, &matches) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if !output::is_broken_pipe(&e) {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
    }
}
