//! The crate's one error type: an [`Error`] carrying a matchable [`ErrorKind`],
//! the path involved (when there is one) and a message that names the file and
//! the numbers.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// What went wrong, in a form a caller can match on.
///
/// The Python bindings map each kind to the built-in exception NumPy raises in
/// the same situation (see [`ErrorKind::python_exception`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file does not exist.
    NotFound,
    /// The operating system refused access to the file.
    PermissionDenied,
    /// The path names a directory or another non-regular file.
    NotAFile,
    /// An argument is invalid: a shape, offset, mode, order or index.
    InvalidArgument,
    /// The file is shorter than the array it should hold.
    FileTooSmall,
    /// A `.npy` header is corrupt, truncated, too large or malformed.
    InvalidHeader,
    /// The dtype is unknown or cannot be memory-mapped (object, structured, strings).
    UnsupportedDtype,
    /// The requested element type does not match the array's dtype.
    DtypeMismatch,
    /// The data is stored in non-native byte order and cannot be viewed in place.
    ByteOrder,
    /// The data is not aligned for a zero-copy typed view.
    Misaligned,
    /// An element index is outside the array's shape.
    IndexOutOfBounds,
    /// An axis is outside the array's dimensions (NumPy's `AxisError`).
    AxisOutOfBounds,
    /// A write was attempted through a read-only mapping (mode `r`).
    ReadOnly,
    /// The disk (or the process's file-size limit) cannot hold the file.
    NoSpace,
    /// The file is mapped by another array (in this or another process), so
    /// truncating it now would crash that process's next access.
    InUse,
    /// A new file was to be created, but the path already exists.
    AlreadyExists,
    /// Another process (or handle) truncated the file below the mapped data
    /// while it was in use: the lost pages read as zeros and writes to them
    /// reached no file (see [`MmapArray::check_intact`](crate::MmapArray::check_intact)).
    Truncated,
    /// The array was closed with [`MmapArray::close_in_place`](crate::MmapArray::close_in_place).
    Closed,
    /// Any other input/output error reported by the operating system.
    Io,
}

impl ErrorKind {
    /// The name of the Python built-in exception this kind maps to.
    #[must_use]
    pub fn python_exception(self) -> &'static str {
        match self {
            Self::NotFound => "FileNotFoundError",
            Self::PermissionDenied => "PermissionError",
            Self::AlreadyExists => "FileExistsError",
            Self::NotAFile | Self::NoSpace | Self::InUse | Self::Truncated | Self::Io => "OSError",
            Self::IndexOutOfBounds => "IndexError",
            Self::AxisOutOfBounds => "numpy.exceptions.AxisError",
            Self::InvalidArgument
            | Self::FileTooSmall
            | Self::InvalidHeader
            | Self::UnsupportedDtype
            | Self::DtypeMismatch
            | Self::ByteOrder
            | Self::Misaligned
            | Self::Closed
            | Self::ReadOnly => "ValueError",
        }
    }
}

/// The error type of every fallible operation in this crate.
///
/// Its message is complete on its own: it names the file (when there is one)
/// and the numbers involved, e.g. `not enough space on /data/x.npy: need
/// 800000128 bytes, 1048576 available`.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    path: Option<PathBuf>,
    message: String,
    #[source]
    source: Option<io::Error>,
}

/// Shorthand for `std::result::Result<T, mmarray::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` with a complete `message`.
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, path: None, message: message.into(), source: None }
    }

    /// An error about the file at `path`; the message is prefixed by the path.
    pub(crate) fn at(kind: ErrorKind, path: &Path, message: impl fmt::Display) -> Self {
        Self {
            kind,
            path: Some(path.to_path_buf()),
            message: format!("{}: {message}", path.display()),
            source: None,
        }
    }

    /// An I/O error while doing `what` on `path`, classified by its OS kind.
    pub(crate) fn io(path: &Path, what: &str, err: io::Error) -> Self {
        let kind = match err.kind() {
            io::ErrorKind::NotFound => ErrorKind::NotFound,
            io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
            io::ErrorKind::IsADirectory => ErrorKind::NotAFile,
            io::ErrorKind::AlreadyExists => ErrorKind::AlreadyExists,
            _ => match err.raw_os_error() {
                // (EFBIG: past the process's file-size limit, RLIMIT_FSIZE)
                Some(n) if n == rustix::io::Errno::NOSPC.raw_os_error() || n == rustix::io::Errno::FBIG.raw_os_error() => {
                    ErrorKind::NoSpace
                }
                _ => ErrorKind::Io,
            },
        };
        let mut e = Self::at(kind, path, format_args!("{what}: {err}"));
        e.source = Some(err);
        e
    }

    /// The same error (kind, OS error) about `path`, told by `message`.
    pub(crate) fn reworded(mut self, path: &Path, message: impl fmt::Display) -> Self {
        self.message = format!("{}: {message}", path.display());
        self.path = Some(path.to_path_buf());
        self
    }

    /// Records `path` as the file this error is about (message unchanged).
    pub(crate) fn with_path(mut self, path: &Path) -> Self {
        self.path = Some(path.to_path_buf());
        self
    }

    /// What kind of error this is.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The file the error is about, if any.
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The operating system's error number (`errno`) behind this error: the
    /// one the OS reported, or for the file-related kinds raised by mmarray
    /// itself the number that names them (`ENOENT`, `EACCES`, `EEXIST`, `ENOSPC`,
    /// `EBUSY` for [`ErrorKind::InUse`], `EIO` for [`ErrorKind::Truncated`]).
    /// `None` for errors about values.
    #[must_use]
    pub fn raw_os_error(&self) -> Option<i32> {
        use rustix::io::Errno;
        if let Some(n) = self.source.as_ref().and_then(io::Error::raw_os_error) {
            return Some(n);
        }
        let errno = match self.kind {
            ErrorKind::NotFound => Errno::NOENT,
            ErrorKind::PermissionDenied => Errno::ACCESS,
            ErrorKind::AlreadyExists => Errno::EXIST,
            ErrorKind::NoSpace => Errno::NOSPC,
            ErrorKind::InUse => Errno::BUSY,
            ErrorKind::Truncated | ErrorKind::Io => Errno::IO,
            _ => return None,
        };
        Some(errno.raw_os_error())
    }

    /// The message without the leading `PATH: ` (what Python's `OSError`
    /// shows as `strerror`, next to its `filename`).
    #[must_use]
    pub fn message_without_path(&self) -> &str {
        self.path
            .as_ref()
            .and_then(|p| self.message.strip_prefix(&format!("{}: ", p.display())).map(|m| &self.message[self.message.len() - m.len()..]))
            .unwrap_or(&self.message)
    }
}
