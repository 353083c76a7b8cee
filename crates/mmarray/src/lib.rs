//! Memory-mapped N-dimensional arrays on disk, for data larger than RAM.
//!
//! mmarray maps raw binary files (dtype, shape, offset and order given by you,
//! as `numpy.memmap`) and self-describing NumPy `.npy` files (byte-compatible
//! with NumPy in both directions) and hands out zero-copy
//! [`ndarray`] views of them.
//!
//! ```
//! use mmarray::{DType, Mode, MmapArray, NpyOptions, ScalarKind};
//! use ndarray::s;
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("grid.npy");
//! let mut a = NpyOptions::new(DType::native(ScalarKind::F64), &[500, 500]).create(&path)?;
//! a.view_mut::<f64>()?.slice_mut(s![100..200, ..]).fill(2.5);
//! a.close()?; // flushes; dropping does too
//!
//! let b = MmapArray::open_npy(&path, Mode::ReadOnly)?; // np.load(path, mmap_mode='r')
//! assert_eq!(b.view::<f64>()?.sum(), 100.0 * 500.0 * 2.5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Differences from NumPy, each deliberate:
//! - created or grown files have their space reserved (`fallocate`), so a
//!   full disk is an error at creation, not a `SIGBUS` later (see
//!   [`Preallocation`]);
//! - opening an existing `.npy` file in mode `w+` does not truncate it;
//! - an `r+` open of a truncated `.npy` file is an error, not a silent
//!   extension;
//! - an empty raw file (or offset at its end) with no shape opens as an empty
//!   array instead of raising "cannot mmap an empty file".

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

mod array;
mod axis;
mod dispatch;
pub mod compute;
mod dtype;
mod element;
mod error;
mod guard;
mod mode;
pub mod npy;
mod open;
mod select;
mod storage;

pub use array::{check_shape, shape_repr, Advice, Format, MmapArray, MAX_DIMS};
pub use axis::{check_axes, normalize_axes, normalize_axis};
pub use dtype::{ByteOrder, DType, ScalarKind};
pub use element::Element;
pub use error::{Error, ErrorKind, Result};
pub use guard::{check_address, truncation};
pub use mode::{Mode, Order};
pub use npy::NpyVersion;
pub use open::{NpyOptions, RawOptions};
pub use select::{IndexItem, Selection};
pub use storage::{Preallocation, WriteLock};

pub use half::f16;
pub use ndarray;
pub use num_complex::{Complex32, Complex64};
