//! Arrays that grow: [`Appender`] adds rows at the end of a `.npy` (or raw)
//! file, crash-consistently, while readers in other processes keep reading
//! it.
//!
//! # The commit protocol
//! Rows are written past the data the header describes (`pwrite`), where
//! readers, NumPy's included, ignore them. A commit then makes them part of
//! the array in three steps, each finished before the next begins:
//!
//! 1. `fdatasync`: the rows (and the file's new length) are durable;
//! 2. the header's shape is rewritten in place, in the same bytes (NumPy's
//!    growth padding leaves room for the growth axis to reach 21 digits), so
//!    the data never moves;
//! 3. `fdatasync` again: the new shape is durable.
//!
//! So at every instant, and after a crash or a power cut at any instant,
//! the header names only rows that are on the disk: the file opens with
//! `numpy.load` at its last committed length. Rows written and not yet
//! committed are left past the shape, where [`MmapArray::trailing`](crate::MmapArray::trailing)
//! (and `mmarray info`) reports them and [`recover`](crate::recover)
//! (`mmarray repair`) adopts or trims them, as the user chooses.
//!
//! # One writer
//! An appender holds the file's [`WriteLock`](crate::WriteLock) from open
//! to close; a second appender (or `apply`, or `repair`) is refused with
//! [`ErrorKind::InUse`] naming the holder's process where `/proc` shows it.
//! Readers take no lock and are never held back.
//!
//! # Space
//! The file's blocks are reserved ahead of the rows (`fallocate` with
//! `FALLOC_FL_KEEP_SIZE`, growing geometrically), so a long stream is not
//! fragmented and the reservation never shows as data: the file's length
//! is always the header plus the rows written. [`Appender::close`] (and a
//! drop) gives the unused reservation back. A full disk is reported as
//! [`ErrorKind::NoSpace`] with the file still valid at its last committed
//! length, and the partial rows of the failed write cut off again.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ndarray::{ArrayView, Dimension};

use crate::array::{growth_axis, Layout};
use crate::dtype::DType;
use crate::element::{write_element, Element};
use crate::error::{Error, ErrorKind, Result};
use crate::mode::{Mode, Order};
use crate::npy::{self, NpyHeader, NpyVersion};
use crate::shape_repr;
use crate::storage::WriteLock;

/// When an [`Appender`] commits the rows it has written (see
/// [the commit protocol](self#the-commit-protocol)): each commit costs two
/// `fdatasync`s, so committing less often streams faster and leaves more
/// rows to lose (never to corrupt) in a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// Every [`write`](Appender::write) is committed before it returns.
    EachWrite,
    /// A write commits once this many rows are uncommitted.
    Rows(u64),
    /// A write commits once this long has passed since the last commit.
    Interval(Duration),
    /// Only [`commit`](Appender::commit) and [`close`](Appender::close)
    /// (or a drop) commit.
    Manual,
}

/// What the file describes itself with.
#[derive(Debug, Clone)]
enum Kind {
    /// A `.npy` header of `version`, `data_offset` bytes long.
    Npy { version: NpyVersion },
    /// A raw file: the rows are the file's bytes past the offset.
    Raw,
}

/// A writer that adds rows at the end of an array's file (see the
/// [module documentation](self) for the commit protocol, the lock and the
/// reservation). Rows run along the growth axis: the first axis of a C-order
/// array, the last of a Fortran-order one (the axis whose rows follow each
/// other at the end of the data).
///
/// ```
/// use mmarray::{Appender, DType, Durability, MmapArray, Mode, Order, ScalarKind};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("stream.npy");
/// let f32 = DType::native(ScalarKind::F32);
/// let mut w = Appender::create(&path, f32, &[3], Order::C)?.durability(Durability::Manual);
/// for k in 0..4 {
///     w.write(ndarray::Array2::<f32>::from_elem((5, 3), k as f32).view())?;
/// }
/// assert_eq!(w.commit()?, 20); // the header now says (20, 3)
/// w.write(ndarray::Array2::<f32>::zeros((2, 3)).view())?;
/// assert_eq!(w.close()?, vec![22, 3]);
/// // SAFETY: the file is private to this example.
/// let a = unsafe { MmapArray::open_npy(&path, Mode::ReadOnly)? };
/// assert_eq!(a.shape(), &[22, 3]);
/// assert_eq!(a.get::<f32>(&[19, 2])?, 3.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Appender {
    path: PathBuf,
    file: File,
    _lock: WriteLock,
    kind: Kind,
    dtype: DType,
    order: Order,
    /// The shape with the growth axis at the committed length.
    shape: Vec<usize>,
    axis: usize,
    offset: u64,
    row_bytes: u64,
    /// Rows in the file: committed, then written past the header's shape.
    rows: u64,
    committed: u64,
    /// Where the reserved blocks end (`fallocate`, past the file's length).
    reserved: u64,
    /// `false` once the file system refused a reservation: stop asking.
    can_reserve: bool,
    durability: Durability,
    last_commit: Instant,
    /// Set when a header without room had to be rewritten (see
    /// [`Appender::header_rewritten`]).
    rewritten: Option<String>,
    closed: bool,
    /// The header's bytes as this appender last saw or wrote them (empty
    /// for raw files): a commit checks the file still has them.
    head: Vec<u8>,
}

/// The first reservation past the data, and the smallest step after it.
const RESERVE_MIN: u64 = 8 << 20;
/// The largest step of the reservation (it grows by the data's size up to
/// this): 1 GiB ahead is a few seconds of the fastest disks.
const RESERVE_MAX: u64 = 1 << 30;

