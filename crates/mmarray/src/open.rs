//! Opening and creating mapped arrays: raw files ([`RawOptions`], the
//! `numpy.memmap` model) and `.npy` files ([`MmapArray::open_npy`],
//! [`NpyOptions`]).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use crate::array::{shape_repr, Format, Layout, MmapArray};
use crate::dtype::DType;
use crate::error::{Error, ErrorKind, Result};
use crate::mode::{Mode, Order};
use crate::npy::{self, NpyHeader, NpyVersion};
use crate::storage::{self, Preallocation};

/// Opens `path` for `mode` (read-only for `r` and `c`), checking it is a
/// regular file. Never creates or truncates, and never blocks: a FIFO is
/// opened without waiting for a writer (`O_NONBLOCK`), then refused.
pub(crate) fn open_existing(path: &Path, mode: Mode) -> Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(mode.writes_to_file())
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(|e| Error::io(path, "cannot open", e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, "cannot stat", e))?;
    if meta.is_dir() {
        // as open(2) for writing and NumPy's open() report it: EISDIR
        let eisdir = std::io::Error::from_raw_os_error(rustix::io::Errno::ISDIR.raw_os_error());
        return Err(Error::io(path, "is a directory, which cannot be mapped", eisdir));
    }
    if !meta.is_file() {
        return Err(Error::at(ErrorKind::NotAFile, path, "is not a regular file, so it cannot be mapped"));
    }
    storage::blocking(&file, path)?;
    storage::lock_shared(&file);
    Ok(file)
}

pub(crate) fn file_len(file: &File, path: &Path) -> Result<u64> {
    Ok(file.metadata().map_err(|e| Error::io(path, "cannot stat", e))?.len())
}

/// How to map a raw file: the `numpy.memmap` parameters.
///
/// ```
/// use mmarray::{RawOptions, DType, Mode, ScalarKind};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("data.f32");
/// let f32 = DType::native(ScalarKind::F32);
///
/// // SAFETY: the file is private to this example (a new temporary directory):
/// // nothing else writes it while views of `a` or `b` live.
/// let mut a = unsafe { RawOptions::new(f32).mode(Mode::Write).shape(&[100, 3]).open(&path)? };
/// a.set(&[99, 2], 7.5f32)?;
/// a.close()?;
///
/// // Shape omitted: a 1-D array of all the elements after the offset.
/// // SAFETY: as above.
/// let b = unsafe { RawOptions::new(f32).mode(Mode::ReadOnly).offset(4 * 3).open(&path)? };
/// assert_eq!(b.shape(), &[297]);
/// assert_eq!(b.get::<f32>(&[296])?, 7.5);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct RawOptions {
    dtype: DType,
    mode: Mode,
    offset: u64,
    shape: Option<Vec<usize>>,
    order: Order,
}

impl RawOptions {
    /// Options for a raw file of `dtype`, with `numpy.memmap`'s defaults:
    /// mode `r+`, offset 0, shape inferred, C order.
    #[must_use]
    pub fn new(dtype: DType) -> Self {
        Self { dtype, mode: Mode::ReadWrite, offset: 0, shape: None, order: Order::C }
    }

