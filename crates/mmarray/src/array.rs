//! [`MmapArray`]: a typed N-dimensional array backed by a memory-mapped file.

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::region::{Access, Region};
use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, CowArray, IxDyn, ShapeBuilder};

use crate::dtype::DType;
use crate::element::{read_element, write_element, Element};
use crate::error::{Error, ErrorKind, Result};
use crate::guard::Guard;
use crate::mode::{Mode, Order};
use crate::npy::NpyVersion;
use crate::storage::Preallocation;

mod fill;
pub use fill::logical_indices;

/// Bytes past the data of a `.npy` file's header (see
/// [`MmapArray::trailing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailing {
    /// How many bytes follow the data the header describes.
    pub bytes: u64,
    /// The size of one row along the growth axis (the first axis for C
    /// order, the last for Fortran order); `None` for a 0-d array or rows
    /// of no bytes.
    pub row_bytes: Option<u64>,
}

impl Trailing {
    /// How many whole rows the trailing bytes hold.
    #[must_use]
    pub fn whole_rows(&self) -> Option<u64> {
        self.row_bytes.map(|r| self.bytes / r)
    }

    /// The bytes past the last whole row (all of them without rows).
    #[must_use]
    pub fn partial_bytes(&self) -> u64 {
        self.row_bytes.map_or(self.bytes, |r| self.bytes % r)
    }
}

/// How the file describes its array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A raw file: dtype, shape, offset and order were given by the caller.
    Raw,
    /// A self-describing `.npy` file of this format version.
    Npy(NpyVersion),
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Raw => f.write_str("raw"),
            Self::Npy(v) => write!(f, "npy {v}"),
        }
    }
}

/// Access-pattern advice for the kernel (`madvise(2)`).
///
/// `numpy.memmap` gives no way to say this; random access over a large
/// mapping with the default read-ahead can be many times slower than needed
/// (numpy issue 13172), because every fault reads a whole read-ahead window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advice {
    /// The default: moderate read-ahead. Also the fastest choice for one
    /// pass front to back (see [`Advice::Sequential`]).
    Normal,
    /// Pages will be read in order: read ahead aggressively, free behind.
    ///
    /// Measured on Linux 6.18 (ext4, which caches files in large folios), a
    /// cold pass over a 4 GiB file under this advice took 2.2-2.5 s against
    /// 1.8-2.2 s under [`Advice::Normal`], and left half the file cached in
    /// small pages (the read-ahead window caps the folio size), so every
    /// later fresh mapping of it, by any process, faulted in at 17-20 GB/s
    /// instead of 27-39 GB/s. The engine therefore never sets it; passes
    /// over files larger than RAM read ahead of their cursor instead (see
    /// [`crate::compute::StreamHints`]).
    Sequential,
    /// Pages will be read in random order: no read-ahead.
    Random,
    /// Pages will be needed soon: start reading them now.
    WillNeed,
}

impl Advice {
    /// Parses `"normal"`, `"sequential"`, `"random"` or `"willneed"`.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] naming the string.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "normal" => Ok(Self::Normal),
            "sequential" => Ok(Self::Sequential),
            "random" => Ok(Self::Random),
            "willneed" | "will_need" => Ok(Self::WillNeed),
            _ => Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("advice must be 'normal', 'sequential', 'random' or 'willneed', got {s:?}"),
            )),
        }
    }

    fn to_rustix(self) -> rustix::mm::Advice {
        match self {
            Self::Normal => rustix::mm::Advice::Normal,
            Self::Sequential => rustix::mm::Advice::Sequential,
            Self::Random => rustix::mm::Advice::Random,
            Self::WillNeed => rustix::mm::Advice::WillNeed,
        }
    }
}

/// The array's mapping: shared with the file in modes `r` (read-only), `r+`
/// and `w+`, private in mode `c`; in the modes that can grow, inside a
/// reservation of address space that lets it grow in place (see
/// [`MmapArray::grow_in_place`]).
enum Mapping {
    /// Zero-byte arrays map nothing (`mmap` of length 0 is an error).
    Empty,
    Mapped(Region),
}

impl Mapping {
    fn bytes(&self) -> &[u8] {
        match self {
            Self::Empty => &[],
            Self::Mapped(r) => r.bytes(),
        }
    }

    /// The region, if its writes reach the file.
    fn shared(&self) -> Option<&Region> {
        match self {
            Self::Mapped(r) if r.is_shared() => Some(r),
            _ => None,
        }
    }
}

/// The shape and layout of an array within its file.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) dtype: DType,
    pub(crate) shape: Vec<usize>,
    pub(crate) order: Order,
    pub(crate) offset: u64,
}

impl Layout {
    /// The layout a `.npy` header describes, its data at `offset`.
    pub(crate) fn of_npy(header: &crate::npy::NpyHeader, offset: u64) -> Self {
        let order = if header.fortran_order { Order::F } else { Order::C };
        Self { dtype: header.dtype, shape: header.shape.clone(), order, offset }
    }

    /// Bytes of data, or [`check_shape`]'s error about the file at `path`.
    pub(crate) fn checked_nbytes(path: &Path, dtype: DType, shape: &[usize]) -> Result<usize> {
        check_shape(dtype, shape).map_err(|e| Error::at(e.kind(), path, e))
    }

    /// Offset plus data bytes: how long the file must be.
    pub(crate) fn checked_end(&self, path: &Path) -> Result<u64> {
        let nbytes = Self::checked_nbytes(path, self.dtype, &self.shape)?;
        self.offset.checked_add(nbytes as u64).ok_or_else(|| {
            Error::at(ErrorKind::InvalidArgument, path, format_args!("offset {} plus {nbytes} bytes overflows", self.offset))
        })
    }
}

/// The truncation guard of `bytes`, a mapping in `mode` of the file at
/// `path` (open as `fd`), which must be `needed` bytes long.
fn guard_of(bytes: &[u8], mode: Mode, path: &Path, fd: std::os::fd::RawFd, needed: u64) -> Result<Guard> {
    Guard::register(bytes, mode != Mode::ReadOnly, mode != Mode::CopyOnWrite, path, fd, needed)
}

/// The growth axis of an array stored in `order`: the first for C order,
/// the last for Fortran order (the one axis whose rows follow each other
/// at the end of the data, where NumPy's header growth padding expects the
/// shape to grow); `None` for a 0-d array.
pub(crate) fn growth_axis(ndim: usize, order: Order) -> Option<usize> {
    match (ndim, order) {
        (0, _) => None,
        (_, Order::C) => Some(0),
        (n, Order::F) => Some(n - 1),
    }
}

/// The bytes of one row along the [`growth_axis`]; `None` for a 0-d
/// array or rows of no bytes (another axis of length 0).
pub(crate) fn growth_row_bytes(shape: &[usize], order: Order, dtype: DType) -> Option<u64> {
    let axis = growth_axis(shape.len(), order)?;
    let across: usize = shape.iter().enumerate().filter(|&(i, _)| i != axis).map(|(_, &n)| n).product();
    Some((across * dtype.itemsize()) as u64).filter(|&r| r > 0)
}

/// [`ErrorKind::DtypeMismatch`] unless `T` is the element type of
/// `dtype`, the dtype of the file at `path`.
pub(crate) fn check_kind<T: Element>(path: &Path, dtype: DType) -> Result<()> {
    check_kind_of(path, dtype, DType::native(T::KIND))
}

/// [`ErrorKind::DtypeMismatch`] unless `wanted` has the element type of
/// `dtype` (byte orders may differ), the dtype of the file at `path`.
pub(crate) fn check_kind_of(path: &Path, dtype: DType, wanted: DType) -> Result<()> {
    if wanted.kind() == dtype.kind() {
        return Ok(());
    }
    Err(Error::at(
        ErrorKind::DtypeMismatch,
        path,
        format_args!("array dtype is '{}' ({}), not {}", dtype.descr(), dtype.kind().name(), wanted.kind().name()),
    ))
}

