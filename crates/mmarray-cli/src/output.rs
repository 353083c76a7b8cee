//! The binary's catch-all error type and quiet handling of closed pipes.

use std::io::{self, Write};

/// Any error a command can end with; printed as one `error: ...` line.
pub type CliError = Box<dyn std::error::Error + Send + Sync>;

/// Whether the error is a write to a pipe whose reader has gone
/// (`mmarray info ... | head`): not a failure, so it ends quietly.
pub fn is_broken_pipe(e: &CliError) -> bool {
    e.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

/// Writes `text` to standard output, surfacing write errors (such as a
/// broken pipe) instead of panicking as `println!` does.
pub fn print(text: &str) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}