    /// The access mode (default `r+`).
    #[must_use]
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Byte offset of the first element in the file (any value; the mapping
    /// is page-aligned internally).
    #[must_use]
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    /// The shape; without it the array is 1-D and holds every whole element
    /// after the offset. Required for mode `w+`.
    #[must_use]
    pub fn shape(mut self, shape: &[usize]) -> Self {
        self.shape = Some(shape.to_vec());
        self
    }

    /// The memory order (default C).
    #[must_use]
    pub fn order(mut self, order: Order) -> Self {
        self.order = order;
        self
    }

    /// Opens (or for `w+`, creates or overwrites) the file and maps it.
    ///
    /// - `r`, `c`: the file must hold `offset + nbytes` bytes; it is never
    ///   changed (`c` writes stay in memory).
    /// - `r+`: a shorter file is grown to `offset + nbytes`, with the new
    ///   space reserved on disk (as NumPy grows it, but not sparse).
    /// - `w+`: the file is created, or truncated and refilled with zeros, at
    ///   exactly `offset + nbytes` bytes, all reserved on disk.
    ///
    /// # Errors
    /// - [`ErrorKind::NotFound`], [`ErrorKind::PermissionDenied`],
    ///   [`ErrorKind::NotAFile`]: the file cannot be opened.
    /// - [`ErrorKind::InvalidArgument`]: `w+` without a shape; a shape whose
    ///   size overflows; no shape and a data size that is not a whole number
    ///   of elements.
    /// - [`ErrorKind::FileTooSmall`]: `r`/`c` on a file shorter than
    ///   `offset + nbytes`, or an offset past the end with no shape.
    /// - [`ErrorKind::NoSpace`]: the disk cannot hold a created or grown file
    ///   (nothing is left behind).
    ///
    /// # Safety
    #[doc = include_str!("mapping_contract.md")]
    pub unsafe fn open(&self, path: impl AsRef<Path>) -> Result<MmapArray> {
        let path = path.as_ref();
        if self.mode == Mode::Write {
            return self.create(path, false);
        }
        let file = open_existing(path, self.mode)?;
        self.map_existing(file, path)
    }

    /// Creates a new file, as [`open`](Self::open) in mode `w+` does (the
    /// mode set here is ignored), but fails if `path` exists: there is no
    /// window between checking and creating in which another file could
    /// appear and be overwritten (`O_CREAT | O_EXCL`).
    ///
    /// # Errors
    /// As [`open`](Self::open) in mode `w+`, plus
    /// [`ErrorKind::AlreadyExists`] if the path exists (whatever it is).
    ///
    /// # Safety
    #[doc = include_str!("mapping_contract.md")]
    pub unsafe fn create_new(&self, path: impl AsRef<Path>) -> Result<MmapArray> {
        self.create(path.as_ref(), true)
    }

    fn create(&self, path: &Path, exclusive: bool) -> Result<MmapArray> {
        let layout = self.new_layout(path)?;
        let end = layout.checked_end(path)?;
        let (file, pre) = storage::create_sized(path, end, exclusive)?;
        MmapArray::map(path, file, layout, Mode::Write, Format::Raw, pre)
    }

    fn new_layout(&self, path: &Path) -> Result<Layout> {
        let Some(shape) = &self.shape else {
            return Err(Error::at(ErrorKind::InvalidArgument, path, "shape must be given if mode == 'w+'"));
        };
        Ok(Layout { dtype: self.dtype, shape: shape.clone(), order: self.order, offset: self.offset })
    }

    /// Like [`create_new`](Self::create_new), but the file has no name until
    /// [`MmapArray::persist`] gives it `path` whole (see there): a failure
    /// or a kill before that leaves nothing at `path`. The bytes before the
    /// offset are zeros.
    ///
    /// # Errors
    /// As [`create_new`](Self::create_new) (an existing path is reported by
    /// `persist`).
    ///
    /// Safe, unlike [`create_new`](Self::create_new): until
    /// [`persist`](MmapArray::persist) the file has no name (`O_TMPFILE`),
    /// so no other process or handle can open and map it, and `persist`
    /// takes the array by value, which ends every view borrowed from it
    /// before the file gets its name. Where the file system has no
    /// `O_TMPFILE`, the file has a hidden name beside the target until then
    /// (`.NAME.mmarray-PID-N-WHERE.tmp`, made exclusively): opening that file
    /// by its name while it is mapped is outside the contract, as writing
    /// this process's memory through `/proc/self/mem` is. (See [the mapping
    /// contract](crate#safety-the-mapping-contract).)
    pub fn create_pending(&self, path: impl AsRef<Path>) -> Result<MmapArray> {
        let path = path.as_ref();
        let layout = self.new_layout(path)?;
        let end = layout.checked_end(path)?;
        let (file, pre, pending) = storage::create_unnamed(path, end)?;
        let mut a = MmapArray::map(path, file, layout, Mode::Write, Format::Raw, pre)?;
        a.set_pending(pending);
        Ok(a)
    }

    /// Maps an already open `file` (as `numpy.memmap` does for an open file
    /// object); `label` names it in messages and [`MmapArray::path`]. The
    /// file must be open for reading, and for writing in modes `r+`/`w+`.
    /// Mode `w+` here never truncates (NumPy does not truncate a file object
    /// either): like `r+`, it grows a short file, with the space reserved.
    ///
    /// # Errors
    /// As [`open`](Self::open), except that nothing is created.
    ///
    /// # Safety
    #[doc = include_str!("mapping_contract.md")]
    pub unsafe fn open_file(&self, file: File, label: impl AsRef<Path>) -> Result<MmapArray> {
        let path = label.as_ref();
        if self.mode == Mode::Write && self.shape.is_none() {
            return Err(Error::at(ErrorKind::InvalidArgument, path, "shape must be given if mode == 'w+'"));
        }
        let meta = file.metadata().map_err(|e| Error::io(path, "cannot stat", e))?;
        if !meta.is_file() {
            return Err(Error::at(ErrorKind::NotAFile, path, "is not a regular file"));
        }
        storage::lock_shared(&file);
        self.map_existing(file, path)
    }

    fn map_existing(&self, file: File, path: &Path) -> Result<MmapArray> {
        let mut layout =
            Layout { dtype: self.dtype, shape: self.shape.clone().unwrap_or_default(), order: self.order, offset: self.offset };
        let len = file_len(&file, path)?;
        if self.shape.is_none() {
            layout.shape = vec![self.inferred_len(path, len)?];
        }
        let end = layout.checked_end(path)?;
        let mut pre = Preallocation::NotNeeded;
        if len < end {
            if !self.mode.writes_to_file() {
                return Err(Error::at(
                    ErrorKind::FileTooSmall,
                    path,
                    format_args!(
                        "file has {len} bytes, but offset {} + shape {} of '{}' needs {end}",
                        self.offset,
                        shape_repr(&layout.shape),
                        self.dtype.descr()
                    ),
                ));
            }
            pre = storage::reserve(&file, path, end)?;
        }
        MmapArray::map(path, file, layout, self.mode, Format::Raw, pre)
    }

    fn inferred_len(&self, path: &Path, len: u64) -> Result<usize> {
        let size = self.dtype.itemsize() as u64;
        if self.offset > len {
            return Err(Error::at(
                ErrorKind::FileTooSmall,
                path,
                format_args!("offset {} is past the end of the file ({len} bytes)", self.offset),
            ));
        }
        let avail = len - self.offset;
        if avail % size != 0 {
            return Err(Error::at(
                ErrorKind::InvalidArgument,
                path,
                format_args!(
                    "size of available data ({avail} bytes after offset {}) is not a multiple of the \
                     itemsize {size} of '{}'",
                    self.offset,
                    self.dtype.descr()
                ),
            ));
        }
        usize::try_from(avail / size)
            .map_err(|_| Error::at(ErrorKind::InvalidArgument, path, "file too large for this platform"))
    }
}

impl MmapArray {
    /// Opens an existing `.npy` file, reading dtype, shape and order from its
    /// header.
    ///
    /// Unlike `np.load(path, mmap_mode='w+')`, which truncates the file and
    /// destroys its data, mode `w+` here opens the existing file for reading
    /// and writing exactly as `r+` does. To create or overwrite a `.npy`
    /// file, use [`NpyOptions::create`].
    ///
    /// ```
    /// use mmarray::{MmapArray, Mode, NpyOptions, DType, ScalarKind};
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("x.npy");
    /// NpyOptions::new(DType::native(ScalarKind::I32), &[2, 5]).create_pending(&path)?.persist(false)?;
    /// // SAFETY: the file is private to this example (a new temporary
    /// // directory): nothing else writes it while views of `a` live.
    /// let a = unsafe { MmapArray::open_npy(&path, Mode::ReadOnly)? };
    /// assert_eq!(a.shape(), &[2, 5]);
    /// assert_eq!(a.dtype().descr(), "<i4");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// - [`ErrorKind::NotFound`], [`ErrorKind::PermissionDenied`],
    ///   [`ErrorKind::NotAFile`]: the file cannot be opened.
    /// - [`ErrorKind::InvalidHeader`]: not a `.npy` file, or a corrupt,
    ///   truncated or oversized header.
    /// - [`ErrorKind::UnsupportedDtype`]: object, string or structured data.
    /// - [`ErrorKind::FileTooSmall`]: the data is shorter than the header says
    ///   (the file is never extended to hide that).
    ///
    /// # Safety
    #[doc = include_str!("mapping_contract.md")]
    pub unsafe fn open_npy(path: impl AsRef<Path>, mode: Mode) -> Result<MmapArray> {
        let path = path.as_ref();
        let mode = if mode == Mode::Write { Mode::ReadWrite } else { mode };
        let file = open_existing(path, mode)?;
        let parsed = npy::read_header(&file, path)?;
        let layout = Layout::of_npy(&parsed.header, parsed.data_offset);
        let end = layout.checked_end(path)?;
        let len = file_len(&file, path)?;
        if len < end {
            return Err(Error::at(
                ErrorKind::FileTooSmall,
                path,
                format_args!(
                    "truncated .npy: the header says shape {} of '{}' ({} data bytes after a {}-byte \
                     header, {end} in all), but the file has {len} bytes",
                    shape_repr(&layout.shape),
                    layout.dtype.descr(),
                    end - parsed.data_offset,
                    parsed.data_offset
                ),
            ));
        }
        MmapArray::map(path, file, layout, mode, Format::Npy(parsed.version), Preallocation::NotNeeded)
    }
}

/// How to create a new `.npy` file (NumPy's `open_memmap(..., mode='w+')`).
///
/// ```
/// use mmarray::{NpyOptions, DType, ScalarKind, Order};
/// let dir = tempfile::tempdir()?;
/// let opts = NpyOptions::new(DType::native(ScalarKind::F64), &[1000, 10]).order(Order::F);
/// // SAFETY: the file is private to this example (a new temporary directory):
/// // nothing else writes it while views of `a` live.
/// let mut a = unsafe { opts.create(dir.path().join("big.npy"))? };
/// a.view_mut::<f64>()?.fill(1.0);
/// a.flush()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct NpyOptions {
    header: NpyHeader,
    version: Option<NpyVersion>,
}