/// NumPy's largest number of dimensions (`NPY_MAXDIMS`).
pub const MAX_DIMS: usize = 64;

/// Checks that NumPy could make an array of `dtype` and `shape`, and
/// returns its size in bytes. This is the one shape rule of the crate:
/// creating, opening and reading a `.npy` header all apply it, so no file
/// is written or accepted that `np.load` would refuse.
///
/// As NumPy's array constructor: at most [`MAX_DIMS`] dimensions, and the
/// product of the non-zero dimensions times the itemsize fits in `isize`,
/// even when another dimension is 0 (so `(1, 0, 2**62)` of float64 is
/// refused, though it holds no data).
///
/// ```
/// use mmarray::{check_shape, DType, ScalarKind};
/// let f8 = DType::native(ScalarKind::F64);
/// assert_eq!(check_shape(f8, &[3, 4])?, 96);
/// assert_eq!(check_shape(f8, &[1 << 40, 0])?, 0);
/// assert!(check_shape(f8, &[1, 0, 1 << 62]).unwrap_err().to_string().contains("array is too big"));
/// assert!(check_shape(f8, &[1; 65]).unwrap_err().to_string().contains("is currently 64, found 65"));
/// # Ok::<(), mmarray::Error>(())
/// ```
///
/// # Errors
/// [`ErrorKind::InvalidArgument`] with NumPy's message, the shape and the dtype.
pub fn check_shape(dtype: DType, shape: &[usize]) -> Result<usize> {
    if shape.len() > MAX_DIMS {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("maximum supported dimension for an ndarray is currently {MAX_DIMS}, found {}", shape.len()),
        ));
    }
    let nonzero = shape
        .iter()
        .filter(|&&d| d != 0)
        .try_fold(dtype.itemsize(), |acc, &d| acc.checked_mul(d))
        .filter(|&n| isize::try_from(n).is_ok());
    match nonzero {
        Some(_) if shape.contains(&0) => Ok(0),
        Some(n) => Ok(n),
        None => Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "array is too big; `arr.size * arr.dtype.itemsize` is larger than the maximum possible size \
                 (shape {} of '{}')",
                shape_repr(shape),
                dtype.descr()
            ),
        )),
    }
}

/// Formats a shape as Python does: `(3, 4)`, `(5,)`, `()`.
#[must_use]
pub fn shape_repr(shape: &[usize]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => format!("({})", shape.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")),
    }
}

/// A typed N-dimensional array backed by a memory-mapped file.
///
/// Open one with [`RawOptions`](crate::RawOptions) (a raw file, as
/// `numpy.memmap`), [`MmapArray::open_npy`] (an existing `.npy` file) or
/// [`NpyOptions`](crate::NpyOptions) (a new `.npy` file).
///
/// The dtype is known at run time; typed access ([`view`](Self::view),
/// [`get`](Self::get), ...) names the Rust element type and fails with
/// [`ErrorKind::DtypeMismatch`] if it is not the file's.
///
/// # The mapping contract
/// The array's bytes are the file's bytes. If another process (or another
/// mapping in this one) writes to the mapped part of the file, the new values
/// show through, even inside a borrowed view: mmarray cannot prevent that,
/// and Rust assumes a borrowed slice does not change under it, so preventing
/// it is the caller's promise when opening: see
/// [the crate's mapping contract](crate#safety-the-mapping-contract), which
/// is why the constructors that map a named file are `unsafe`.
/// If another process **truncates** the file below the mapped range, an
/// access to the missing pages, which would raise `SIGBUS` and kill the
/// process, reads zeros instead (a write there reaches no file), and the
/// array reports [`ErrorKind::Truncated`] from
/// [`check_intact`](Self::check_intact), every later typed access,
/// [`flush`](Self::flush) and [`close`](Self::close): see
/// [`truncation`](crate::truncation) for how. mmarray
/// itself never truncates a file except through an explicit create or
/// overwrite (`w+`, [`NpyOptions::create`](crate::NpyOptions::create)), and
/// refuses even those with [`ErrorKind::InUse`] while any mmarray array (in
/// any process) still maps the file: every mapping holds a shared `flock`,
/// and an overwrite needs the exclusive one. Programs that do not take these
/// advisory locks (NumPy among them) are not held back by them.
/// A file deleted while mapped stays readable and writable through the open
/// mapping until it is dropped (Linux keeps the inode alive); reopening it by
/// path then fails with [`ErrorKind::NotFound`].
pub struct MmapArray {
    /// Registers `map` with the truncation guard; declared first so it
    /// unregisters before the file is closed and the range unmapped.
    guard: Guard,
    path: PathBuf,
    /// `None` once closed in place.
    file: Option<File>,
    map: Mapping,
    layout: Layout,
    mode: Mode,
    format: Format,
    preallocation: Preallocation,
    /// A new file not yet given its name (see [`persist`](Self::persist)).
    pending: Option<crate::storage::Unnamed>,
    /// See [`drop_behind`](Self::drop_behind).
    drop_behind: bool,
}

impl MmapArray {
    /// Maps `layout` of `file`, which the caller has opened suitably for
    /// `mode` and checked to be long enough.
    pub(crate) fn map(
        path: &Path,
        file: File,
        layout: Layout,
        mode: Mode,
        format: Format,
        preallocation: Preallocation,
    ) -> Result<Self> {
        let map = Self::mapping(path, &file, &layout, mode)?;
        let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
        let mut a =
            Self { guard: Guard::NONE, path: path.to_path_buf(), file: Some(file), map, layout, mode, format, preallocation, pending: None, drop_behind: false };
        a.guard = guard_of(a.as_bytes(), mode, path, fd, a.file_end())?;
        Ok(a)
    }

    /// A mapping of `layout` of `file` for `mode`, with address space to
    /// grow into after it (except in mode `c`).
    fn mapping(path: &Path, file: &File, layout: &Layout, mode: Mode) -> Result<Mapping> {
        let nbytes = Layout::checked_nbytes(path, layout.dtype, &layout.shape)?;
        if nbytes == 0 {
            return Ok(Mapping::Empty);
        }
        let access = match mode {
            Mode::ReadOnly => Access::ReadOnly,
            Mode::ReadWrite | Mode::Write => Access::Shared,
            Mode::CopyOnWrite => Access::Private,
        };
        // SAFETY: mapping a file is only unsafe because another process
        // may change or truncate it while mapped; that contract is the
        // caller's, documented on `MmapArray`. The caller checked the file
        // holds offset + nbytes bytes, so every mapped page exists now.
        let region = unsafe { Region::map(file, layout.offset, nbytes, access, crate::region::room_after(nbytes)) };
        Ok(Mapping::Mapped(region.map_err(|e| Error::io(path, "cannot map", e))?))
    }

    /// Maps the array again with the shape `shape` (the header's now): in
    /// place if the address space reserved after the mapping holds it,
    /// anew (elsewhere) if not.
    fn remap(&mut self, shape: Vec<usize>) -> Result<()> {
        if self.resize_in_place(&shape)? {
            return Ok(());
        }
        let file = self.file.as_ref().ok_or_else(|| closed(&self.path))?;
        let layout = Layout { shape, ..self.layout.clone() };
        let map = Self::mapping(&self.path, file, &layout, self.mode)?;
        let bytes = map.bytes();
        let end = layout.offset + bytes.len() as u64;
        let fd = std::os::fd::AsRawFd::as_raw_fd(file);
        let guard = guard_of(bytes, self.mode, &self.path, fd, end)?;
        // (the old guard unregisters before its range is unmapped)
        self.guard = guard;
        self.map = map;
        self.layout = layout;
        Ok(())
    }

