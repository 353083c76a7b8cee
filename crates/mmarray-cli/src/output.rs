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

/// An output file this command has just created (or truncated with
/// `--force`): removed again when dropped before [`keep`](Self::keep), so a
/// command that fails, or panics and unwinds, never leaves a partial or
/// empty file behind.
#[must_use = "the file is removed when this is dropped without keep()"]
pub struct NewFile {
    path: Option<std::path::PathBuf>,
}

impl NewFile {
    /// Guards `path`, which this command created.
    pub fn new(path: &std::path::Path) -> Self {
        Self { path: Some(path.to_path_buf()) }
    }

    /// The command succeeded: the file stays.
    pub fn keep(mut self) {
        self.path = None;
    }
}

impl Drop for NewFile {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Creates the output file at `path` with `create(exclusive)`: exclusively
/// (`O_CREAT | O_EXCL`, so an existing file is never touched, and no file
/// appearing after a check could be) unless `force`. Returns what `create`
/// made and the guard that removes the file again if the command fails.
///
/// # Errors
/// `PATH: already exists; pass --force to overwrite it`, or `create`'s error.
pub fn create_output<T>(
    path: &std::path::Path,
    force: bool,
    create: impl FnOnce(bool) -> mmarray::Result<T>,
) -> Result<(T, NewFile), CliError> {
    match create(!force) {
        Ok(made) => Ok((made, NewFile::new(path))),
        Err(e) if e.kind() == mmarray::ErrorKind::AlreadyExists => {
            Err(format!("{}: already exists; pass --force to overwrite it", path.display()).into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Whether `a` and `b` are the same existing file (or `b` is `a` under
/// another name).
pub fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// Fails if the output `output` is the input `input`: writing it would
/// destroy the data being read.
///
/// # Errors
/// `PATH: input and output are the same file`.
pub fn not_the_input(input: &std::path::Path, output: &std::path::Path) -> Result<(), CliError> {
    if same_file(input, output) {
        return Err(format!("{}: input and output are the same file", output.display()).into());
    }
    Ok(())
}
