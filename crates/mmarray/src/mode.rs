//! Access modes (NumPy's `r`, `r+`, `w+`, `c`) and memory orders (C, Fortran).

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, ErrorKind, Result};

/// How a file is opened and mapped, as `numpy.memmap`'s `mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// `r` (`readonly`): read only; the file is never changed.
    ReadOnly,
    /// `r+` (`readwrite`): read and write an existing file; writes reach the file.
    ReadWrite,
    /// `w+` (`write`): create or overwrite the file, then read and write it.
    Write,
    /// `c` (`copyonwrite`): writes are visible in this process only and never
    /// reach the file.
    CopyOnWrite,
}

impl Mode {
    /// NumPy's short name: `"r"`, `"r+"`, `"w+"` or `"c"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadOnly => "r",
            Self::ReadWrite => "r+",
            Self::Write => "w+",
            Self::CopyOnWrite => "c",
        }
    }

    /// Whether elements may be written through the mapping (all modes but `r`).
    #[must_use]
    pub fn is_writable(self) -> bool {
        !matches!(self, Self::ReadOnly)
    }

    /// Whether writes reach the file (`r+` and `w+`).
    #[must_use]
    pub fn writes_to_file(self) -> bool {
        matches!(self, Self::ReadWrite | Self::Write)
    }

    /// Parses NumPy's mode strings, short or long: `r`/`readonly`,
    /// `r+`/`readwrite`, `w+`/`write`, `c`/`copyonwrite`.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] naming the string and the valid modes.
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "r" | "readonly" => Self::ReadOnly,
            "r+" | "readwrite" => Self::ReadWrite,
            "w+" | "write" => Self::Write,
            "c" | "copyonwrite" => Self::CopyOnWrite,
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "mode must be one of ['r', 'c', 'r+', 'w+', 'readonly', 'copyonwrite', \
                         'readwrite', 'write'], got {s:?}"
                    ),
                ))
            }
        })
    }
}

impl FromStr for Mode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Memory layout of a multi-dimensional array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Order {
    /// Row-major: the last index varies fastest (NumPy's default).
    #[default]
    C,
    /// Column-major: the first index varies fastest (`fortran_order` in `.npy`).
    F,
}

impl Order {
    /// `"C"` or `"F"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::C => "C",
            Self::F => "F",
        }
    }

    /// Parses `"C"` or `"F"` (either case).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] naming the string.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "C" | "c" => Ok(Self::C),
            "F" | "f" => Ok(Self::F),
            _ => Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("order must be 'C' or 'F', got {s:?}"),
            )),
        }
    }
}

impl FromStr for Order {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl fmt::Display for Order {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_mode_names() {
        for (s, m) in [
            ("r", Mode::ReadOnly),
            ("readonly", Mode::ReadOnly),
            ("r+", Mode::ReadWrite),
            ("readwrite", Mode::ReadWrite),
            ("w+", Mode::Write),
            ("write", Mode::Write),
            ("c", Mode::CopyOnWrite),
            ("copyonwrite", Mode::CopyOnWrite),
        ] {
            assert_eq!(Mode::parse(s).unwrap(), m);
        }
        let e = Mode::parse("rw").unwrap_err();
        assert!(e.to_string().contains("\"rw\""), "{e}");
        assert_eq!(Order::parse("F").unwrap(), Order::F);
        assert!(Order::parse("A").is_err());
    }
}