    /// Gives the mapping `shape`'s length without moving it; `Ok(false)`,
    /// with nothing changed, when it cannot (an empty mapping, or one whose
    /// reservation is too small). The caller checked the file holds it.
    fn resize_in_place(&mut self, shape: &[usize]) -> Result<bool> {
        let file = self.file.as_ref().ok_or_else(|| closed(&self.path))?;
        let nbytes = Layout::checked_nbytes(&self.path, self.layout.dtype, shape)?;
        let old = self.nbytes();
        let Mapping::Mapped(region) = &mut self.map else { return Ok(false) };
        let err = |e| Error::io(&self.path, "cannot map", e);
        // SAFETY: `&mut self`: no borrow of the mapped bytes is alive, so
        // none into pages a shrink gives back; the caller checked the file
        // holds the longer range.
        if nbytes == 0 || !unsafe { region.resize(file, nbytes) }.map_err(err)? {
            return Ok(false);
        }
        let end = self.layout.offset + nbytes as u64;
        let fd = std::os::fd::AsRawFd::as_raw_fd(file);
        match guard_of(region.bytes(), self.mode, &self.path, fd, end) {
            Ok(guard) => self.guard = guard, // (the old one unregisters)
            Err(e) => {
                // SAFETY: as above (back to the length mapped before).
                let _ = unsafe { region.resize(file, old) };
                return Err(e);
            }
        }
        self.layout.shape = shape.to_vec();
        Ok(true)
    }

    /// Maps `rows` along the growth axis (the first for C order, the last
    /// for Fortran order) without moving the data: the bytes keep their
    /// address, so pointers into them stay valid. For following a file that
    /// another handle grows (a raw file another program appends to; the
    /// Python bindings' growing arrays). Every mapping in modes `r`, `r+` and
    /// `w+` reserves address space after it for this (as much again as the
    /// data, at least 1 GiB, at most 256 GiB; under `ulimit -v`, at most a
    /// quarter of what the limit leaves); it costs no memory. Returns `Ok(false)`, with nothing changed, when
    /// the growth does not fit there (or the array is empty, or open in mode
    /// `c`): [`refresh`](Self::refresh) and [`append`](Self::append) then
    /// map anew. `.npy` headers are not read: [`refresh`](Self::refresh)
    /// follows them.
    ///
    /// ```
    /// use mmarray::{DType, MmapArray, Mode, RawOptions, ScalarKind};
    /// use std::io::Write;
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("log.u8");
    /// std::fs::write(&path, [1u8; 10])?;
    /// // SAFETY: the file is private to this example; it only grows.
    /// let mut a = unsafe { RawOptions::new(DType::native(ScalarKind::U8)).shape(&[10]).open(&path)? };
    /// let at = a.as_bytes().as_ptr();
    /// std::fs::OpenOptions::new().append(true).open(&path)?.write_all(&[2u8; 90_000])?;
    /// assert!(a.grow_in_place(90_010)?);
    /// assert_eq!((a.shape(), a.as_bytes().as_ptr()), (&[90_010][..], at));
    /// assert_eq!(a.get::<u8>(&[90_009])?, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// - [`ErrorKind::InvalidArgument`] for a 0-d array, or fewer rows than
    ///   mapped now.
    /// - [`ErrorKind::FileTooSmall`] if the file does not hold the rows.
    /// - [`ErrorKind::Closed`], [`ErrorKind::Truncated`] and the I/O kinds.
    pub fn grow_in_place(&mut self, rows: usize) -> Result<bool> {
        self.check_intact()?;
        let Some(axis) = self.growth_axis() else {
            return Err(Error::at(ErrorKind::InvalidArgument, &self.path, "a 0-d array has no rows to grow"));
        };
        if rows < self.layout.shape[axis] {
            return Err(Error::at(
                ErrorKind::InvalidArgument,
                &self.path,
                format_args!("cannot grow to {rows} rows: {} are mapped", self.layout.shape[axis]),
            ));
        }
        let mut shape = self.layout.shape.clone();
        shape[axis] = rows;
        self.check_holds(&shape, "")?;
        self.resize_in_place(&shape)
    }

    /// [`ErrorKind::FileTooSmall`] unless the file holds the array at
    /// `shape` (`what` names the shape in the message).
    fn check_holds(&self, shape: &[usize], what: &str) -> Result<()> {
        let end = Layout { shape: shape.to_vec(), ..self.layout.clone() }.checked_end(&self.path)?;
        let len = self.file_len().unwrap_or(0);
        if len < end {
            return Err(Error::at(
                ErrorKind::FileTooSmall,
                &self.path,
                format_args!("holds {len} bytes, and {what}{} needs {end}", shape_repr(shape)),
            ));
        }
        Ok(())
    }

    /// Sees the rows a writer committed since the array was opened (or last
    /// refreshed): re-reads the `.npy` header and, if its shape grew along
    /// the growth axis, maps the longer array; returns whether it grew. For
    /// readers following a file that an [`Appender`](crate::Appender) (in
    /// this or another process) grows: the header names only rows that are
    /// durable on the disk, so what the array shows is always whole rows.
    /// A raw file has no header to follow: `Ok(false)`.
    ///
    /// ```
    /// use mmarray::{Appender, DType, MmapArray, Mode, Order, ScalarKind};
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("log.npy");
    /// let mut w = Appender::create(&path, DType::native(ScalarKind::F64), &[], Order::C)?;
    /// // SAFETY: the file is private to this example; the appender writes
    /// // only past the reader's rows.
    /// let mut r = unsafe { MmapArray::open_npy(&path, Mode::ReadOnly)? };
    /// w.write(ndarray::array![1.0, 2.0].view())?;
    /// assert_eq!(r.shape(), &[0]);
    /// assert!(r.refresh()?);
    /// assert_eq!(r.to_array::<f64>()?.as_slice(), Some(&[1.0, 2.0][..]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// - [`ErrorKind::InvalidHeader`] if the header now describes another
    ///   array (another dtype or order, another row shape, or fewer rows:
    ///   the file was rewritten, not appended to); reopen it.
    /// - [`ErrorKind::InvalidArgument`] in mode `c`, whose changes live in
    ///   the mapping (a new mapping would lose them).
    /// - [`ErrorKind::FileTooSmall`] if the file is shorter than the new
    ///   shape; [`ErrorKind::Closed`], [`ErrorKind::Truncated`] and the I/O
    ///   kinds.
    pub fn refresh(&mut self) -> Result<bool> {
        let Format::Npy(_) = self.format else { return Ok(false) };
        self.check_intact()?;
        let file = self.file.as_ref().ok_or_else(|| closed(&self.path))?;
        let parsed = crate::npy::read_header(file, &self.path)?;
        let now = Layout::of_npy(&parsed.header, parsed.data_offset);
        if now.shape == self.layout.shape && now.dtype == self.layout.dtype && now.order == self.layout.order && now.offset == self.layout.offset {
            return Ok(false);
        }
        let axis = growth_axis(self.ndim(), self.layout.order);
        let grown = axis.is_some_and(|ax| {
            now.dtype == self.layout.dtype
                && now.order == self.layout.order
                && now.offset == self.layout.offset
                && now.shape.len() == self.ndim()
                && now.shape.iter().zip(&self.layout.shape).enumerate().all(|(i, (n, o))| if i == ax { n >= o } else { n == o })
        });
        if !grown {
            return Err(Error::at(
                ErrorKind::InvalidHeader,
                &self.path,
                format_args!(
                    "now describes '{}' {} in {} order at offset {}, not the array opened ('{}' {} in {} order at offset {}) grown by rows: the file was rewritten; reopen it",
                    now.dtype.descr(),
                    shape_repr(&now.shape),
                    now.order,
                    now.offset,
                    self.layout.dtype.descr(),
                    shape_repr(&self.layout.shape),
                    self.layout.order,
                    self.layout.offset
                ),
            ));
        }
        if self.mode == Mode::CopyOnWrite {
            return Err(Error::at(ErrorKind::InvalidArgument, &self.path, "is open copy-on-write (mode 'c'): its changes live in its mapping, which a refresh would replace"));
        }
        self.check_holds(&now.shape, "its header's shape ")?;
        self.remap(now.shape)?;
        Ok(true)
    }

