//! The binary's catch-all error type and quiet handling of closed pipes.

use std::io::{self, Write};

/// Any error a command can end with; printed as one `error: ...` line.
pub type CliError = Box<dyn std::error::Error + Send + Sync>;

/// Whether the error is a write to a pipe whose reader has gone
/// (`mmarray info ... | head`): not a failure, so it ends quietly.
pub fn is_broken_pipe(e: &CliError) -> bool {
    e.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

/// The error for any file this process mapped that another process
/// truncated while it was in use (see [`mmarray::truncation`]): the data
/// read from it was zeros, not the file's, so no result built on it may be
/// printed or kept. Checked before every print, before an output file is
/// kept, and when the command ends.
pub fn check_truncation() -> Result<(), CliError> {
    mmarray::truncation().map_or(Ok(()), |e| Err(e.into()))
}

/// Writes `text` to standard output, surfacing write errors (such as a
/// broken pipe) instead of panicking as `println!` does.
pub fn print(text: &str) -> Result<(), CliError> {
    check_truncation()?;
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// A file this command is making: removed again if the command fails or
/// panics (its drop runs while unwinding), kept by [`NewFile::keep`]. When
/// it stands in for an existing file (`--force`), it is a temporary file
/// beside it, renamed over it only by `keep`, so a failure never costs the
/// user the file they had.
pub struct NewFile {
    path: Option<std::path::PathBuf>,
    /// The existing file this one replaces on `keep`.
    replaces: Option<std::path::PathBuf>,
}

impl NewFile {
    /// Guards `path`, which this command created.
    pub fn new(path: &std::path::Path) -> Self {
        Self { path: Some(path.to_path_buf()), replaces: None }
    }

    /// The command succeeded: the file stays (renamed over the file it
    /// replaces, if any).
    ///
    /// # Errors
    /// `PATH: cannot replace it: ...` if the rename fails (the new file is
    /// removed, the old one left as it was).
    pub fn keep(mut self) -> Result<(), CliError> {
        check_truncation()?;
        if let (Some(tmp), Some(target)) = (self.path.as_ref(), self.replaces.as_ref()) {
            std::fs::rename(tmp, target).map_err(|e| format!("{}: cannot replace it: {e}", target.display()))?;
        }
        self.path = None;
        Ok(())
    }
}

impl Drop for NewFile {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Creates the output file for `path` with `create(where)`, which must
/// create exclusively (`O_CREAT | O_EXCL`, so an existing file is never
/// touched, and no file appearing after a check could be). With `force` and an
/// existing `path`, the new file is made under a temporary name beside it
/// and replaces it only when the command succeeds. Returns what `create`
/// made and the guard that keeps or removes it.
///
/// # Errors
/// `PATH: already exists; pass --force to overwrite it`, or `create`'s error.
pub fn create_output<T>(
    path: &std::path::Path,
    force: bool,
    create: impl FnOnce(&std::path::Path) -> mmarray::Result<T>,
) -> Result<(T, NewFile), CliError> {
    if let (true, Ok(meta)) = (force, std::fs::metadata(path)) {
        if !meta.is_file() {
            let what = if meta.is_dir() { "a directory" } else { "not a regular file" };
            return Err(format!("{}: is {what}; --force replaces only regular files", path.display()).into());
        }
        let name = path.file_name().map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
        let tmp = path.with_file_name(format!(".{name}.mmarray-{}.tmp", std::process::id()));
        let made = create(&tmp)?;
        return Ok((made, NewFile { path: Some(tmp), replaces: Some(path.to_path_buf()) }));
    }
    match create(path) {
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