impl NpyOptions {
    /// Options for a C-order `.npy` file of `dtype` and `shape`, written in
    /// the oldest format version that can hold its header.
    #[must_use]
    pub fn new(dtype: DType, shape: &[usize]) -> Self {
        Self { header: NpyHeader { dtype, fortran_order: false, shape: shape.to_vec() }, version: None }
    }

    /// The memory order (`fortran_order` in the header).
    #[must_use]
    pub fn order(mut self, order: Order) -> Self {
        self.header.fortran_order = order == Order::F;
        self
    }

    /// The format version; `None` (the default) picks as NumPy does.
    #[must_use]
    pub fn version(mut self, version: Option<NpyVersion>) -> Self {
        self.version = version;
        self
    }

    /// Creates the file, or overwrites an existing one, with a NumPy header
    /// (including NumPy's spare growth space) and zeroed data whose space is
    /// reserved on disk; returns it mapped in mode `w+`.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for a shape whose size overflows;
    /// [`ErrorKind::NoSpace`] if the disk cannot hold the file (nothing is
    /// left behind); the I/O kinds if the file cannot be created.
    ///
    /// # Safety
    #[doc = include_str!("mapping_contract.md")]
    pub unsafe fn create(&self, path: impl AsRef<Path>) -> Result<MmapArray> {
        self.create_impl(path.as_ref(), false)
    }