    /// Appends `rows` along the growth axis (the first for C order, the last
    /// for Fortran order) and grows the array over them: written past the
    /// data, committed durably as an [`Appender`](crate::Appender) commits
    /// (rows, then the header's shape), then mapped. Modes `r+` and `w+`;
    /// `.npy` files, and raw files whose array ends where the file ends (the
    /// file's length is then the only record of the rows: a commit is one
    /// `fdatasync`). Takes the file's write lock for the call.
    ///
    /// ```
    /// use mmarray::{DType, MmapArray, Mode, NpyOptions, ScalarKind};
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.npy");
    /// NpyOptions::new(DType::native(ScalarKind::I32), &[1, 2]).create_pending(&path)?.persist(false)?;
    /// // SAFETY: the file is private to this example.
    /// let mut a = unsafe { MmapArray::open_npy(&path, Mode::ReadWrite)? };
    /// a.append(ndarray::array![[1i32, 2], [3, 4]].view())?;
    /// assert_eq!(a.shape(), &[3, 2]);
    /// assert_eq!(a.get::<i32>(&[2, 1])?, 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::ReadOnly`] in modes `r` and `c`; [`ErrorKind::InvalidArgument`]
    /// for a raw array that ends before its file does (naming both ends);
    /// otherwise as [`Appender::open`](crate::Appender::open)
    /// and [`Appender::write`](crate::Appender::write). On an error the
    /// array and the file keep their shape.
    pub fn append<T: Element, D: ndarray::Dimension>(&mut self, rows: ndarray::ArrayView<'_, T, D>) -> Result<()> {
        let mut w = self.appender()?;
        w.write(rows)?;
        w.commit()?;
        self.follow(w)
    }

    /// Maps the array at the shape `w` committed, after closing it; from
    /// the new file, if `w` had to move the data (a header without room).
    fn follow(&mut self, w: crate::Appender) -> Result<()> {
        let moved = w.header_rewritten().is_some().then(|| w.offset());
        let shape = w.close()?;
        if let Some(offset) = moved {
            self.guard = Guard::NONE; // (unregister before the old range goes)
            self.map = Mapping::Empty;
            self.file = Some(crate::open::open_existing(&self.path, self.mode)?);
            self.layout.offset = offset;
        }
        self.remap(shape)
    }

    /// Sets the length of the growth axis to `rows`: new rows read as zeros
    /// (their blocks allocated, not sparse), rows past `rows` are cut off
    /// the file. Growing commits as [`append`](Self::append) does; shrinking
    /// rewrites the header first, then cuts the file, so a crash leaves the
    /// smaller shape or the larger, both whole. Modes `r+` and `w+`, the
    /// files [`append`](Self::append) takes.
    ///
    /// ```
    /// use mmarray::{DType, MmapArray, Mode, NpyOptions, ScalarKind};
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.npy");
    /// NpyOptions::new(DType::native(ScalarKind::F32), &[4, 3]).create_pending(&path)?.persist(false)?;
    /// // SAFETY: the file is private to this example.
    /// let mut a = unsafe { MmapArray::open_npy(&path, Mode::ReadWrite)? };
    /// a.resize(10)?;
    /// assert_eq!(a.shape(), &[10, 3]);
    /// a.resize(1)?;
    /// assert_eq!((a.shape(), std::fs::metadata(&path)?.len()), (&[1, 3][..], 128 + 12));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`append`](Self::append); to shrink, [`ErrorKind::InUse`] while
    /// another mmarray array maps the file (cutting its pages would crash
    /// its process).
    pub fn resize(&mut self, rows: usize) -> Result<()> {
        let mut w = self.appender()?;
        w.resize(rows as u64)?;
        self.follow(w)
    }

    /// An appender on this array's file (the same open file description,
    /// so its shared `flock` is this array's).
    fn appender(&self) -> Result<crate::Appender> {
        if !self.mode.writes_to_file() {
            return Err(read_only(&self.path));
        }
        self.check_intact()?;
        let file = self.file.as_ref().ok_or_else(|| closed(&self.path))?;
        let file = file.try_clone().map_err(|e| Error::io(&self.path, "cannot duplicate the descriptor", e))?;
        let w = match self.format {
            Format::Npy(_) => crate::Appender::of_file(&self.path, file)?,
            Format::Raw => crate::Appender::of_raw_file(&self.path, file, self.layout.clone())?,
        };
        if w.shape() != self.shape() || w.dtype() != self.dtype() {
            return Err(Error::at(
                ErrorKind::InvalidHeader,
                &self.path,
                format_args!("its header says '{}' {}, not the array's '{}' {}: the file was rewritten; reopen it", w.dtype().descr(), shape_repr(w.shape()), self.dtype().descr(), shape_repr(self.shape())),
            ));
        }
        Ok(w)
    }

    /// Checks that no page of the mapping was lost to a truncation of the
    /// file by another process (or handle) while mapped. When that happens
    /// the access that reached the missing pages reads zeros (writes reach
    /// no file) instead of killing the process with `SIGBUS`, and this check,
    /// every later typed access and [`close`](Self::close) report it. Call it
    /// after a pass over a [`view`](Self::view) to know that what was read
    /// was the file's data.
    ///
    /// ```
    /// use mmarray::{DType, ErrorKind, NpyOptions, ScalarKind};
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.npy");
    /// // SAFETY: the file is private to this example and nothing modifies its
    /// // bytes (a truncation, as below, is detected, not undefined behaviour).
    /// let a = unsafe { NpyOptions::new(DType::native(ScalarKind::F64), &[1 << 20]).create(&path)? };
    /// let view = a.view::<f64>()?;
    /// std::fs::OpenOptions::new().write(true).open(&path)?.set_len(4096)?; // another handle truncates
    /// let sum: f64 = view.sum(); // no SIGBUS: the lost pages read as zeros
    /// assert_eq!(sum, 0.0);
    /// let e = a.check_intact().unwrap_err();
    /// assert_eq!(e.kind(), ErrorKind::Truncated);
    /// assert!(e.to_string().contains("was truncated to 4096 bytes while in use"));
    /// assert_eq!(a.view::<f64>().unwrap_err().kind(), ErrorKind::Truncated);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::Truncated`] naming the file, its length now and the
    /// length the array needs.
    pub fn check_intact(&self) -> Result<()> {
        // (a cut inside the last page raises no fault: compare the length)
        let now = self.file_len();
        if self.guard.poisoned() || (self.nbytes() > 0 && now.is_some_and(|n| n < self.file_end())) {
            return Err(self.truncated(now));
        }
        Ok(())
    }

    /// How long the file must be: offset plus data bytes.
    fn file_end(&self) -> u64 {
        self.layout.offset + self.nbytes() as u64
    }

    /// The file's length now, through the array's descriptor.
    fn file_len(&self) -> Option<u64> {
        self.file.as_ref().and_then(|f| f.metadata().ok()).map(|m| m.len())
    }

    fn truncated(&self, now: Option<u64>) -> Error {
        use std::os::fd::AsFd;
        crate::guard::lost(&self.path, self.file.as_ref().map(AsFd::as_fd), now, self.file_end())
    }

    // ----- attributes -------------------------------------------------------

    /// The path the array was opened from.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The element type, with its byte order.
    #[must_use]
    pub fn dtype(&self) -> DType {
        self.layout.dtype
    }

    /// The array's shape.
    #[must_use]
    pub fn shape(&self) -> &[usize] {
        &self.layout.shape
    }

    /// Number of dimensions.
    #[must_use]
    pub fn ndim(&self) -> usize {
        self.layout.shape.len()
    }

    /// Number of elements.
    #[must_use]
    pub fn len(&self) -> usize {
        self.layout.shape.iter().product()
    }

    /// Whether the array has no elements.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of data (`len() * itemsize`).
    #[must_use]
    pub fn nbytes(&self) -> usize {
        self.len() * self.layout.dtype.itemsize()
    }