impl Appender {
    /// Opens the existing `.npy` file at `path` to append rows to it, taking
    /// its write lock. The file must end where its header's shape does.
    ///
    /// ```
    /// use mmarray::{Appender, DType, NpyOptions, Order, ScalarKind};
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.npy");
    /// NpyOptions::new(DType::native(ScalarKind::I64), &[2, 2]).create_pending(&path)?.persist(false)?;
    /// let mut w = Appender::open(&path)?;
    /// w.write(ndarray::array![[1i64, 2]].into_dyn().view())?;
    /// assert_eq!(w.close()?, vec![3, 2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// - [`ErrorKind::InUse`] if another handle holds the file's write lock
    ///   (another appender), naming the holder's process id where `/proc`
    ///   shows it.
    /// - [`ErrorKind::InvalidArgument`] if bytes follow the data the header
    ///   describes (an interrupted append: `mmarray repair` or
    ///   [`recover`](crate::recover) first), or the array is 0-d.
    /// - [`ErrorKind::FileTooSmall`] if the file is shorter than its shape.
    /// - [`ErrorKind::InvalidHeader`], [`ErrorKind::UnsupportedDtype`] and
    ///   the I/O kinds as [`MmapArray::open_npy`](crate::MmapArray::open_npy).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        Self::of_file(path, crate::open::open_existing(path, Mode::ReadWrite)?)
    }

    /// [`open`](Self::open) on `file`, open for writing, named `path`.
    pub(crate) fn of_file(path: &Path, file: File) -> Result<Self> {
        let lock = crate::storage::lock_write_or_in_use(&file, path)?;
        Self::of_locked_file(path, file, lock)
    }

    /// [`of_file`](Self::of_file) with the write lock already held.
    fn of_locked_file(path: &Path, file: File, lock: WriteLock) -> Result<Self> {
        // (the copy a writer killed while moving the data left beside it)
        crate::storage::remove_stale_temporaries(path);
        let parsed = npy::read_header(&file, path)?;
        let layout = Layout::of_npy(&parsed.header, parsed.data_offset);
        Self::start(path, file, lock, Kind::Npy { version: parsed.version }, layout)
    }

    /// An appender on the raw array `layout` of `file` (an open array's
    /// duplicated descriptor), which must end where the file ends: rows are
    /// written at the file's end.
    pub(crate) fn of_raw_file(path: &Path, file: File, layout: Layout) -> Result<Self> {
        let lock = crate::storage::lock_write_or_in_use(&file, path)?;
        let end = layout.checked_end(path)?;
        let len = crate::open::file_len(&file, path)?;
        if len != end {
            return Err(Error::at(
                ErrorKind::InvalidArgument,
                path,
                format_args!(
                    "holds {len} bytes, and the array {} at offset {} ends at byte {end}: a raw array grows only where its file ends",
                    shape_repr(&layout.shape),
                    layout.offset
                ),
            ));
        }
        Self::start(path, file, lock, Kind::Raw, layout)
    }

    /// Creates a new `.npy` file at `path` holding no rows: rows of
    /// `row_shape` (the shape without the growth axis) of `dtype`, stored in
    /// `order`. The file appears whole (an empty array NumPy loads) or not
    /// at all; an existing file is never replaced.
    ///
    /// # Errors
    /// [`ErrorKind::AlreadyExists`] if `path` exists (use [`open`](Self::open));
    /// [`ErrorKind::InvalidArgument`] for a row shape NumPy cannot make; the
    /// I/O kinds as [`NpyOptions::create_pending`](crate::NpyOptions::create_pending).
    pub fn create(path: impl AsRef<Path>, dtype: DType, row_shape: &[usize], order: Order) -> Result<Self> {
        let path = path.as_ref();
        let shape = with_rows(row_shape, order, 0);
        Layout::checked_nbytes(path, dtype, &shape)?;
        let header = NpyHeader { dtype, fortran_order: order == Order::F, shape };
        let (bytes, _) = header.encode(None).map_err(|e| Error::at(e.kind(), path, e))?;
        let (file, mut unnamed) = crate::storage::unnamed_with_head(path, bytes.len() as u64, &bytes)?;
        // The write lock is taken before the file has its name, so no other
        // writer can slip in between its appearing and this appender's
        // start (nobody else can reach the unnamed file: no conflict).
        let lock = crate::storage::lock_write_or_in_use(&file, path)?;
        unnamed.publish(&file, false)?;
        Self::of_locked_file(path, file, lock)
    }

    /// [`open`](Self::open)s the `.npy` file at `path`, or, where there is
    /// none and `new` gives its dtype, row shape and order, [`create`](Self::create)s
    /// it (another process creating it first is fine: its file is opened).
    ///
    /// # Errors
    /// As [`open`](Self::open) and [`create`](Self::create);
    /// [`ErrorKind::NotFound`] without `new` for a missing file.
    pub fn open_or_create(path: impl AsRef<Path>, new: Option<(DType, &[usize], Order)>) -> Result<Self> {
        let path = path.as_ref();
        match (Self::open(path), new) {
            (Err(e), Some((dtype, rows, order))) if e.kind() == ErrorKind::NotFound => match Self::create(path, dtype, rows, order) {
                Err(e) if e.kind() == ErrorKind::AlreadyExists => Self::open(path),
                r => r,
            },
            (r, _) => r,
        }
    }

    /// Opens the raw file at `path` (rows of `row_shape` of `dtype` in
    /// `order`, from byte `offset` on) to append rows to it. A raw file has
    /// no header: a commit is one `fdatasync`, and a reader's shape is
    /// whatever length it reads (as [`RawOptions`](crate::RawOptions)
    /// without a shape).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] if the bytes past `offset` are not a
    /// whole number of rows (naming the bytes left over); otherwise as
    /// [`open`](Self::open).
    pub fn open_raw(path: impl AsRef<Path>, dtype: DType, row_shape: &[usize], order: Order, offset: u64) -> Result<Self> {
        let path = path.as_ref();
        let file = crate::open::open_existing(path, Mode::ReadWrite)?;
        let lock = crate::storage::lock_write_or_in_use(&file, path)?;
        let len = crate::open::file_len(&file, path)?;
        let row = row_bytes(path, dtype, row_shape, order)?;
        let data = len.checked_sub(offset).ok_or_else(|| {
            Error::at(ErrorKind::FileTooSmall, path, format_args!("holds {len} bytes, fewer than the offset {offset}"))
        })?;
        let rows = match row {
            0 => 0,
            r if data % r != 0 => {
                return Err(Error::at(
                    ErrorKind::InvalidArgument,
                    path,
                    format_args!(
                        "its {data} bytes past offset {offset} are not whole rows of {r} bytes ({} bytes left over: an append killed midway leaves part of a row, which a raw file has no header to disown; cut it off to {} bytes, e.g. `truncate -s {} FILE`, if so)",
                        data % r,
                        len - data % r,
                        len - data % r
                    ),
                ))
            }
            r => data / r,
        };
        let rows = usize::try_from(rows).map_err(|_| Error::at(ErrorKind::InvalidArgument, path, "too many rows"))?;
        let layout = Layout { dtype, shape: with_rows(row_shape, order, rows), order, offset };
        Self::start(path, file, lock, Kind::Raw, layout)
    }

    fn start(path: &Path, file: File, lock: WriteLock, kind: Kind, layout: Layout) -> Result<Self> {
        let end = layout.checked_end(path)?;
        let axis = growth_axis(layout.shape.len(), layout.order).ok_or_else(|| {
            Error::at(ErrorKind::InvalidArgument, path, "holds a 0-d array, which has no axis to append rows along")
        })?;
        let len = crate::open::file_len(&file, path)?;
        if len < end {
            return Err(Error::at(
                ErrorKind::FileTooSmall,
                path,
                format_args!("holds {len} bytes, and its header's shape {} needs {end}", shape_repr(&layout.shape)),
            ));
        }
        if len > end {
            let t = crate::Trailing { bytes: len - end, row_bytes: crate::array::growth_row_bytes(&layout.shape, layout.order, layout.dtype) };
            return Err(Error::at(
                ErrorKind::InvalidArgument,
                path,
                format_args!(
                    "holds {} bytes ({} whole rows) past its header's shape {}, left by an interrupted append; \
                     adopt or trim them first (`mmarray repair {} --adopt` or `--trim`)",
                    t.bytes,
                    t.whole_rows().unwrap_or(0),
                    shape_repr(&layout.shape),
                    path.display()
                ),
            ));
        }
        let row_bytes = row_bytes(path, layout.dtype, &without_axis(&layout.shape, axis), layout.order)?;
        let rows = layout.shape[axis] as u64;
        let mut head = vec![0u8; if matches!(kind, Kind::Npy { .. }) { usize::try_from(layout.offset).unwrap_or(0) } else { 0 }];
        file.read_exact_at(&mut head, 0).map_err(|e| Error::io(path, "cannot read the header", e))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            _lock: lock,
            kind,
            dtype: layout.dtype,
            order: layout.order,
            shape: layout.shape,
            axis,
            offset: layout.offset,
            row_bytes,
            rows,
            committed: rows,
            reserved: len,
            can_reserve: true,
            durability: Durability::EachWrite,
            last_commit: Instant::now(),
            rewritten: None,
            closed: false,
            head,
        })
    }

    /// Sets when writes commit (the default: [`Durability::EachWrite`]).
    #[must_use]
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// The file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The element type.
    #[must_use]
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The memory order of the file's data.
    #[must_use]
    pub fn order(&self) -> Order {
        self.order
    }

    /// The growth axis (0 for C order, the last for Fortran order).
    #[must_use]
    pub fn axis(&self) -> usize {
        self.axis
    }

    /// The shape of one row: the array's shape without the growth axis.
    #[must_use]
    pub fn row_shape(&self) -> Vec<usize> {
        without_axis(&self.shape, self.axis)
    }

    /// The byte offset of the data in the file (the header's length).
    #[must_use]
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The bytes of one row.
    #[must_use]
    pub fn row_bytes(&self) -> u64 {
        self.row_bytes
    }

    /// Rows in the file, committed or not.
    #[must_use]
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Rows the header names (durable).
    #[must_use]
    pub fn committed_rows(&self) -> u64 {
        self.committed
    }

    /// The array's shape at the committed length: what readers see.
    #[must_use]
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// `Some(why)` if the file's header had no room for a longer shape and
    /// was rewritten, with the data moved (once, into a new file renamed
    /// over the old one): headers written by NumPy before its growth
    /// padding (and by some other writers) can be this tight.
    #[must_use]
    pub fn header_rewritten(&self) -> Option<&str> {
        self.rewritten.as_deref()
    }

    /// Appends `batch`, rows along the growth axis: every other axis must
    /// match the row shape. A batch with one axis fewer is one row. Committed
    /// as [`durability`](Self::durability) says.
    ///
    /// # Errors
    /// [`ErrorKind::DtypeMismatch`] if `T` is not the file's element type;
    /// [`ErrorKind::InvalidArgument`] for a batch whose shape does not fit
    /// the rows, or a length past what NumPy can make; otherwise as
    /// [`write_bytes`](Self::write_bytes).
    pub fn write<T: Element, D: Dimension>(&mut self, batch: ArrayView<'_, T, D>) -> Result<()> {
        crate::array::check_kind::<T>(&self.path, self.dtype)?;
        let mut batch = batch.into_dyn();
        if batch.ndim() + 1 == self.shape.len() {
            batch.insert_axis_inplace(ndarray::Axis(self.axis));
        }
        let row_shape = self.row_shape();
        if batch.ndim() != self.shape.len() || without_axis(batch.shape(), self.axis) != row_shape {
            return Err(Error::at(
                ErrorKind::InvalidArgument,
                &self.path,
                format_args!(
                    "a batch of shape {} does not fit rows of shape {} along axis {} (array {})",
                    shape_repr(batch.shape()),
                    shape_repr(&row_shape),
                    self.axis,
                    shape_repr(&self.shape)
                ),
            ));
        }
        let n = batch.len_of(ndarray::Axis(self.axis)) as u64;
        if self.row_bytes == 0 {
            return self.add_rows(n);
        }
        let start = self.rows;
        self.whole_or_nothing(start, |w| w.put_batch(batch))?;
        self.maybe_commit()
    }

    /// Runs `f`, which writes rows; if it fails, cuts the rows it wrote
    /// (none of them was committed), so a batch is appended whole or not at
    /// all and a retry does not repeat its first rows.
    fn whole_or_nothing(&mut self, start: u64, f: impl FnOnce(&mut Self) -> Result<()>) -> Result<()> {
        let result = f(self);
        if result.is_err() && self.rows > start {
            let _ = self.file.set_len(self.offset + start * self.row_bytes);
            self.rows = start;
        }
        result
    }

    /// Writes `batch` (checked, with the growth axis) in the file's order.
    fn put_batch<T: Element>(&mut self, batch: ndarray::ArrayViewD<'_, T>) -> Result<()> {
        let n = batch.len_of(ndarray::Axis(self.axis)) as u64;
        // The file's order: a Fortran-order file's bytes are the reversed
        // axes' logical order.
        let in_order = if self.order == Order::F { batch.reversed_axes() } else { batch };
        let size = self.dtype.itemsize();
        let swap = !self.dtype.is_native();
        // (a few MiB at a time, so a large batch is not copied whole)
        let per_chunk = ((4 << 20) / self.row_bytes).max(1) as usize;
        let mut buf = Vec::with_capacity(per_chunk.min(n as usize) * self.row_bytes as usize);
        for x in in_order.iter() {
            let at = buf.len();
            buf.resize(at + size, 0);
            write_element(&mut buf[at..], *x, swap);
            if buf.len() as u64 == self.row_bytes * per_chunk as u64 {
                self.put(&buf)?;
                buf.clear();
            }
        }
        self.put(&buf)
    }

    /// Appends every row of `src` (another array's file: its shape without
    /// the growth axis must be the row shape, its element type the file's;
    /// a byte order or memory order of its own is converted). Streams
    /// whole rows a few MiB at a time when the layouts match.
    ///
    /// # Errors
    /// As [`write`](Self::write), and the errors of reading `src`.
    pub fn write_array(&mut self, src: &crate::MmapArray) -> Result<()> {
        crate::array::check_kind_of(src.path(), src.dtype(), self.dtype)?;
        let same_bytes = src.dtype() == self.dtype
            && (src.order() == self.order || src.shape().iter().filter(|&&n| n > 1).count() <= 1)
            && src.ndim() == self.shape.len()
            && without_axis(src.shape(), self.axis) == self.row_shape()
            && self.row_bytes > 0;
        if !same_bytes {
            return crate::with_scalar_type!(self.dtype.kind(), |T| self.write(src.view_or_copy::<T>()?.view()));
        }
        let step = (((8 << 20) / self.row_bytes).max(1) * self.row_bytes) as usize;
        let start = self.rows;
        self.whole_or_nothing(start, |w| {
            src.check_intact()?;
            for chunk in src.as_bytes().chunks(step) {
                w.put(chunk)?;
            }
            // (rows read from pages lost to a truncation are zeros: not appended)
            src.check_intact()
        })?;
        self.maybe_commit()
    }

    /// Appends rows given as bytes in the file's order and byte order (a
    /// whole number of rows), as `mmarray append --stdin` does. Committed
    /// as [`durability`](Self::durability) says.
    ///
    /// # Errors
    /// - [`ErrorKind::InvalidArgument`] if `bytes` is not whole rows.
    /// - [`ErrorKind::NoSpace`] if the disk (or the process's file-size
    ///   limit) cannot hold the rows: the bytes this call wrote are cut off
    ///   again, and the file is valid at its last committed length.
    /// - [`ErrorKind::Io`] if a write or a sync fails.
    pub fn write_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        if self.row_bytes == 0 || bytes.len() as u64 % self.row_bytes != 0 {
            return Err(Error::at(
                ErrorKind::InvalidArgument,
                &self.path,
                format_args!("{} bytes are not whole rows of {} bytes (row shape {})", bytes.len(), self.row_bytes, shape_repr(&self.row_shape())),
            ));
        }
        self.put(bytes)?;
        self.maybe_commit()
    }

    /// Writes whole rows at the end of the rows written.
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let n = bytes.len() as u64 / self.row_bytes;
        self.check_length(n)?;
        let at = self.offset + self.rows * self.row_bytes;
        let end = at + bytes.len() as u64;
        self.reserve(end)?;
        if let Err(e) = self.file.write_all_at(bytes, at) {
            // cut off what this call wrote: the file ends at whole rows
            let _ = self.file.set_len(at);
            let e = Error::io(&self.path, "cannot append", e);
            return Err(self.after_failure(e));
        }
        self.rows += n;
        Ok(())
    }

    /// Adds `n` rows of no bytes (another axis is 0).
    fn add_rows(&mut self, n: u64) -> Result<()> {
        self.check_length(n)?;
        self.rows += n;
        self.maybe_commit()
    }

    /// Refuses a length NumPy could not make.
    fn check_length(&self, more: u64) -> Result<()> {
        let total = self.rows.checked_add(more).and_then(|r| usize::try_from(r).ok());
        let shape = total.map(|r| with_rows(&self.row_shape(), self.order, r));
        match shape {
            Some(s) => Layout::checked_nbytes(&self.path, self.dtype, &s).map(|_| ()),
            None => Err(Error::at(ErrorKind::InvalidArgument, &self.path, format_args!("{} + {more} rows overflow the array's length", self.rows))),
        }
    }

    /// A failed write's error, saying what the file holds now.
    fn after_failure(&self, e: Error) -> Error {
        let was = e.message_without_path().to_string();
        let what = if e.kind() == ErrorKind::NoSpace { "the disk is full" } else { "a write failed" };
        e.reworded(
            &self.path,
            format_args!(
                "{what} after {} rows ({} committed): the file is valid with its {} committed rows, shape {} ({})",
                self.rows,
                self.committed,
                self.committed,
                shape_repr(&self.shape),
                was
            ),
        )
    }

    /// Reserves the file's blocks up to at least `end`, geometrically ahead.
    fn reserve(&mut self, end: u64) -> Result<()> {
        if end <= self.reserved || !self.can_reserve {
            return Ok(());
        }
        let step = (self.reserved - self.offset).clamp(RESERVE_MIN, RESERVE_MAX);
        let want = end.max(self.reserved + step);
        let keep_size = rustix::fs::FallocateFlags::KEEP_SIZE;
        let from = self.reserved;
        match rustix::fs::fallocate(&self.file, keep_size, from, want - from) {
            Ok(()) => self.reserved = want,
            Err(rustix::io::Errno::NOSPC) => {
                // not the whole step: try exactly what this write needs
                match rustix::fs::fallocate(&self.file, keep_size, from, end - from) {
                    Ok(()) => self.reserved = end,
                    Err(e) => {
                        let e = Error::io(&self.path, &format!("cannot reserve {} bytes", end - from), e.into());
                        return Err(self.after_failure(e));
                    }
                }
            }
            // (a file system without fallocate: write without reserving)
            Err(_) => self.can_reserve = false,
        }
        Ok(())
    }

    /// Cuts off the rows written and not committed (the file ends at its
    /// committed length again); returns how many were cut.
    ///
    /// # Errors
    /// [`ErrorKind::Io`] if the file cannot be cut, or was replaced or
    /// rewritten by another writer (then left alone).
    pub fn discard(&mut self) -> Result<u64> {
        let cut = self.rows - self.committed;
        if cut > 0 {
            self.check_still_named()?; // (never cut another writer's file)
            self.file.set_len(self.offset + self.committed * self.row_bytes).map_err(|e| Error::io(&self.path, "cannot cut the uncommitted rows", e))?;
            self.rows = self.committed;
        }
        Ok(cut)
    }

    /// With [`Durability::Interval`] and rows not committed, how long until
    /// a commit is due (zero if it is): for streams that pause, whose
    /// writer commits on a timer rather than waiting for the next write.
    /// `None` otherwise.
    #[must_use]
    pub fn commit_due_in(&self) -> Option<Duration> {
        match self.durability {
            Durability::Interval(t) if self.rows > self.committed => Some(t.saturating_sub(self.last_commit.elapsed())),
            _ => None,
        }
    }

    fn maybe_commit(&mut self) -> Result<()> {
        let due = match self.durability {
            Durability::EachWrite => true,
            Durability::Rows(n) => self.rows - self.committed >= n,
            Durability::Interval(t) => self.last_commit.elapsed() >= t,
            Durability::Manual => false,
        };
        if due {
            self.commit()?;
        }
        Ok(())
    }

    /// Makes every row written part of the array, durably (see
    /// [the commit protocol](self#the-commit-protocol)), and returns the
    /// committed length. Nothing to commit costs nothing.
    ///
    /// # Errors
    /// [`ErrorKind::Io`] if a sync or the header's rewrite fails (the file
    /// then still holds its previous committed length);
    /// [`ErrorKind::NoSpace`] if a header without room must be rewritten
    /// and the disk cannot hold the copy.
    pub fn commit(&mut self) -> Result<u64> {
        if self.rows == self.committed {
            return Ok(self.committed);
        }
        self.check_still_named()?;
        self.file.sync_data().map_err(|e| Error::io(&self.path, "fdatasync of the appended rows failed", e))?;
        self.set_shape(self.rows)?;
        self.committed = self.rows;
        self.last_commit = Instant::now();
        Ok(self.committed)
    }

    /// [`ErrorKind::Io`] if the path no longer names the file being
    /// appended to (another process replaced, renamed or removed it): the
    /// rows would reach a file no reader opens by that name.
    fn check_still_named(&self) -> Result<()> {
        use std::os::unix::fs::MetadataExt;
        let ours = self.file.metadata().map_err(|e| Error::io(&self.path, "cannot stat", e))?;
        let named = std::fs::metadata(&self.path).ok();
        if ours.nlink() > 0 && named.as_ref().is_some_and(|m| (m.dev(), m.ino()) == (ours.dev(), ours.ino())) {
            // the same file: still with the header and length this appender
            // left (another writer, `np.save` say, may have rewritten it in
            // place: a commit would then name rows of another array)
            let mut head = vec![0u8; self.head.len()];
            let same_head = self.file.read_exact_at(&mut head, 0).is_ok() && head == self.head;
            let end = self.offset + self.rows * self.row_bytes;
            if same_head && ours.len() == end {
                return Ok(());
            }
            return Err(Error::at(
                ErrorKind::Io,
                &self.path,
                format_args!(
                    "was rewritten by another writer while {} rows ({} committed) were appended to it (its header or its length, {} bytes where {end} were expected, changed): the rows are not committed",
                    self.rows,
                    self.committed,
                    ours.len()
                ),
            ));
        }
        Err(Error::at(
            ErrorKind::Io,
            &self.path,
            format_args!(
                "was {} while {} rows ({} committed) were appended to it: they are not committed, the name now {}",
                if named.is_some() { "replaced" } else { "removed" },
                self.rows,
                self.committed,
                if named.is_some() { "names another file" } else { "names nothing" }
            ),
        ))
    }

    /// Whether the header can name `rows` rows in its own bytes (else the
    /// commit that needs it rewrites the file, moving the data).
    #[must_use]
    pub fn header_fits(&self, rows: u64) -> bool {
        let Kind::Npy { version } = self.kind else { return true };
        let Ok(rows) = usize::try_from(rows) else { return false };
        let mut shape = self.shape.clone();
        shape[self.axis] = rows;
        let header = NpyHeader { dtype: self.dtype, fortran_order: self.order == Order::F, shape };
        header.encode_in(version, usize::try_from(self.offset).unwrap_or(usize::MAX)).is_some()
    }

    /// Rewrites the header's shape to `rows` rows and makes it durable.
    fn set_shape(&mut self, rows: u64) -> Result<()> {
        let rows = usize::try_from(rows).map_err(|_| Error::at(ErrorKind::InvalidArgument, &self.path, "too many rows"))?;
        let mut shape = self.shape.clone();
        shape[self.axis] = rows;
        if let Kind::Npy { version } = self.kind {
            let header = NpyHeader { dtype: self.dtype, fortran_order: self.order == Order::F, shape: shape.clone() };
            let offset = usize::try_from(self.offset).unwrap_or(usize::MAX);
            match header.encode_in(version, offset) {
                Some(bytes) => {
                    self.file.write_all_at(&bytes, 0).map_err(|e| Error::io(&self.path, "cannot rewrite the header", e))?;
                    self.file.sync_data().map_err(|e| Error::io(&self.path, "fdatasync of the header failed", e))?;
                    self.head = bytes;
                }
                None => self.rewrite_with_room(&header)?,
            }
        }
        self.shape = shape;
        Ok(())
    }

    /// Sets the length of the growth axis to `rows`, committed: new rows
    /// read as zeros (their blocks allocated with `fallocate`, not a sparse
    /// tail), rows past `rows` are cut off. Rows written and not committed
    /// are committed first. Shrinking rewrites the header before cutting the
    /// file, so a crash leaves either length whole.
    ///
    /// # Errors
    /// [`ErrorKind::InUse`] to shrink while another mmarray array maps the
    /// file (cutting its pages would crash its process);
    /// [`ErrorKind::NoSpace`] if the disk cannot hold the new rows (the
    /// file keeps its length); otherwise as [`commit`](Self::commit).
    pub fn resize(&mut self, rows: u64) -> Result<u64> {
        self.commit()?;
        let at = self.offset + self.rows * self.row_bytes;
        if rows >= self.rows {
            self.check_length(rows - self.rows)?;
            let end = self.offset + rows * self.row_bytes;
            if end > at {
                match rustix::fs::fallocate(&self.file, rustix::fs::FallocateFlags::empty(), at, end - at) {
                    Ok(()) => {}
                    Err(rustix::io::Errno::OPNOTSUPP) => {
                        self.file.set_len(end).map_err(|e| Error::io(&self.path, "cannot extend", e))?;
                    }
                    Err(e) => {
                        let _ = self.file.set_len(at);
                        return Err(self.after_failure(Error::io(&self.path, &format!("cannot allocate {} bytes", end - at), e.into())));
                    }
                }
                self.reserved = self.reserved.max(end);
            }
            self.rows = rows;
            return self.commit();
        }
        crate::storage::lock_exclusive(&self.file, &self.path)?;
        let cut = (|| {
            self.set_shape(rows)?;
            let end = self.offset + rows * self.row_bytes;
            self.file.set_len(end).map_err(|e| Error::io(&self.path, "cannot cut the file", e))?;
            self.file.sync_data().map_err(|e| Error::io(&self.path, "fdatasync after the cut failed", e))
        })();
        crate::storage::lock_shared(&self.file);
        cut?;
        self.rows = rows;
        self.committed = rows;
        self.reserved = self.offset + rows * self.row_bytes;
        Ok(rows)
    }

    /// Moves the data into a new file whose header (NumPy's, with growth
    /// padding) holds `header`, renamed over the old one once durable: the
    /// old header had no room for the longer shape. Readers that have the
    /// old file open keep reading it (its last committed length).
    fn rewrite_with_room(&mut self, header: &NpyHeader) -> Result<()> {
        let data = self.rows * self.row_bytes;
        let moved = move_under_padded_header(&self.path, &self.file, self.offset, data, header)?;
        self.rewritten = Some(moved.note);
        self.file = moved.file;
        self._lock = moved.lock;
        self.head = moved.head;
        self.kind = Kind::Npy { version: moved.version };
        self.offset = moved.offset;
        self.reserved = moved.offset + data;
        Ok(())
    }

    /// Commits, gives back the unused reservation, releases the lock, and
    /// returns the final shape.
    ///
    /// # Errors
    /// As [`commit`](Self::commit).
    pub fn close(mut self) -> Result<Vec<usize>> {
        self.finish()?;
        Ok(self.shape.clone())
    }

    fn finish(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        let committed = self.commit();
        // A truncation to the length the file has frees the blocks reserved
        // past it (`FALLOC_FL_KEEP_SIZE`); measured on ext4, where punching a
        // hole past the end does not.
        // (never on a file another writer replaced or rewrote meanwhile)
        if self.reserved > self.offset + self.rows * self.row_bytes && self.check_still_named().is_ok() {
            let len = self.offset + self.rows * self.row_bytes;
            let _ = self.file.set_len(len);
        }
        committed.map(|_| ())
    }
}