    /// Like [`create`](Self::create), but fails with
    /// [`ErrorKind::AlreadyExists`] if the path exists (checked and created
    /// in one step, `O_CREAT | O_EXCL`, so no other file can be overwritten).
    ///
    /// # Errors
    /// As [`create`](Self::create), plus an existing file.
    ///
    /// # Safety
    #[doc = include_str!("mapping_contract.md")]
    pub unsafe fn create_new(&self, path: impl AsRef<Path>) -> Result<MmapArray> {
        self.create_impl(path.as_ref(), true)
    }

    /// Like [`create_new`](Self::create_new), but the file has no name until
    /// [`MmapArray::persist`] gives it `path` whole, header and data (see
    /// there): a failure or a kill before that leaves nothing at `path`.
    ///
    /// # Errors
    /// As [`create_new`](Self::create_new) (an existing path is reported by
    /// `persist`).
    ///
    /// Safe, unlike [`create_new`](Self::create_new): until
    /// [`persist`](MmapArray::persist) the file has no name (`O_TMPFILE`),
    /// so no other process or handle can open and map it, and `persist`
    /// takes the array by value, which ends every view borrowed from it
    /// before the file gets its name. Where the file system has no
    /// `O_TMPFILE`, the file has a hidden name beside the target until then
    /// (`.NAME.mmarray-PID-N-WHERE.tmp`, made exclusively): opening that file
    /// by its name while it is mapped is outside the contract, as writing
    /// this process's memory through `/proc/self/mem` is. (See [the mapping
    /// contract](crate#safety-the-mapping-contract).)
    pub fn create_pending(&self, path: impl AsRef<Path>) -> Result<MmapArray> {
        let path = path.as_ref();
        let (bytes, version) = self.header.encode(self.version)?;
        let layout = self.layout(bytes.len());
        let end = layout.checked_end(path)?;
        let (file, pre, pending) = storage::create_unnamed(path, end)?;
        file.write_all_at(&bytes, 0).map_err(|e| Error::io(path, "cannot write the .npy header", e))?;
        let mut a = MmapArray::map(path, file, layout, Mode::Write, Format::Npy(version), pre)?;
        a.set_pending(pending);
        Ok(a)
    }

    fn layout(&self, header_len: usize) -> Layout {
        Layout::of_npy(&self.header, header_len as u64)
    }

    fn create_impl(&self, path: &Path, exclusive: bool) -> Result<MmapArray> {
        let (bytes, version) = self.header.encode(self.version)?;
        let layout = self.layout(bytes.len());
        let end = layout.checked_end(path)?;
        let (file, pre) = storage::create_sized(path, end, exclusive)?;
        if let Err(e) = file.write_all_at(&bytes, 0) {
            drop(file);
            let _ = std::fs::remove_file(path);
            return Err(Error::io(path, "cannot write the .npy header", e));
        }
        MmapArray::map(path, file, layout, Mode::Write, Format::Npy(version), pre)
    }
}