    /// Strides in bytes, as NumPy's `ndarray.strides`.
    #[must_use]
    pub fn strides(&self) -> Vec<isize> {
        element_strides(&self.layout.shape, self.layout.order)
            .into_iter()
            .map(|s| s * self.layout.dtype.itemsize() as isize)
            .collect()
    }

    /// Memory order of the data.
    #[must_use]
    pub fn order(&self) -> Order {
        self.layout.order
    }

    /// The axis rows are appended along (see [`Appender`](crate::Appender)):
    /// the first for C order, the last for Fortran order; `None` for a 0-d
    /// array.
    #[must_use]
    pub fn growth_axis(&self) -> Option<usize> {
        growth_axis(self.ndim(), self.layout.order)
    }

    /// The shape of one row: the shape without the
    /// [`growth_axis`](Self::growth_axis) (`None` for a 0-d array).
    #[must_use]
    pub fn row_shape(&self) -> Option<Vec<usize>> {
        let axis = self.growth_axis()?;
        Some(self.layout.shape.iter().enumerate().filter(|&(i, _)| i != axis).map(|(_, &n)| n).collect())
    }

    /// Byte offset of the first element in the file.
    #[must_use]
    pub fn offset(&self) -> u64 {
        self.layout.offset
    }

    /// The mode the file was opened in.
    #[must_use]
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Raw or `.npy` (with its version).
    #[must_use]
    pub fn format(&self) -> Format {
        self.format
    }