impl Drop for Appender {
    /// Commits (ignoring errors: call [`close`](Appender::close) to see
    /// them) and gives back the reservation.
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// The shape of `rows` rows of `row_shape` along the growth axis of `order`.
fn with_rows(row_shape: &[usize], order: Order, rows: usize) -> Vec<usize> {
    let mut shape = row_shape.to_vec();
    match order {
        Order::C => shape.insert(0, rows),
        Order::F => shape.push(rows),
    }
    shape
}

fn without_axis(shape: &[usize], axis: usize) -> Vec<usize> {
    shape.iter().enumerate().filter(|&(i, _)| i != axis).map(|(_, &n)| n).collect()
}

/// The bytes of one row of `row_shape`, checked as a shape NumPy can make.
fn row_bytes(path: &Path, dtype: DType, row_shape: &[usize], order: Order) -> Result<u64> {
    let one = with_rows(row_shape, order, 1);
    Ok(Layout::checked_nbytes(path, dtype, &one)? as u64)
}

/// Copies `len` bytes at `from` in `src` to `to` in `dst`.
/// The file [`move_under_padded_header`] made, now at the old one's path.
pub(crate) struct Moved {
    pub(crate) file: File,
    pub(crate) lock: WriteLock,
    /// The new header's bytes.
    pub(crate) head: Vec<u8>,
    pub(crate) version: NpyVersion,
    /// Where the data starts now.
    pub(crate) offset: u64,
    /// What was done, for the user.
    pub(crate) note: String,
}

/// Rewrites the `.npy` file at `path` (open as `file`, its write lock held
/// by the caller) with `header` (whose shape its own header has no room
/// for) padded as NumPy pads it, followed by the `data` bytes at `offset`
/// of the old file: into a new file beside it, which atomically replaces it
/// once complete (so a crash leaves the old file or the new, and a copy
/// left by a kill is removed by the next appender or repair). The copy has
/// the old file's permissions. Returns the new file, its
/// write lock taken.
pub(crate) fn move_under_padded_header(path: &Path, file: &File, offset: u64, data: u64, header: &NpyHeader) -> Result<Moved> {
    let (head, version) = header.encode(None).map_err(|e| Error::at(e.kind(), path, e))?;
    let temp = crate::storage::temporary_name(path, "");
    let new_offset = head.len() as u64;
    let result = (|| {
        crate::storage::create_file(&temp, new_offset + data, &head, false)?;
        // (never more readable than the file it replaces, even while a copy)
        let mode = file.metadata().map_err(|e| Error::io(path, "cannot stat", e))?.permissions();
        std::fs::set_permissions(&temp, mode).map_err(|e| Error::io(&temp, "cannot set the permissions of", e))?;
        let new = crate::open::open_existing(&temp, Mode::ReadWrite)?;
        let lock = crate::storage::lock_write_or_in_use(&new, &temp)?;
        copy_range(file, offset, &new, new_offset, data, path)?;
        crate::storage::publish_file(&temp, path, true)?;
        Ok::<_, Error>((new, lock))
    })();
    let (new, lock) = result.inspect_err(|_| {
        let _ = std::fs::remove_file(&temp);
    })?;
    let note = format!(
        "its {offset}-byte header had no room for the shape {}: rewritten with NumPy's growth padding ({new_offset} bytes), the {data} bytes of data moved",
        shape_repr(&header.shape),
    );
    Ok(Moved { file: new, lock, head, version, offset: new_offset, note })
}

fn copy_range(src: &File, from: u64, dst: &File, to: u64, len: u64, path: &Path) -> Result<()> {
    let mut buf = vec![0u8; (len.min(8 << 20)) as usize];
    let mut done = 0;
    while done < len {
        let n = buf.len().min((len - done) as usize);
        src.read_exact_at(&mut buf[..n], from + done).map_err(|e| Error::io(path, "cannot read the data to move", e))?;
        dst.write_all_at(&buf[..n], to + done).map_err(|e| Error::io(path, "cannot write the moved data", e))?;
        done += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MmapArray, NpyOptions, ScalarKind};
    use ndarray::{Array2, Array3};

    fn f32s() -> DType {
        DType::native(ScalarKind::F32)
    }

    fn open(path: &Path) -> MmapArray {
        // SAFETY: the test's files are private to it.
        unsafe { MmapArray::open_npy(path, Mode::ReadOnly) }.unwrap()
    }

    /// Row `i` of the streams below: `[i, i + 0.25, i + 0.5]`.
    fn rows(from: usize, n: usize) -> Array2<f32> {
        Array2::from_shape_fn((n, 3), |(i, j)| (from + i) as f32 + j as f32 * 0.25)
    }

    #[test]
    fn rows_stream_in_and_the_reservation_is_given_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.npy");
        let mut w = Appender::create(&path, f32s(), &[3], Order::C).unwrap();
        assert_eq!(open(&path).shape(), &[0, 3]);
        let mut n = 0;
        for k in 1..200 {
            w.write(rows(n, k).view()).unwrap();
            n += k;
            assert_eq!(w.committed_rows(), n as u64);
        }
        // the reservation runs ahead of the data, the length does not
        let len = std::fs::metadata(&path).unwrap().len();
        assert_eq!(len, w.offset + n as u64 * 12);
        assert!(w.reserved >= len + RESERVE_MIN / 2, "{} {len}", w.reserved);
        assert_eq!(w.close().unwrap(), vec![n, 3]);
        let meta = std::fs::metadata(&path).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert!(meta.blocks() * 512 < meta.len() + (64 << 10), "reservation kept: {} blocks for {} bytes", meta.blocks(), meta.len());
        let a = open(&path);
        assert_eq!(a.trailing(), None);
        assert_eq!(a.to_array::<f32>().unwrap(), rows(0, n).into_dyn());
    }

