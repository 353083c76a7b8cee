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

/// The last check, once the command has done its work: an access that
/// faulted on pages a truncation took away (zeros read, writes lost) fails
/// the command. A file cut after the result was checked and delivered
/// ([`print`], [`keep_output`]) changes nothing the command did, so it does
/// not turn a delivered result into a failure.
pub fn check_faults() -> Result<(), CliError> {
    mmarray::faults().map_or(Ok(()), |e| Err(e.into()))
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

/// A temporary file this command is making (a picture being drawn):
/// removed again if the command fails or panics (its drop runs while
/// unwinding), kept by [`NewFile::keep`].
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

/// Starts the output file `path` with `create(path)`, which must make it
/// pending (`create_pending`: no name until [`keep_output`]), so a failure,
/// a panic or a kill leaves nothing at `path` and never touches an existing
/// file there. An existing `path` is refused early unless `force` (and then
/// must be a regular file, which `keep_output` replaces atomically).
///
/// # Errors
/// `PATH: already exists; pass --force to overwrite it`, `PATH: is a
/// directory; --force replaces only regular files`, or `create`'s error.
pub fn create_output(
    path: &std::path::Path,
    force: bool,
    create: impl FnOnce(&std::path::Path) -> mmarray::Result<mmarray::MmapArray>,
) -> Result<mmarray::MmapArray, CliError> {
    if std::fs::symlink_metadata(path).is_ok() {
        if !force {
            return Err(already_exists(path));
        }
        check_replaceable(path, "--force replaces only regular files")?;
    }
    Ok(create(path)?)
}

/// Refuses to replace anything at `path` but a regular file (a directory, a
/// symbolic link, a FIFO or a device): `PATH: is ...; {why}`.
///
/// # Errors
/// As above.
pub fn check_replaceable(path: &std::path::Path, why: &str) -> Result<(), CliError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.is_file() => {
            let what = if meta.is_dir() {
                "a directory"
            } else if meta.file_type().is_symlink() {
                "a symbolic link"
            } else {
                "not a regular file"
            };
            Err(format!("{}: is {what}; {why}", path.display()).into())
        }
        _ => Ok(()),
    }
}

/// Ends an output made by [`create_output`]: unless a file this process
/// read was truncated meanwhile, makes it durable and gives it its name
/// (replacing an existing file only with `force`).
///
/// # Errors
/// The truncation, `PATH: already exists ...` if a file appeared at `path`
/// meanwhile (without `force`), or a write, sync or rename error; the new
/// file is discarded then.
pub fn keep_output(a: mmarray::MmapArray, force: bool) -> Result<(), CliError> {
    check_truncation()?;
    let path = a.path().to_path_buf();
    a.persist(force).map_err(|e| if e.kind() == mmarray::ErrorKind::AlreadyExists { already_exists(&path) } else { e.into() })
}

fn already_exists(path: &std::path::Path) -> CliError {
    format!("{}: already exists; pass --force to overwrite it", path.display()).into()
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