    /// The bytes a `.npy` file holds past the data its header describes,
    /// as an interrupted append leaves them (rows written, the header's
    /// shape not yet rewritten); `None` when there are none, and always for
    /// raw files (whose shape the caller gives: the rest of the file is
    /// simply not part of the array). Readers ignore these bytes, as NumPy
    /// does.
    ///
    /// ```
    /// use mmarray::{DType, NpyOptions, ScalarKind};
    /// use std::io::Write;
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.npy");
    /// // SAFETY: the file is private to this example.
    /// drop(unsafe { NpyOptions::new(DType::native(ScalarKind::F32), &[4, 3]).create(&path)? });
    /// // one whole row of 3 float32 and 5 bytes of the next, past the header's shape
    /// std::fs::OpenOptions::new().append(true).open(&path)?.write_all(&[0u8; 17])?;
    /// // SAFETY: as above.
    /// let a = unsafe { mmarray::MmapArray::open_npy(&path, mmarray::Mode::ReadOnly)? };
    /// let t = a.trailing().unwrap();
    /// assert_eq!((t.bytes, t.row_bytes, t.whole_rows()), (17, Some(12), Some(1)));
    /// assert_eq!(a.shape(), &[4, 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn trailing(&self) -> Option<Trailing> {
        if !matches!(self.format, Format::Npy(_)) {
            return None;
        }
        let bytes = self.file_len()?.checked_sub(self.file_end()).filter(|&b| b > 0)?;
        Some(Trailing { bytes, row_bytes: growth_row_bytes(&self.layout.shape, self.layout.order, self.layout.dtype) })
    }

    /// Whether creating or growing the file reserved its space for real.
    #[must_use]
    pub fn preallocation(&self) -> Preallocation {
        self.preallocation
    }

    // ----- bytes ------------------------------------------------------------

    /// The array's bytes, in file order.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.map.bytes()
    }

    /// The array's bytes, writable.
    ///
    /// # Errors
    /// [`ErrorKind::ReadOnly`] in mode `r`.
    pub fn as_bytes_mut(&mut self) -> Result<&mut [u8]> {
        if self.file.is_none() {
            return Err(closed(&self.path));
        }
        match &mut self.map {
            Mapping::Empty => Ok(&mut []),
            Mapping::Mapped(r) => r.bytes_mut().ok_or_else(|| read_only(&self.path)),
        }
    }

    /// The cheap half of [`check_intact`](Self::check_intact), for checks
    /// around every element access: [`ErrorKind::Truncated`] if an access
    /// faulted on pages a truncation removed (no system call; a cut inside
    /// the last page, which raises no fault, is not seen).
    ///
    /// # Errors
    /// As above.
    pub fn check_faults(&self) -> Result<()> {
        if self.guard.poisoned() {
            return Err(self.truncated(self.file_len()));
        }
        Ok(())
    }

    // ----- typed access -----------------------------------------------------

    fn check_kind<T: Element>(&self) -> Result<()> {
        if self.file.is_none() {
            return Err(closed(&self.path));
        }
        self.check_intact()?;
        check_kind::<T>(&self.path, self.layout.dtype)
    }

    /// Checks that a zero-copy `&[T]` over the data is sound and correct.
    fn check_viewable<T: Element>(&self) -> Result<()> {
        self.check_kind::<T>()?;
        let dtype = self.layout.dtype;
        if !dtype.is_native() {
            return Err(Error::at(
                ErrorKind::ByteOrder,
                &self.path,
                format_args!(
                    "data is {} ('{}'), this machine is {}: a zero-copy view would show wrong \
                     numbers; use get() or to_array(), which swap bytes",
                    dtype.byte_order().describe(),
                    dtype.descr(),
                    crate::ByteOrder::NATIVE.describe()
                ),
            ));
        }
        let align = std::mem::align_of::<T>();
        let bytes = self.as_bytes();
        if !bytes.is_empty() && bytes.as_ptr() as usize % align != 0 {
            return Err(Error::at(
                ErrorKind::Misaligned,
                &self.path,
                format_args!(
                    "data at byte offset {} is not aligned to {align} bytes for {}: use get() or \
                     to_array(), or an offset that is a multiple of {align}",
                    self.layout.offset,
                    dtype.kind().name()
                ),
            ));
        }
        if !T::valid_bytes(bytes) {
            let (at, byte) = crate::invalid_bool(bytes).unwrap_or((0, bytes[0]));
            return Err(Error::at(
                ErrorKind::InvalidArgument,
                &self.path,
                format_args!("{}; use get() or to_array(), which read any non-zero byte as true", crate::invalid_bool_message(at, byte)),
            ));
        }
        Ok(())
    }

    fn ndarray_shape(&self) -> ndarray::Shape<IxDyn> {
        IxDyn(&self.layout.shape).set_f(self.layout.order == Order::F)
    }

    /// A zero-copy read-only view of the data as an [`ndarray::ArrayViewD`],
    /// which slices, iterates and computes like any ndarray.
    ///
    /// ```
    /// use mmarray::{NpyOptions, DType, ScalarKind};
    /// use ndarray::s;
    /// let dir = tempfile::tempdir()?;
    /// let a = NpyOptions::new(DType::native(ScalarKind::F64), &[3, 4]).create_pending(dir.path().join("a.npy"))?;
    /// let v = a.view::<f64>()?;
    /// assert_eq!(v.shape(), &[3, 4]);
    /// assert_eq!(v.slice(s![1.., ..2]).sum(), 0.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::DtypeMismatch`] if `T` is not the array's type;
    /// [`ErrorKind::ByteOrder`] for non-native byte order;
    /// [`ErrorKind::Misaligned`] if the offset does not align the data for
    /// `T`; [`ErrorKind::InvalidArgument`] for bool data holding bytes other
    /// than 0 and 1. [`get`](Self::get) and [`to_array`](Self::to_array) work
    /// in all these cases but the first.
    pub fn view<T: Element>(&self) -> Result<ArrayViewD<'_, T>> {
        self.check_viewable::<T>()?;
        let shape = self.ndarray_shape();
        let bytes = self.as_bytes();
        let slice: &[T] = if bytes.is_empty() {
            &[]
        } else {
            // SAFETY: `check_viewable` verified that T is the dtype's type
            // (so size_of::<T>() * len() == bytes.len()), that the pointer is
            // aligned for T, and that every bit pattern present is valid for
            // T. The bytes live as long as `&self`.
            unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<T>(), self.len()) }
        };
        ArrayViewD::from_shape(shape, slice).map_err(|e| Error::at(ErrorKind::InvalidArgument, &self.path, e))
    }

    /// A zero-copy writable view of the data. Writes reach the file in modes
    /// `r+` and `w+` (after a flush, or when the array is dropped) and stay in
    /// this process in mode `c`.
    ///
    /// # Errors
    /// [`ErrorKind::ReadOnly`] in mode `r`, and those of [`view`](Self::view).
    pub fn view_mut<T: Element>(&mut self) -> Result<ArrayViewMutD<'_, T>> {
        if !self.mode.is_writable() {
            return Err(read_only(&self.path));
        }
        self.check_viewable::<T>()?;
        let shape = self.ndarray_shape();
        let len = self.len();
        let path = self.path.clone();
        let bytes = self.as_bytes_mut()?;
        let slice: &mut [T] = if bytes.is_empty() {
            &mut []
        } else {
            // SAFETY: as in `view`; the borrow is unique because it comes
            // from `&mut self`, and the mapping is writable (checked above).
            unsafe { std::slice::from_raw_parts_mut(bytes.as_mut_ptr().cast::<T>(), len) }
        };
        ArrayViewMutD::from_shape(shape, slice).map_err(|e| Error::at(ErrorKind::InvalidArgument, &path, e))
    }

    /// Byte position of the element at `index` within the data.
    fn byte_index(&self, index: &[usize]) -> Result<usize> {
        let shape = &self.layout.shape;
        if index.len() != shape.len() || index.iter().zip(shape).any(|(&i, &d)| i >= d) {
            return Err(Error::at(
                ErrorKind::IndexOutOfBounds,
                &self.path,
                format_args!("index {} is out of bounds for shape {}", shape_repr(index), shape_repr(shape)),
            ));
        }
        let strides = element_strides(shape, self.layout.order);
        let flat: isize = index.iter().zip(&strides).map(|(&i, &s)| i as isize * s).sum();
        Ok(flat.unsigned_abs() * self.layout.dtype.itemsize())
    }

    /// Reads one element, whatever the byte order or alignment.
    ///
    /// # Errors
    /// [`ErrorKind::DtypeMismatch`] if `T` is not the array's type;
    /// [`ErrorKind::IndexOutOfBounds`] if `index` is not inside the shape.
    pub fn get<T: Element>(&self, index: &[usize]) -> Result<T> {
        self.check_kind::<T>()?;
        let at = self.byte_index(index)?;
        let value = read_element(&self.as_bytes()[at..], !self.layout.dtype.is_native());
        self.check_intact()?;
        Ok(value)
    }

    /// Writes one element, whatever the byte order or alignment.
    ///
    /// # Errors
    /// [`ErrorKind::ReadOnly`] in mode `r`, and those of [`get`](Self::get).
    pub fn set<T: Element>(&mut self, index: &[usize], value: T) -> Result<()> {
        if !self.mode.is_writable() {
            return Err(read_only(&self.path));
        }
        self.check_kind::<T>()?;
        let at = self.byte_index(index)?;
        let swap = !self.layout.dtype.is_native();
        write_element(&mut self.as_bytes_mut()?[at..], value, swap);
        self.check_intact()
    }

    /// The data to read: the zero-copy [`view`](Self::view) when there is
    /// one, else (non-native byte order, misaligned data) an owned copy made
    /// by [`to_array`](Self::to_array), which needs memory for the whole
    /// array. For commands that must read any file NumPy reads.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// use mmarray::{ByteOrder, DType, Mode, RawOptions, ScalarKind};
    /// let path = dir.path().join("big_endian.f8");
    /// std::fs::write(&path, 1.5f64.to_be_bytes())?;
    /// let opts = RawOptions::new(DType::with_byte_order(ScalarKind::F64, ByteOrder::Big)).mode(Mode::ReadOnly);
    /// // SAFETY: the file is private to this example: nothing writes it while `a` is mapped.
    /// let a = unsafe { opts.open(&path)? };
    /// assert!(a.view::<f64>().is_err());
    /// assert_eq!(a.view_or_copy::<f64>()?[[0]], 1.5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`to_array`](Self::to_array) (and `view`'s invalid-bool error).
    pub fn view_or_copy<T: Element>(&self) -> Result<CowArray<'_, T, IxDyn>> {
        match self.view::<T>() {
            Ok(v) => Ok(v.into()),
            Err(e) if matches!(e.kind(), ErrorKind::ByteOrder | ErrorKind::Misaligned) => Ok(self.to_array::<T>()?.into()),
            Err(e) => Err(e),
        }
    }

    /// Copies the data into an owned array (in the file's memory order),
    /// swapping bytes and handling misalignment as needed.
    ///
    /// # Errors
    /// [`ErrorKind::DtypeMismatch`] if `T` is not the array's type.
    pub fn to_array<T: Element>(&self) -> Result<ArrayD<T>> {
        self.check_kind::<T>()?;
        if self.check_viewable::<T>().is_ok() {
            let copy = self.view::<T>()?.to_owned();
            self.check_intact()?;
            return Ok(copy);
        }
        let swap = !self.layout.dtype.is_native();
        let size = self.layout.dtype.itemsize();
        let data: Vec<T> = self.as_bytes().chunks_exact(size).map(|b| read_element(b, swap)).collect();
        self.check_intact()?;
        ArrayD::from_shape_vec(self.ndarray_shape(), data)
            .map_err(|e| Error::at(ErrorKind::InvalidArgument, &self.path, e))
    }

    /// Writes every element from `f`, which receives the element's logical
    /// flat index in C order (so `fill_with(|i| i as f64)` stores
    /// `np.arange(n).reshape(shape)` whatever the memory order). Elements are
    /// visited in memory order, so the pass is sequential on disk; bytes are
    /// swapped for non-native byte order.
    ///
    /// # Errors
    /// [`ErrorKind::ReadOnly`] in mode `r`; [`ErrorKind::DtypeMismatch`] if
    /// `T` is not the array's type.
    pub fn fill_with<T: Element>(&mut self, mut f: impl FnMut(usize) -> T) -> Result<()> {
        if !self.mode.is_writable() {
            return Err(read_only(&self.path));
        }
        self.check_kind::<T>()?;
        let swap = !self.layout.dtype.is_native();
        let size = self.layout.dtype.itemsize();
        let mut logical = fill::logical_indices(&self.layout.shape, self.layout.order, 0);
        // Ask for each window's pages before writing it: faulting the pages
        // of a freshly reserved file one by one (each zero-filled by its own
        // read-ahead) is several times slower.
        const WINDOW: usize = 256 << 20; // a multiple of every itemsize
        let nbytes = self.nbytes();
        for start in (0..nbytes).step_by(WINDOW) {
            let len = WINDOW.min(nbytes - start);
            let _ = self.advise_range(Advice::WillNeed, start, len);
            for (chunk, i) in self.as_bytes_mut()?[start..start + len].chunks_exact_mut(size).zip(&mut logical) {
                write_element(chunk, f(i), swap);
            }
        }
        Ok(())
    }

    // ----- flushing ---------------------------------------------------------

    fn shared(&self) -> Option<&Region> {
        self.file.as_ref().and(self.map.shared())
    }

    /// Writes modified pages back to the file and waits for the write
    /// (`msync(MS_SYNC)`, what `numpy.memmap.flush` does). After it returns,
    /// other processes reading the file see the data, and on Linux the pages
    /// have been handed to the storage device; it does not flush the file's
    /// metadata or the device's cache: use [`flush_durable`](Self::flush_durable)
    /// for that. A no-op in modes `r` and `c`.
    ///
    /// # Errors
    /// [`ErrorKind::Io`] if the kernel reports a write error.
    pub fn flush(&self) -> Result<()> {
        self.shared().map_or(Ok(()), |m| m.flush_range(0, self.nbytes(), true).map_err(|e| Error::io(&self.path, "flush failed", e)))?;
        // (written pages past a new end cannot have reached the file)
        self.check_intact()
    }

    /// Starts writing modified pages back and returns at once
    /// (`msync(MS_ASYNC)`).
    ///
    /// # Errors
    /// [`ErrorKind::Io`] if the kernel refuses.
    pub fn flush_async(&self) -> Result<()> {
        self.shared().map_or(Ok(()), |m| m.flush_range(0, self.nbytes(), false).map_err(|e| Error::io(&self.path, "flush failed", e)))
    }

    /// Like [`flush`](Self::flush) for `len` bytes starting `offset` bytes
    /// into the data.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] if the range is outside the data;
    /// [`ErrorKind::Io`] on a write error.
    pub fn flush_range(&self, offset: usize, len: usize) -> Result<()> {
        let end = offset.checked_add(len).filter(|&e| e <= self.nbytes());
        if end.is_none() {
            return Err(Error::at(
                ErrorKind::InvalidArgument,
                &self.path,
                format_args!("flush range {offset}+{len} is outside the {} data bytes", self.nbytes()),
            ));
        }
        match self.shared() {
            Some(m) if len > 0 => {
                m.flush_range(offset, len, true).map_err(|e| Error::io(&self.path, "flush failed", e))?;
                self.check_intact()
            }
            _ => Ok(()),
        }
    }

    /// Flushes, then `fsync`s the file: data and metadata (such as the size
    /// of a grown file) are on stable storage when it returns, surviving a
    /// power cut. The slowest flush; a no-op in modes `r` and `c`.
    ///
    /// # Errors
    /// [`ErrorKind::Io`] on a write error.
    pub fn flush_durable(&self) -> Result<()> {
        if !self.mode.writes_to_file() {
            return Ok(());
        }
        self.flush()?;
        match &self.file {
            Some(f) => f.sync_all().map_err(|e| Error::io(&self.path, "fsync failed", e)),
            None => Err(closed(&self.path)),
        }
    }

    /// Flushes and unmaps the array, reporting any write error (which a drop
    /// cannot).
    ///
    /// # Errors
    /// [`ErrorKind::Io`] if the flush fails.
    pub fn close(mut self) -> Result<()> {
        let result = self.flush().and(self.check_intact());
        self.guard = Guard::NONE; // (unregister before the unmap)
        self.map = Mapping::Empty;
        result
    }

    /// Takes an exclusive advisory lock on the file, waiting until no other
    /// handle (in this process or another) holds it: for writers that must
    /// not interleave their read-modify-write passes (two `x += 1` over the
    /// same region at once lose updates). Readers and writers that do not
    /// ask for the lock are not held back, and workers writing disjoint
    /// regions need no lock at all. Released when the [`WriteLock`](crate::WriteLock)
    /// drops, or when the process ends however it ends. `mmarray apply`
    /// takes it for its whole pass.
    ///
    /// ```
    /// use mmarray::{DType, Mode, MmapArray, NpyOptions, ScalarKind};
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("counts.npy");
    /// NpyOptions::new(DType::native(ScalarKind::I64), &[1000]).create_pending(&path)?.persist(false)?;
    /// // SAFETY: the file is private to this example; `b` borrows no view
    /// // while `a` writes through one (they only take locks).
    /// let mut a = unsafe { MmapArray::open_npy(&path, Mode::ReadWrite)? };
    /// // SAFETY: as above.
    /// let b = unsafe { MmapArray::open_npy(&path, Mode::ReadWrite)? };
    /// let lock = a.lock_exclusive()?;
    /// assert!(b.try_lock_exclusive()?.is_none()); // another handle: refused
    /// a.view_mut::<i64>()?.mapv_inplace(|x| x + 1);
    /// drop(lock);
    /// assert!(b.try_lock_exclusive()?.is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::Closed`] after [`close_in_place`](Self::close_in_place);
    /// [`ErrorKind::Io`] if the file system refuses locks.
    pub fn lock_exclusive(&self) -> Result<crate::WriteLock> {
        let file = self.file.as_ref().ok_or_else(|| closed(&self.path))?;
        crate::storage::lock_write(file, &self.path, true)?.ok_or_else(|| Error::at(ErrorKind::Io, &self.path, "the lock was not granted"))
    }

    /// Like [`lock_exclusive`](Self::lock_exclusive), without waiting:
    /// `None` if another handle holds the lock.
    ///
    /// # Errors
    /// As [`lock_exclusive`](Self::lock_exclusive).
    pub fn try_lock_exclusive(&self) -> Result<Option<crate::WriteLock>> {
        let file = self.file.as_ref().ok_or_else(|| closed(&self.path))?;
        crate::storage::lock_write(file, &self.path, false)
    }

    /// Marks a freshly mapped new file as pending (made by `create_pending`).
    pub(crate) fn set_pending(&mut self, pending: crate::storage::Unnamed) {
        self.pending = Some(pending);
    }

    /// Gives an array made by [`NpyOptions::create_pending`](crate::NpyOptions::create_pending)
    /// or [`RawOptions::create_pending`](crate::RawOptions::create_pending)
    /// its file name, whole: writes it back and makes it durable (`msync`,
    /// `fsync`), then names it (with `replace`, atomically in place of any
    /// existing file; without, only if the name is still free) and syncs the
    /// directory. Until this returns nothing is at the path; if it fails, or
    /// the array is dropped first, or the process dies, nothing ever appears
    /// there and an existing file of that name is untouched.
    ///
    /// ```
    /// use mmarray::{DType, ErrorKind, NpyOptions, ScalarKind};
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("out.npy");
    /// let mut a = NpyOptions::new(DType::native(ScalarKind::F32), &[1000]).create_pending(&path)?;
    /// a.view_mut::<f32>()?.fill(1.5);
    /// assert!(!path.exists()); // nothing there while it is being made
    /// a.persist(false)?;
    /// assert_eq!(std::fs::metadata(&path)?.len(), 128 + 4000);
    ///
    /// // a second one may not take the name, unless it replaces it
    /// let b = NpyOptions::new(DType::native(ScalarKind::F32), &[10]).create_pending(&path)?;
    /// assert_eq!(b.persist(false).unwrap_err().kind(), ErrorKind::AlreadyExists);
    /// NpyOptions::new(DType::native(ScalarKind::F32), &[10]).create_pending(&path)?.persist(true)?;
    /// assert_eq!(std::fs::metadata(&path)?.len(), 128 + 40);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] if the array was not made pending;
    /// [`ErrorKind::Truncated`] if its file lost pages meanwhile;
    /// [`ErrorKind::AlreadyExists`] without `replace` if the path exists;
    /// [`ErrorKind::Io`] if writing, syncing or naming fails.
    pub fn persist(mut self, replace: bool) -> Result<()> {
        let Some(mut pending) = self.pending.take() else {
            return Err(Error::at(ErrorKind::InvalidArgument, &self.path, "persist() is for arrays made by create_pending()"));
        };
        self.flush()?;
        self.check_intact()?;
        let file = self.file.as_ref().ok_or_else(|| closed(&self.path))?;
        pending.publish(file, replace)?;
        self.close()
    }

    /// The device and inode of the file this array maps, from the
    /// descriptor it holds (so a rename of the path since the array was
    /// opened cannot change the answer); `None` once closed, or if `fstat`
    /// fails.
    ///
    /// ```
    /// use mmarray::{DType, NpyOptions, ScalarKind};
    /// use std::os::unix::fs::MetadataExt;
    /// let dir = tempfile::tempdir()?;
    /// let p = dir.path().join("a.npy");
    /// // SAFETY: no other handle changes or truncates the new file meanwhile.
    /// let a = unsafe { NpyOptions::new(DType::native(ScalarKind::F64), &[4]).create(&p)? };
    /// let meta = std::fs::metadata(&p)?;
    /// assert_eq!(a.file_id(), Some((meta.dev(), meta.ino())));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn file_id(&self) -> Option<(u64, u64)> {
        let st = rustix::fs::fstat(self.file.as_ref()?).ok()?;
        Some((st.st_dev, st.st_ino))
    }

    /// Whether [`close_in_place`](Self::close_in_place) was called.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.file.is_none()
    }

    /// Flushes, then lets go of the file while keeping the address range
    /// valid: the mapped pages are replaced by private zero pages (writable
    /// if the array was) and the file descriptor (with its lock) is closed,
    /// so the file can be deleted, overwritten or its space reclaimed. Any
    /// pointer into the data that outlives this call (held by foreign code,
    /// such as a NumPy array built on the buffer) reads zeros and writes
    /// nowhere instead of crashing. Typed access afterwards fails with
    /// [`ErrorKind::Closed`], and so does [`check_address`](crate::check_address)
    /// for any address in the range, so code that computed on it through a
    /// foreign pointer meanwhile can tell. The address range itself is
    /// released when the array is dropped.
    ///
    /// For bindings whose arrays can outlive an explicit close; Rust code
    /// should use [`close`](Self::close).
    ///
    /// # Errors
    /// [`ErrorKind::Io`] if the flush fails (nothing is released then);
    /// [`ErrorKind::Truncated`] if another process truncated the file while
    /// it was mapped (released all the same).
    pub fn close_in_place(&mut self) -> Result<()> {
        if self.file.is_none() {
            return Ok(());
        }
        // A truncated file is released all the same (and reported after).
        let flushed = self.flush();
        if flushed.as_ref().is_err_and(|e| e.kind() != ErrorKind::Truncated) {
            return flushed;
        }
        let bytes = self.as_bytes();
        if !bytes.is_empty() {
            let page = rustix::param::page_size();
            let start = bytes.as_ptr() as usize;
            let aligned = start & !(page - 1);
            let len = start + bytes.len() - aligned;
            // Writable arrays get writable memory: a foreign pointer that
            // writes after the close (a NumPy view) writes nowhere instead
            // of faulting.
            let prot = if self.mode.is_writable() {
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE
            } else {
                rustix::mm::ProtFlags::READ
            };
            // SAFETY: [aligned, aligned + len) is exactly the page range of
            // this array's own mapping (its Region maps from the page
            // holding the first byte), and `&mut self` guarantees no Rust reference
            // into it exists. MAP_FIXED replaces those pages atomically with
            // anonymous zero pages, so the range stays mapped for any
            // foreign pointer; the Region still unmaps it when `self` drops.
            unsafe {
                rustix::mm::mmap_anonymous(
                    aligned as *mut std::ffi::c_void,
                    len,
                    prot,
                    // (NORESERVE: an array larger than RAM plus swap must
                    // close under strict accounting of writable memory too)
                    rustix::mm::MapFlags::PRIVATE | rustix::mm::MapFlags::FIXED | rustix::mm::MapFlags::NORESERVE,
                )
            }
            .map_err(|e| Error::io(&self.path, "cannot release the mapping", std::io::Error::from(e)))?;
        }
        self.guard.mark_closed();
        // (the file's pages are no longer mapped here: they can be dropped)
        self.release_cache();
        self.file = None;
        flushed
    }

    /// With `yes`, when this array is dropped or [closed](Self::close_in_place),
    /// the page cache is asked to drop its file's pages in the array's byte
    /// range (`posix_fadvise(POSIX_FADV_DONTNEED)`, after the mapping is
    /// released): for a piece of a file larger than RAM read once (a dask
    /// task's chunk), so reading it does not push the rest of the system's
    /// cache out, and the kernel does not have to find memory by evicting
    /// while it reads. Nothing is lost: pages still mapped elsewhere, dirty
    /// or shared with a neighbour's range stay, and the file is read again
    /// if needed. (Measured over a 28 GiB file on a 24 GiB machine: 128 MiB
    /// chunks summed by two threads took 47.5 s without, 22.6 s with.)
    ///
    /// ```
    /// # use mmarray::{RawOptions, DType, ScalarKind};
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.bin");
    /// std::fs::write(&path, vec![0u8; 1 << 20])?;
    /// // SAFETY: nothing else changes the file while it is mapped.
    /// let mut a = unsafe { RawOptions::new(DType::native(ScalarKind::F32)).open(&path)? };
    /// a.drop_behind(true);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn drop_behind(&mut self, yes: bool) {
        self.drop_behind = yes;
    }

    /// [`drop_behind`](Self::drop_behind)'s advice, once this array's own
    /// mapping of the file is gone (a mapped page is never dropped).
    fn release_cache(&self) {
        // (a length of 0 would mean "to the end of the file")
        let len = std::num::NonZeroU64::new(self.nbytes() as u64);
        if let (true, Some(file), Some(len)) = (self.drop_behind, &self.file, len) {
            let _ = rustix::fs::fadvise(file, self.layout.offset, Some(len), rustix::fs::Advice::DontNeed);
        }
    }

    // ----- hints ------------------------------------------------------------

    /// Tells the kernel how the whole array will be accessed.
    ///
    /// # Errors
    /// [`ErrorKind::Io`] if `madvise` fails.
    pub fn advise(&self, advice: Advice) -> Result<()> {
        self.advise_range(advice, 0, self.nbytes())
    }

    /// Tells the kernel how `len` bytes starting `offset` bytes into the data
    /// will be accessed.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] if the range is outside the data;
    /// [`ErrorKind::Io`] if `madvise` fails.
    pub fn advise_range(&self, advice: Advice, offset: usize, len: usize) -> Result<()> {
        if offset.checked_add(len).is_none_or(|e| e > self.nbytes()) {
            return Err(Error::at(
                ErrorKind::InvalidArgument,
                &self.path,
                format_args!("advice range {offset}+{len} is outside the {} data bytes", self.nbytes()),
            ));
        }
        let a = advice.to_rustix();
        let r = match &self.map {
            Mapping::Empty => Ok(()),
            _ if len == 0 => Ok(()),
            Mapping::Mapped(r) => r.advise_range(a, offset, len),
        };
        r.map_err(|e| Error::io(&self.path, "madvise failed", e))
    }
}

