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
//! // SAFETY: the file is in a new temporary directory, private to this
//! // program: nothing else writes it while views of `a` or `b` live.
//! let mut a = unsafe { NpyOptions::new(DType::native(ScalarKind::F64), &[500, 500]).create(&path)? };
//! a.view_mut::<f64>()?.slice_mut(s![100..200, ..]).fill(2.5);
//! a.close()?; // flushes; dropping does too
//!
//! // SAFETY: as above.
//! let b = unsafe { MmapArray::open_npy(&path, Mode::ReadOnly)? }; // np.load(path, mmap_mode='r')
//! assert_eq!(b.view::<f64>()?.sum(), 100.0 * 500.0 * 2.5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Safety: the mapping contract
//!
//! The functions that map a file that has a name ([`RawOptions::open`],
//! [`RawOptions::create_new`], [`RawOptions::open_file`],
//! [`MmapArray::open_npy`], [`NpyOptions::create`],
//! [`NpyOptions::create_new`]) are `unsafe`, as `memmap2`'s map constructors
//! are: other processes and other handles can change a file's bytes under a
//! borrowed slice, and the compiler cannot see them. Each states this
//! contract in its `# Safety` section:
//!
#![doc = include_str!("mapping_contract.md")]
//!
//! [`RawOptions::create_pending`] and [`NpyOptions::create_pending`] are safe:
//! their file has no name until [`MmapArray::persist`], which consumes the
//! array (ending every borrow), so nobody else can map it while views exist.
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

mod append;
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
mod recover;
mod region;
mod select;
mod storage;

pub use append::{Appender, Durability};
pub use array::{check_shape, logical_indices, shape_repr, Advice, Format, MmapArray, Trailing, MAX_DIMS};
pub use axis::{check_axes, normalize_axes, normalize_axis};
pub use dtype::{ByteOrder, DType, ScalarKind};
pub use element::{invalid_bool, invalid_bool_in, invalid_bool_message, Element};
pub use error::{Error, ErrorKind, Result};
pub use guard::{check_address, faults, truncation};
pub use mode::{Mode, Order};
pub use npy::NpyVersion;
pub use open::{NpyOptions, RawOptions};
pub use recover::{recover, Recovered, Recovery};
pub use select::{IndexItem, Selection};
pub use storage::{create_file, publish_file, remove_stale_temporaries, temporary_name, Preallocation, WriteLock};

pub use half::f16;
pub use ndarray;
pub use num_complex::{Complex32, Complex64};