    #[test]
    fn fortran_order_grows_the_last_axis() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.npy");
        let mut w = Appender::create(&path, DType::native(ScalarKind::I16), &[2, 3], Order::F).unwrap();
        assert_eq!(w.axis(), 2);
        let batch = Array3::from_shape_fn((2, 3, 4), |(i, j, k)| (100 * k + 10 * j + i) as i16);
        w.write(batch.view()).unwrap();
        // one row: a batch without the growth axis
        w.write(ndarray::Array2::from_shape_fn((2, 3), |(i, j)| (400 + 10 * j + i) as i16).view()).unwrap();
        assert_eq!(w.close().unwrap(), vec![2, 3, 5]);
        let a = open(&path);
        assert_eq!(a.order(), Order::F);
        let want = Array3::from_shape_fn((2, 3, 5), |(i, j, k)| (100 * k + 10 * j + i) as i16);
        assert_eq!(a.to_array::<i16>().unwrap(), want.into_dyn());
    }

    #[test]
    fn a_non_native_byte_order_is_written_as_the_file_says() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("be.npy");
        let be = DType::with_byte_order(ScalarKind::F64, crate::ByteOrder::Big);
        let mut w = Appender::create(&path, be, &[], Order::C).unwrap();
        w.write(ndarray::array![1.5f64, -2.0].view()).unwrap();
        w.close().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[bytes.len() - 16..], [1.5f64.to_be_bytes(), (-2.0f64).to_be_bytes()].concat());
    }

    #[test]
    fn uncommitted_rows_stay_past_the_shape_until_a_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.npy");
        let mut w = Appender::create(&path, f32s(), &[3], Order::C).unwrap().durability(Durability::Manual);
        w.write(rows(0, 10).view()).unwrap();
        w.write(rows(10, 5).view()).unwrap();
        assert_eq!((w.rows(), w.committed_rows()), (15, 0));
        let a = open(&path);
        assert_eq!(a.shape(), &[0, 3]);
        assert_eq!(a.trailing().unwrap().whole_rows(), Some(15));
        assert_eq!(w.commit().unwrap(), 15);
        assert_eq!(open(&path).shape(), &[15, 3]);
        w.write(rows(15, 3).view()).unwrap();
        assert_eq!(w.discard().unwrap(), 3);
        assert_eq!(open(&path).trailing(), None);
        w.write(rows(15, 1).view()).unwrap();
        drop(w); // commits
        assert_eq!(open(&path).to_array::<f32>().unwrap(), rows(0, 16).into_dyn());

        let mut w = Appender::open(&path).unwrap().durability(Durability::Rows(4));
        for i in 16..23 {
            w.write(rows(i, 1).view()).unwrap();
        }
        assert_eq!((w.rows(), w.committed_rows()), (23, 20));
    }

    #[test]
    fn a_second_writer_is_refused_with_the_holders_pid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.npy");
        let w = Appender::create(&path, f32s(), &[3], Order::C).unwrap();
        let e = Appender::open(&path).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InUse);
        let msg = e.to_string();
        assert!(msg.contains(&format!("process {} holds its write lock", std::process::id())), "{msg}");
        assert!(crate::recover(&path, crate::Recovery::Trim).is_err());
        drop(w);
        Appender::open(&path).unwrap();
    }

    #[test]
    fn the_refusal_names_a_holder_that_lets_go_and_takes_the_lock_again() {
        // A holder that keeps letting go and taking the lock again: the
        // holder is looked up after the failed attempt, and used to be gone
        // by then, so the refusal named "another handle". Now each refusal
        // names the process that holds the lock, or the lock is taken.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("churn.npy");
        drop(Appender::create(&path, f32s(), &[3], Order::C).unwrap());
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let churn = {
            let (path, stop) = (path.clone(), stop.clone());
            std::thread::spawn(move || {
                let file = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if let Some(lock) = crate::storage::lock_write(&file, &path, false).unwrap() {
                        std::thread::sleep(std::time::Duration::from_micros(300));
                        drop(lock);
                    }
                    std::thread::sleep(std::time::Duration::from_micros(300));
                }
            })
        };
        let me = format!("process {} holds its write lock", std::process::id());
        let (mut refused, mut taken) = (0, 0);
        let began = std::time::Instant::now();
        while (refused < 100 || taken < 100) && began.elapsed() < std::time::Duration::from_secs(30) {
            match Appender::open(&path) {
                Ok(_) => taken += 1,
                Err(e) => {
                    assert!(e.to_string().contains(&me), "{e} (after {refused} refusals naming the holder)");
                    refused += 1;
                }
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        churn.join().unwrap();
        assert!(refused >= 100 && taken >= 100, "the churn did not overlap: {refused} refused, {taken} taken");
    }

    /// An open-file-description lock of `kind` on `path`, on a description
    /// of its own (as another process's would be).
    fn ofd_locked(path: &std::path::Path, kind: libc::c_short) -> std::fs::File {
        use std::os::fd::AsRawFd;
        let f = std::fs::OpenOptions::new().read(true).write(true).open(path).unwrap();
        // SAFETY: a zeroed flock is valid (l_start = l_len = 0: the whole
        // file).
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = kind;
        // SAFETY: fcntl gets a live descriptor and a live flock.
        assert_eq!(unsafe { libc::fcntl(f.as_raw_fd(), libc::F_OFD_SETLK, &mut fl) }, 0);
        f
    }

    #[test]
    fn the_refusal_names_readers_that_keep_the_writer_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.npy");
        drop(Appender::create(&path, f32s(), &[3], Order::C).unwrap());
        let me = std::process::id();
        let one = ofd_locked(&path, libc::F_RDLCK as libc::c_short);
        let e = Appender::open(&path).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InUse);
        assert!(e.to_string().contains(&format!("is locked: process {me} holds a read lock on it")), "{e}");
        drop(one);
        let w = Appender::open(&path).unwrap();
        let e = crate::recover(&path, crate::Recovery::Trim).unwrap_err();
        assert!(e.to_string().contains(&format!("is being written: process {me} holds its write lock")), "{e}");
        drop(w);
    }

    #[test]
    fn a_holder_no_process_shows_is_another_handle_and_the_refusal_is_quick() {
        // A locked description passed over a socket and not yet received
        // is in no process's descriptors: /proc cannot name its holder.
        use std::os::fd::AsRawFd;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.npy");
        drop(Appender::create(&path, f32s(), &[3], Order::C).unwrap());
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let locked = ofd_locked(&path, libc::F_WRLCK as libc::c_short);
        send_fd(&ours, locked.as_raw_fd());
        drop(locked);
        let began = std::time::Instant::now();
        let e = Appender::open(&path).unwrap_err();
        let took = began.elapsed();
        assert!(e.to_string().contains("another handle holds its write lock"), "{e}");
        assert!(took < std::time::Duration::from_secs(5), "the refusal took {took:?}");
        drop((ours, theirs)); // the description, and its lock, go
        Appender::open(&path).unwrap();
    }

    /// Sends descriptor `fd` over `sock` (SCM_RIGHTS).
    fn send_fd(sock: &std::os::unix::net::UnixStream, fd: std::os::fd::RawFd) {
        use std::os::fd::AsRawFd;
        let mut byte = [0u8; 1];
        let mut iov = libc::iovec { iov_base: byte.as_mut_ptr().cast(), iov_len: 1 };
        // (room for one cmsghdr with one int, u64-aligned)
        let mut space = [0u64; 8];
        // SAFETY: a zeroed msghdr is valid; every pointer set in it points
        // to a live local of the stated size, and the control buffer holds
        // CMSG_SPACE(sizeof(int)) bytes.
        unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = space.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) as usize;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as usize;
            libc::CMSG_DATA(cmsg).cast::<libc::c_int>().write_unaligned(fd);
            assert_eq!(libc::sendmsg(sock.as_raw_fd(), &msg, 0), 1);
        }
    }

    #[test]
    fn a_created_file_is_locked_before_it_has_its_name() {
        // Another writer spinning on the name never gets in between the
        // file's appearing and its creator's lock (it once could: `create`
        // then failed with InUse for a file it had just made).
        let dir = tempfile::tempdir().unwrap();
        for k in 0..40 {
            let path = dir.path().join(format!("r{k}.npy"));
            let rival = {
                let path = path.clone();
                std::thread::spawn(move || loop {
                    match Appender::open(&path) {
                        Err(e) if e.kind() == ErrorKind::NotFound => std::hint::spin_loop(),
                        r => return r.map(drop),
                    }
                })
            };
            let w = Appender::create(&path, f32s(), &[3], Order::C);
            let rival = rival.join().unwrap();
            let w = w.unwrap_or_else(|e| panic!("trial {k}: the creator was refused: {e}"));
            assert_eq!(rival.unwrap_err().kind(), ErrorKind::InUse, "trial {k}");
            drop(w);
        }
    }

    #[test]
    fn bad_input_is_refused_and_the_file_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.npy");
        let mut w = Appender::create(&path, f32s(), &[3], Order::C).unwrap();
        w.write(rows(0, 2).view()).unwrap();
        let before = std::fs::read(&path).unwrap();
        let e = w.write(Array2::<f32>::zeros((2, 4)).view()).unwrap_err();
        assert!(e.to_string().contains("a batch of shape (2, 4) does not fit rows of shape (3,) along axis 0 (array (2, 3))"), "{e}");
        let e = w.write(Array2::<f64>::zeros((2, 3)).view()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DtypeMismatch);
        let e = w.write_bytes(&[0u8; 13]).unwrap_err();
        assert!(e.to_string().contains("13 bytes are not whole rows of 12 bytes (row shape (3,))"), "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert_eq!(Appender::create(&path, f32s(), &[3], Order::C).unwrap_err().kind(), ErrorKind::AlreadyExists);
        drop(w);

        // an interrupted append's bytes: repair first
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all_at(&[0u8; 30], before.len() as u64).unwrap();
        let e = Appender::open(&path).unwrap_err();
        assert!(e.to_string().contains("holds 30 bytes (2 whole rows) past its header's shape (2, 3)"), "{e}");
        assert!(e.to_string().contains("--adopt"), "{e}");
        // a 0-d array has no rows
        let zero = dir.path().join("z.npy");
        NpyOptions::new(f32s(), &[]).create_pending(&zero).unwrap().persist(false).unwrap();
        assert!(Appender::open(&zero).unwrap_err().to_string().contains("0-d array"));
    }

    #[test]
    fn a_header_without_room_is_rewritten_once_with_the_data_moved() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tight.npy");
        // a header with no byte to spare: (9, 3) fits, (10, 3) does not
        let header = NpyHeader { dtype: f32s(), fortran_order: false, shape: vec![9, 3] };
        let room = (0..).find(|&len| header.encode_in(NpyVersion::V1, len).is_some()).unwrap();
        let mut bytes = header.encode_in(NpyVersion::V1, room).unwrap();
        for x in rows(0, 9).iter() {
            bytes.extend(x.to_ne_bytes());
        }
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(open(&path).shape(), &[9, 3]);
        let mut w = Appender::open(&path).unwrap();
        w.write(rows(9, 1).view()).unwrap();
        let note = w.header_rewritten().unwrap().to_string();
        assert!(note.contains(&format!("its {room}-byte header had no room for the shape (10, 3)")), "{note}");
        w.write(rows(10, 1000).view()).unwrap();
        assert!(w.close().is_ok());
        let a = open(&path);
        assert_eq!(a.offset() % 64, 0);
        assert_eq!(a.to_array::<f32>().unwrap(), rows(0, 1010).into_dyn());
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn a_reader_refreshes_to_see_committed_rows_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.npy");
        let mut w = Appender::create(&path, f32s(), &[3], Order::C).unwrap().durability(Durability::Manual);
        let mut r = open(&path);
        assert!(!r.refresh().unwrap());
        w.write(rows(0, 100).view()).unwrap();
        assert!(!r.refresh().unwrap(), "uncommitted rows were shown");
        w.commit().unwrap();
        let v_before = r.shape().to_vec();
        assert!(r.refresh().unwrap());
        assert_eq!((v_before, r.shape().to_vec()), (vec![0, 3], vec![100, 3]));
        assert_eq!(r.to_array::<f32>().unwrap(), rows(0, 100).into_dyn());
        w.resize(50).unwrap_err(); // r maps the file: no cut under it
        drop(r);
        assert_eq!(w.resize(50).unwrap(), 50);
        // a reader of the shorter file is told it was not appended to
        let mut r = open(&path);
        drop(w);
        let mut w = Appender::open(&path).unwrap();
        w.write(rows(50, 1).view()).unwrap();
        assert!(r.refresh().unwrap());
        let other = dir.path().join("o.npy");
        Appender::create(&other, f32s(), &[4], Order::C).unwrap().write(Array2::<f32>::zeros((60, 4)).view()).unwrap();
        drop(w);
        std::fs::rename(&other, &path).unwrap();
        // (r keeps its own file open: a rename does not change it)
        assert!(!r.refresh().unwrap());
        // a header rewritten to fewer rows: not an append
        let mut r = open(&path);
        let fewer = NpyHeader { dtype: f32s(), fortran_order: false, shape: vec![59, 4] };
        let bytes = fewer.encode_in(NpyVersion::V1, r.offset() as usize).unwrap();
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().write_all_at(&bytes, 0).unwrap();
        let e = r.refresh().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidHeader);
        assert!(e.to_string().contains("now describes '<f4' (59, 4) in C order at offset 128, not the array opened ('<f4' (60, 4)"), "{e}");
        assert_eq!(r.shape(), &[60, 4]);
    }

    #[test]
    fn an_array_appends_and_resizes_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.npy");
        NpyOptions::new(f32s(), &[2, 3]).create_pending(&path).unwrap().persist(false).unwrap();
        // SAFETY: private to the test.
        let mut a = unsafe { MmapArray::open_npy(&path, Mode::ReadWrite) }.unwrap();
        a.view_mut::<f32>().unwrap().assign(&rows(0, 2).into_dyn());
        a.append(rows(2, 3).view()).unwrap();
        assert_eq!(a.to_array::<f32>().unwrap(), rows(0, 5).into_dyn());
        a.resize(7).unwrap();
        assert_eq!(a.get::<f32>(&[6, 2]).unwrap(), 0.0);
        assert_eq!(a.get::<f32>(&[4, 2]).unwrap(), 4.5);
        a.resize(3).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), a.offset() + 36);
        assert_eq!(open(&path).to_array::<f32>().unwrap(), rows(0, 3).into_dyn());
        a.view_mut::<f32>().unwrap()[[2, 0]] = 9.0;
        a.flush().unwrap();
        // another appender holds the lock: refused, the array unchanged
        drop(a);
        let w = Appender::open(&path).unwrap();
        // SAFETY: private to the test.
        let mut a = unsafe { MmapArray::open_npy(&path, Mode::ReadWrite) }.unwrap();
        assert_eq!(a.append(rows(0, 1).view()).unwrap_err().kind(), ErrorKind::InUse);
        assert_eq!(a.shape(), &[3, 3]);
        drop(w);
        // SAFETY: private to the test.
        let mut ro = unsafe { MmapArray::open_npy(&path, Mode::ReadOnly) }.unwrap();
        assert_eq!(ro.append(rows(0, 1).view()).unwrap_err().kind(), ErrorKind::ReadOnly);
        assert_eq!(a.resize(1).unwrap_err().kind(), ErrorKind::InUse); // ro maps it
        assert!(!ro.refresh().unwrap());
        drop(ro);
        a.resize(1).unwrap();
        assert_eq!(a.shape(), &[1, 3]);
    }

    /// Lines of /proc/self/maps that map `path`.
    fn maps_of(path: &Path) -> usize {
        std::fs::read_to_string("/proc/self/maps").unwrap().lines().filter(|l| l.ends_with(path.to_str().unwrap())).count()
    }

    #[test]
    fn arrays_grow_in_place_until_their_reservation_is_full() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.npy");
        NpyOptions::new(f32s(), &[2, 3]).create_pending(&path).unwrap().persist(false).unwrap();
        // SAFETY: private to the test.
        let mut a = unsafe { MmapArray::open_npy(&path, Mode::ReadWrite) }.unwrap();
        // SAFETY: private to the test.
        let mut r = unsafe { MmapArray::open_npy(&path, Mode::ReadOnly) }.unwrap();
        let (at, rat) = (a.as_bytes().as_ptr(), r.as_bytes().as_ptr());
        a.view_mut::<f32>().unwrap().assign(&rows(0, 2).into_dyn());
        let mut n = 2;
        for k in 0..300 {
            let batch = rows(n, 1 + k % 97);
            a.append(batch.view()).unwrap();
            n += batch.nrows();
            assert!(r.refresh().unwrap());
            assert_eq!((a.as_bytes().as_ptr(), r.as_bytes().as_ptr()), (at, rat), "moved after {k} appends");
        }
        assert_eq!(r.to_array::<f32>().unwrap(), rows(0, n).into_dyn());
        // the extensions merge with the first mapping: one or two areas
        // per array (the last page may be its own), not one per growth
        assert!(maps_of(&path) <= 4, "{} maps", maps_of(&path));
        // shrinking (no reader left) gives pages back to the reservation,
        // growing again maps them
        drop(r);
        a.resize(5).unwrap();
        assert_eq!(a.as_bytes().as_ptr(), at);
        a.resize(1000).unwrap();
        assert_eq!((a.as_bytes().as_ptr(), a.get::<f32>(&[4, 2]).unwrap(), a.get::<f32>(&[999, 2]).unwrap()), (at, 4.5, 0.0));
        // SAFETY: private to the test.
        let mut r = unsafe { MmapArray::open_npy(&path, Mode::ReadOnly) }.unwrap();
        // past the reservation (at least 1 GiB): mapped anew, elsewhere
        let big = (1 << 30) / 12 + 10_000;
        a.resize(big).unwrap();
        assert_ne!(a.as_bytes().as_ptr(), at);
        assert_eq!((a.get::<f32>(&[4, 2]).unwrap(), a.get::<f32>(&[big - 1, 2]).unwrap()), (4.5, 0.0));
        assert!(!r.grow_in_place(big).unwrap());
        assert_eq!(r.shape(), &[1000, 3]);
        assert!(r.refresh().unwrap());
        assert_eq!(r.get::<f32>(&[4, 2]).unwrap(), 4.5);
        let e = r.grow_in_place(big - 1).unwrap_err();
        assert!(e.to_string().contains(&format!("cannot grow to {} rows: {big} are mapped", big - 1)), "{e}");
        let e = r.grow_in_place(big + 1).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::FileTooSmall, "{e}");
    }

    #[test]
    fn a_raw_array_appends_where_its_file_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.f32");
        std::fs::write(&path, [9u8; 24 + 8]).unwrap();
        let opts = crate::RawOptions::new(f32s()).offset(8).shape(&[2, 3]).mode(Mode::ReadWrite);
        // SAFETY: private to the test.
        let mut a = unsafe { opts.open(&path) }.unwrap();
        a.view_mut::<f32>().unwrap().assign(&rows(0, 2).into_dyn());
        a.append(rows(2, 3).view()).unwrap();
        assert_eq!(a.to_array::<f32>().unwrap(), rows(0, 5).into_dyn());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 8 + 5 * 12);
        a.resize(7).unwrap();
        assert_eq!((a.shape(), a.get::<f32>(&[6, 2]).unwrap()), (&[7, 3][..], 0.0));
        a.resize(4).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 8 + 4 * 12);
        // an array that ends before its file does cannot grow there
        let opts = crate::RawOptions::new(f32s()).offset(8).shape(&[1, 3]).mode(Mode::ReadWrite);
        drop(a);
        // SAFETY: private to the test.
        let mut prefix = unsafe { opts.open(&path) }.unwrap();
        let before = std::fs::read(&path).unwrap();
        let e = prefix.append(rows(0, 1).view()).unwrap_err();
        assert!(e.to_string().contains("holds 56 bytes, and the array (1, 3) at offset 8 ends at byte 20: a raw array grows only where its file ends"), "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn an_array_follows_its_data_when_a_tight_header_moves_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.npy");
        let header = NpyHeader { dtype: f32s(), fortran_order: false, shape: vec![9, 3] };
        let room = (0..).find(|&len| header.encode_in(NpyVersion::V1, len).is_some()).unwrap();
        let mut bytes = header.encode_in(NpyVersion::V1, room).unwrap();
        bytes.extend(rows(0, 9).iter().flat_map(|x| x.to_ne_bytes()));
        std::fs::write(&path, &bytes).unwrap();
        // SAFETY: private to the test.
        let mut a = unsafe { MmapArray::open_npy(&path, Mode::ReadWrite) }.unwrap();
        a.append(rows(9, 2).view()).unwrap();
        assert_eq!(a.offset(), 128);
        assert_eq!(a.to_array::<f32>().unwrap(), rows(0, 11).into_dyn());
        a.view_mut::<f32>().unwrap()[[10, 0]] = -1.0;
        a.close().unwrap();
        assert_eq!(open(&path).get::<f32>(&[10, 0]).unwrap(), -1.0);
    }

    #[test]
    fn a_replaced_or_removed_file_is_not_committed_to() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        let mut w = Appender::create(&path, f32s(), &[3], Order::C).unwrap().durability(Durability::Manual);
        w.write(rows(0, 3).view()).unwrap();
        let other = dir.path().join("o.npy");
        drop(Appender::create(&other, f32s(), &[3], Order::C).unwrap());
        std::fs::rename(&other, &path).unwrap();
        let e = w.commit().unwrap_err();
        assert!(e.to_string().contains("was replaced while 3 rows (0 committed) were appended to it"), "{e}");
        std::fs::remove_file(&path).unwrap();
        let e = w.commit().unwrap_err();
        assert!(e.to_string().contains("was removed while 3 rows"), "{e}");
        assert!(w.close().is_err());
        // rewritten in place (np.save over it): same file, another array
        let mut w = Appender::create(&path, f32s(), &[3], Order::C).unwrap().durability(Durability::Manual);
        w.write(rows(0, 2).view()).unwrap();
        assert_eq!(w.commit().unwrap(), 2);
        w.write(rows(2, 1).view()).unwrap();
        let fresh = NpyHeader { dtype: f32s(), fortran_order: false, shape: vec![1, 3] }.encode(None).unwrap().0;
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(0).unwrap();
        f.write_all_at(&[fresh, vec![0u8; 12]].concat(), 0).unwrap();
        let e = w.commit().unwrap_err();
        assert!(e.to_string().contains("was rewritten by another writer while 3 rows (2 committed)"), "{e}");
        drop(w); // (and its drop leaves the other writer's file alone)
        assert_eq!(open(&path).shape(), &[1, 3]);
        assert_eq!(open(&path).trailing(), None);
    }

    #[test]
    fn a_batch_that_fails_midway_is_not_half_appended() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.npy");
        let mut w = Appender::create(&path, f32s(), &[3], Order::C).unwrap();
        w.write(rows(0, 2).view()).unwrap();
        // a batch whose later chunk fails after earlier ones were written
        let e = w
            .whole_or_nothing(2, |w| {
                w.put(&rows(2, 5).iter().flat_map(|x| x.to_ne_bytes()).collect::<Vec<u8>>())?;
                Err(Error::new(ErrorKind::Io, "the next chunk failed"))
            })
            .unwrap_err();
        assert!(e.to_string().contains("the next chunk failed"));
        assert_eq!((w.rows(), w.committed_rows()), (2, 2));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), w.offset + 2 * 12);
        w.write(rows(2, 1).view()).unwrap();
        assert_eq!(w.close().unwrap(), vec![3, 3]);
        assert_eq!(open(&path).to_array::<f32>().unwrap(), rows(0, 3).into_dyn());
    }

    #[test]
    fn write_array_streams_another_file_in_any_layout() {
        let dir = tempfile::tempdir().unwrap();
        let (src_c, src_f, dst) = (dir.path().join("c.npy"), dir.path().join("f.npy"), dir.path().join("d.npy"));
        let make = |p: &Path, order: Order, from: usize| {
            // SAFETY: private to the test.
            let mut a = unsafe { NpyOptions::new(f32s(), &[1000, 3]).order(order).create(p) }.unwrap();
            let r = rows(from, 1000);
            a.view_mut::<f32>().unwrap().assign(&r.into_dyn());
            a.close().unwrap();
        };
        make(&src_c, Order::C, 0);
        make(&src_f, Order::F, 1000);
        let mut w = Appender::create(&dst, f32s(), &[3], Order::C).unwrap();
        w.write_array(&open(&src_c)).unwrap();
        w.write_array(&open(&src_f)).unwrap();
        // its own committed rows, mapped while it appends past them
        w.write_array(&open(&dst)).unwrap();
        assert_eq!(w.close().unwrap(), vec![4000, 3]);
        let all = open(&dst).to_array::<f32>().unwrap();
        assert_eq!(all.slice(ndarray::s![..2000, ..]), rows(0, 2000));
        assert_eq!(all.slice(ndarray::s![2000.., ..]), rows(0, 2000));
    }
}