impl Drop for MmapArray {
    /// Flushes writes to the file (modes `r+`, `w+`); errors are ignored
    /// here, so call [`MmapArray::close`] to see them.
    fn drop(&mut self) {
        if let Some(m) = self.shared() {
            let _ = m.flush_range(0, m.bytes().len(), true);
        }
        if self.drop_behind && self.file.is_some() {
            // unregistered from the truncation guard, then unmapped, then
            // the file's pages dropped (the fields would go in that order)
            self.guard = Guard::NONE;
            self.map = Mapping::Empty;
            self.release_cache();
        }
    }
}

impl fmt::Debug for MmapArray {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MmapArray")
            .field("path", &self.path)
            .field("dtype", &self.layout.dtype.descr())
            .field("shape", &self.layout.shape)
            .field("order", &self.layout.order)
            .field("offset", &self.layout.offset)
            .field("mode", &self.mode)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// Strides in elements for a contiguous array of `shape` in `order`.
pub(crate) fn element_strides(shape: &[usize], order: Order) -> Vec<isize> {
    let mut strides = vec![0isize; shape.len()];
    let mut acc = 1isize;
    let mut set = |i: usize| {
        strides[i] = acc;
        acc = acc.saturating_mul(shape[i].max(1) as isize);
    };
    match order {
        Order::C => (0..shape.len()).rev().for_each(&mut set),
        Order::F => (0..shape.len()).for_each(&mut set),
    }
    strides
}

fn closed(path: &Path) -> Error {
    Error::at(ErrorKind::Closed, path, "the array was closed")
}

fn read_only(path: &Path) -> Error {
    Error::at(
        ErrorKind::ReadOnly,
        path,
        "opened in mode 'r' (read-only): open with 'r+', 'w+' or 'c' to write",
    )
}
