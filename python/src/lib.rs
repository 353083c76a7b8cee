//! `mmarray._core`: the Rust side of the Python package. It maps bytes of a
//! file (with mmarray's preallocation, modes and errors) and exports them
//! through the buffer protocol, so `numpy.ndarray.__new__(..., buffer=m)`
//! builds an array on them exactly as `numpy.memmap` does on `mmap.mmap`.

mod engine;
mod grow;

use std::fs::File;
use std::os::raw::c_int;
use std::path::PathBuf;

use mmarray::{Advice, DType, ErrorKind, MmapArray, Mode, RawOptions, ScalarKind};
use pyo3::exceptions::{PyBufferError, PyIndexError, PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// The Python exception for an mmarray error (the one NumPy raises in the
/// same situation): `OSError` subclasses with `errno`, `strerror` and
/// `filename` set (so a missing file is `FileNotFoundError`, a directory
/// `IsADirectoryError`), `IndexError`, NumPy's `AxisError`, else
/// `ValueError`.
pub(crate) fn to_py(e: mmarray::Error) -> PyErr {
    let msg = e.to_string();
    match e.kind() {
        ErrorKind::IndexOutOfBounds => PyIndexError::new_err(msg),
        ErrorKind::AxisOutOfBounds => Python::attach(|py| {
            // numpy.exceptions.AxisError(message): a ValueError and IndexError
            match py
                .import("numpy.exceptions")
                .and_then(|m| m.getattr("AxisError"))
                .and_then(|c| c.call1((msg.as_str(),)))
            {
                Ok(err) => PyErr::from_value(err),
                Err(_) => PyIndexError::new_err(msg),
            }
        }),
        ErrorKind::NotFound
        | ErrorKind::PermissionDenied
        | ErrorKind::AlreadyExists
        | ErrorKind::NotAFile
        | ErrorKind::NoSpace
        | ErrorKind::InUse
        | ErrorKind::Truncated
        | ErrorKind::Io => {
            // OSError(errno, strerror, filename) picks the subclass by errno.
            match (e.raw_os_error(), e.path()) {
                (Some(errno), Some(path)) => PyOSError::new_err((
                    errno,
                    e.message_without_path().to_string(),
                    path.as_os_str().to_os_string(),
                )),
                (Some(errno), None) => PyOSError::new_err((errno, msg)),
                (None, _) => PyOSError::new_err(msg),
            }
        }
        _ => PyValueError::new_err(msg),
    }
}

/// `OSError(EIO, ..., filename)` if the mmarray mapping holding `addr`
/// lost pages to a truncation of its file by another process, `ValueError`
/// if it was closed (perhaps by another thread while the GIL was released).
pub(crate) fn check_intact_at(addr: usize) -> PyResult<()> {
    mmarray::check_address(addr).map_err(to_py)
}

/// Runs `f`, the body of the binding `op`, turning a panic (a bug in
/// mmarray) into a `RuntimeError` naming the operation, so it never reaches
/// Python as PyO3's `PanicException` (a `BaseException` that `except
/// Exception` does not catch). In debug builds the environment variable
/// `MMARRAY_TEST_PANIC=<op>` forces one, to test this path.
pub(crate) fn guarded<R>(op: &str, f: impl FnOnce() -> PyResult<R>) -> PyResult<R> {
    let run = || {
        #[cfg(debug_assertions)]
        if std::env::var_os("MMARRAY_TEST_PANIC").is_some_and(|v| v == op) {
            panic!("forced by MMARRAY_TEST_PANIC for a test");
        }
        f()
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        Err(PyRuntimeError::new_err(format!(
            "internal error in mmarray.{op}: {what} (a bug: please report it)"
        )))
    })
}

/// A mapped range of a file's bytes, exported as a (possibly writable)
/// one-dimensional byte buffer.
#[pyclass(module = "mmarray._core", weakref)]
pub(crate) struct Mapping {
    array: MmapArray,
    /// Buffers handed out and not yet released.
    exports: usize,
    /// Engine calls computing on arrays over this mapping now (see
    /// [`EngineUse`]): `regrow` must not move such an array's data while
    /// rust-numpy holds a borrow keyed by its base.
    engine_users: std::sync::atomic::AtomicUsize,
    /// Set while a `regrow` waits for the engine calls on this mapping to
    /// end: new engine calls wait for it first, so a thread computing in a
    /// loop cannot starve the growth.
    growing: std::sync::atomic::AtomicBool,
}

/// Counts an engine call on the mapping under `obj` (the first base in its
/// chain that is not an ndarray, when that is a [`Mapping`]) for as long as
/// it lives; made, and dropped, with the GIL held.
pub(crate) struct EngineUse<'py>(Option<Bound<'py, Mapping>>);

impl<'py> EngineUse<'py> {
    pub(crate) fn enter(obj: &Bound<'py, PyAny>) -> Self {
        let start = std::time::Instant::now();
        loop {
            let Some(m) = Self::mapping_under(obj) else { return Self(None) };
            // A growth waiting for the calls before this one goes first;
            // then the chain is walked again, as the growth changed the base.
            if Mapping::yielded_to_growth(&m, start) {
                continue;
            }
            m.borrow().engine_users.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            return Self(Some(m));
        }
    }

    /// The first base in `obj`'s chain that is not an ndarray, when it is
    /// a [`Mapping`].
    fn mapping_under(obj: &Bound<'py, PyAny>) -> Option<Bound<'py, Mapping>> {
        let mut at = obj.clone();
        for _ in 0..64 {
            let base = at.getattr("base").ok()?;
            if let Ok(m) = base.cast::<Mapping>() {
                return Some(m.clone());
            }
            if base.is_none() || base.cast::<numpy::PyUntypedArray>().is_err() {
                return None;
            }
            at = base;
        }
        None
    }
}

impl Drop for EngineUse<'_> {
    fn drop(&mut self) {
        if let Some(m) = &self.0 {
            m.borrow().engine_users.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

impl Mapping {
    /// Whether a growth waits for `m` (see [`Mapping::growing`]): then
    /// sleeps a moment without the GIL and says so, for the caller to look
    /// again; bounded (10 s from `start`), should the growth's thread have
    /// died.
    fn yielded_to_growth(m: &Bound<'_, Mapping>, start: std::time::Instant) -> bool {
        let waiting = m.borrow().growing.load(std::sync::atomic::Ordering::SeqCst) && start.elapsed().as_secs() < 10;
        if waiting {
            m.py().detach(|| std::thread::sleep(std::time::Duration::from_micros(200)));
        }
        waiting
    }
}

#[pymethods]
impl Mapping {
    /// Maps `nbytes` bytes at `offset` of the file at `path` (or of the open
    /// descriptor `fd`, which is duplicated), in NumPy's `mode`. `r+` grows
    /// a short file and `w+` creates or (for a path) truncates it, with the
    /// space reserved on disk. With `drop_behind`, the file's pages in the
    /// range leave the page cache when the mapping goes
    /// (`MmapArray::drop_behind`).
    #[staticmethod]
    #[pyo3(signature = (mode, offset, nbytes, path=None, fd=None, label=None, drop_behind=false))]
    fn open(
        mode: &str,
        offset: u64,
        nbytes: usize,
        path: Option<PathBuf>,
        fd: Option<c_int>,
        label: Option<String>,
        drop_behind: bool,
    ) -> PyResult<Self> {
        guarded("memmap", || {
            let mode = Mode::parse(mode).map_err(to_py)?;
            let opts = RawOptions::new(DType::native(ScalarKind::U8))
                .mode(mode)
                .offset(offset)
                .shape(&[nbytes]);
            // SAFETY (both `open` and `open_file` below): Python code gets
            // the bytes through the buffer protocol as raw memory (as
            // numpy.memmap's mmap does), never as Rust references; Rust views
            // exist only inside engine calls, over NumPy arrays whose
            // rust-numpy borrow flags are taken for the call. What other
            // Python threads or processes write concurrently is the Python
            // user's contract, as with numpy.memmap.
            let mut array = match (path, fd) {
                // SAFETY: see above.
                (Some(path), _) => unsafe { opts.open(path) },
                (None, Some(fd)) => {
                    // SAFETY: `fd` is the descriptor of a Python file object that
                    // the caller keeps open for the duration of this call; it is
                    // only borrowed to be duplicated, and the duplicate is owned
                    // by the returned File.
                    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
                    let owned = rustix::io::fcntl_dupfd_cloexec(borrowed, 0)
                        .map_err(|e| PyOSError::new_err(e.to_string()))?;
                    // SAFETY: see above (the mapping contract is the Python user's).
                    unsafe {
                        opts.open_file(
                            File::from(owned),
                            label.unwrap_or_else(|| format!("<fd {fd}>")),
                        )
                    }
                }
                (None, None) => {
                    return Err(PyValueError::new_err(
                        "a path or a file descriptor is needed",
                    ))
                }
            }
            .map_err(to_py)?;
            array.drop_behind(drop_behind);
            Ok(Self { array, exports: 0, engine_users: std::sync::atomic::AtomicUsize::new(0), growing: std::sync::atomic::AtomicBool::new(false) })
        })
    }

    /// Writes changes back to the file (msync); with `durable`, also fsyncs
    /// so they survive a power cut.
    #[pyo3(signature = (durable=false))]
    fn flush(slf: &Bound<'_, Self>, durable: bool) -> PyResult<()> {
        let py = slf.py();
        // (a thread flushing in a loop cannot starve a growth)
        let start = std::time::Instant::now();
        while Mapping::yielded_to_growth(slf, start) {}
        let this = slf.borrow();
        guarded("flush", || {
            if this.array.is_closed() {
                return Err(PyValueError::new_err("I/O operation on a closed memmap"));
            }
            let array = &this.array;
            py.detach(|| {
                if durable {
                    array.flush_durable()
                } else {
                    array.flush()
                }
            })
            .and_then(|()| array.check_intact())
            .map_err(to_py)
        })
    }

    /// Flushes, then releases the file: its pages are replaced by private
    /// zero pages (arrays still pointing there read zeros and write nowhere,
    /// never crash; an engine call running meanwhile raises ValueError) and
    /// the descriptor and lock are closed. Idempotent.
    fn close(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        guarded("close", || {
            // The slow part (writing dirty pages back) under a shared borrow
            // with the GIL released, so other threads can still ask whether
            // the array is closed (a mutable borrow held across a release
            // made them fail with "Already mutably borrowed"); the release
            // itself (one mmap call, the flush again on clean pages) holds
            // the GIL. A truncated file is released, then reported.
            {
                let this = slf.borrow();
                let array = &this.array;
                if !array.is_closed() {
                    match py.detach(|| array.flush()) {
                        Err(e) if e.kind() != ErrorKind::Truncated => return Err(to_py(e)),
                        _ => {}
                    }
                }
            }
            // Another thread may hold a shared borrow with the GIL released
            // (a flush, another close's flush): wait for it, without the GIL,
            // instead of failing with "Already borrowed".
            loop {
                if let Ok(mut this) = slf.try_borrow_mut() {
                    return this.array.close_in_place().map_err(to_py);
                }
                py.detach(|| std::thread::sleep(std::time::Duration::from_millis(1)));
            }
        })
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.array.is_closed()
    }

    /// Access-pattern advice: 'normal', 'sequential', 'random' or 'willneed'.
    fn madvise(&self, advice: &str) -> PyResult<()> {
        self.array
            .advise(Advice::parse(advice).map_err(to_py)?)
            .map_err(to_py)
    }

    /// The file's exclusive advisory lock (`MmapArray::try_lock_exclusive`),
    /// or None if another handle holds it. Never waits (the Python side
    /// polls, so the GIL is not held while it waits).
    fn try_lock(&self) -> PyResult<Option<WriteLock>> {
        guarded("lock", || Ok(self.array.try_lock_exclusive().map_err(to_py)?.map(|l| WriteLock { lock: Some(l) })))
    }

    /// `ValueError` if closed ("I/O operation on closed memmap
    /// (FILENAME)"); `OSError` (errno EIO, with the filename) if another
    /// process truncated the file below the mapped bytes while they were in
    /// use: a fault in them, or (with `length`) a file now shorter than
    /// the array, which a cut inside the last page makes without a fault.
    /// One call, for the check before and after every element access.
    #[pyo3(signature = (length=true, filename=None))]
    fn check(&self, length: bool, filename: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        if self.array.is_closed() {
            let name = filename.map_or_else(|| self.array.path().display().to_string(), |f| f.to_string());
            return Err(PyValueError::new_err(format!("I/O operation on closed memmap ({name})")));
        }
        let intact = if length { self.array.check_intact() } else { self.array.check_faults() };
        intact.map_err(to_py)
    }

    /// Bytes mapped.
    #[getter]
    fn nbytes(&self) -> usize {
        self.array.nbytes()
    }

    /// The mode ('r', 'r+', 'w+' or 'c').
    #[getter]
    fn mode(&self) -> &'static str {
        self.array.mode().as_str()
    }

    /// Whether writes reach the array (every mode but 'r').
    #[getter]
    fn writable(&self) -> bool {
        self.array.mode().is_writable()
    }

    /// Whether creating or growing the file reserved its space
    /// ('reserved', 'not needed', or 'sparse' where the file system cannot).
    #[getter]
    fn preallocation(&self) -> &'static str {
        match self.array.preallocation() {
            mmarray::Preallocation::Reserved => "reserved",
            mmarray::Preallocation::NotNeeded => "not needed",
            mmarray::Preallocation::Sparse => "sparse",
        }
    }

    /// Maps `nbytes` bytes (no fewer than now) of the file, which holds
    /// them, without moving the mapping (`MmapArray::grow_in_place`): True
    /// if done, False (nothing changed) if the address space reserved after
    /// the mapping is too small for them. Buffers and arrays over the
    /// mapping stay valid either way.
    /// Raises BufferError while another thread uses the mapping (a flush
    /// with the GIL released): the caller retries.
    fn grow(slf: &Bound<'_, Self>, nbytes: usize) -> PyResult<bool> {
        let Ok(mut m) = slf.try_borrow_mut() else {
            // (flushes not yet started wait for the growth)
            slf.borrow().growing.store(true, std::sync::atomic::Ordering::SeqCst);
            return Err(pyo3::exceptions::PyBufferError::new_err("the mapping is in use by another thread"));
        };
        m.growing.store(false, std::sync::atomic::Ordering::SeqCst);
        guarded("grow", || m.array.grow_in_place(nbytes).map_err(to_py))
    }

    /// Address of the first mapped byte (to locate views within the mapping).
    #[getter]
    fn address(&self) -> usize {
        self.array.as_bytes().as_ptr() as usize
    }

    /// (device, inode) of the mapped file, from the descriptor held
    /// (`MmapArray::file_id`); None once closed.
    #[getter]
    fn file_id(&self) -> Option<(u64, u64)> {
        self.array.file_id()
    }

    /// Byte offset of the mapped range in the file.
    #[getter]
    fn offset(&self) -> u64 {
        self.array.offset()
    }

    /// Number of buffers currently exported.
    #[getter]
    fn exports(&self) -> usize {
        self.exports
    }

    /// Exports the mapped bytes as a one-dimensional unsigned-byte buffer.
    ///
    /// # Safety
    /// Called by Python with a valid `view` to fill.
    unsafe fn __getbuffer__(
        mut slf: PyRefMut<'_, Self>,
        view: *mut pyo3::ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        if view.is_null() {
            return Err(PyBufferError::new_err("view is null"));
        }
        if slf.array.is_closed() {
            return Err(PyBufferError::new_err("the memmap was closed"));
        }
        let writable = slf.array.mode().is_writable();
        if flags & pyo3::ffi::PyBUF_WRITABLE != 0 && !writable {
            return Err(PyBufferError::new_err(
                "the memmap was opened in mode 'r' (read-only)",
            ));
        }
        let (ptr, len) = if writable {
            let bytes = slf.array.as_bytes_mut().map_err(to_py)?;
            (bytes.as_mut_ptr(), bytes.len())
        } else {
            let bytes = slf.array.as_bytes();
            (bytes.as_ptr().cast_mut(), bytes.len())
        };
        slf.exports += 1;
        let py = slf.py();
        let obj = slf.into_pyobject(py)?;
        // SAFETY: Python passed a valid, writable Py_buffer. The buffer
        // points into the mapping, which lives as long as this object, and
        // `obj` (a new reference stored in the view) keeps it alive until
        // the buffer is released. shape/strides point into the view itself.
        unsafe {
            (*view).obj = obj.into_any().into_ptr();
            (*view).buf = ptr.cast();
            (*view).len = len as isize;
            (*view).readonly = c_int::from(!writable);
            (*view).itemsize = 1;
            (*view).format = if flags & pyo3::ffi::PyBUF_FORMAT != 0 {
                c"B".as_ptr().cast_mut()
            } else {
                std::ptr::null_mut()
            };
            (*view).ndim = 1;
            (*view).shape = if flags & pyo3::ffi::PyBUF_ND != 0 {
                &raw mut (*view).len
            } else {
                std::ptr::null_mut()
            };
            (*view).strides = if flags & pyo3::ffi::PyBUF_STRIDES == pyo3::ffi::PyBUF_STRIDES {
                &raw mut (*view).itemsize
            } else {
                std::ptr::null_mut()
            };
            (*view).suboffsets = std::ptr::null_mut();
            (*view).internal = std::ptr::null_mut();
        }
        Ok(())
    }

    /// Releases an exported buffer.
    ///
    /// # Safety
    /// Called by Python with a view filled by `__getbuffer__`.
    unsafe fn __releasebuffer__(&mut self, _view: *mut pyo3::ffi::Py_buffer) {
        self.exports = self.exports.saturating_sub(1);
    }
}

/// The compiled part of mmarray.
/// A held exclusive lock on a mapped file: released by `release()`, by
/// leaving a `with` block, or when garbage-collected.
#[pyclass(module = "mmarray._core")]
struct WriteLock {
    lock: Option<mmarray::WriteLock>,
}

#[pymethods]
impl WriteLock {
    /// Releases the lock (idempotent).
    fn release(&mut self) {
        self.lock = None;
    }

    /// Whether the lock is still held.
    #[getter]
    fn held(&self) -> bool {
        self.lock.is_some()
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&mut self, _exc: &Bound<'_, PyTuple>) -> bool {
        self.lock = None;
        false
    }
}

/// Makes a new file at `path` whole or not at all (`mmarray::create_file`):
/// `length` reserved zero bytes beginning with `head`, durable, then named,
/// replacing an existing regular file with `replace`.
#[pyfunction]
#[pyo3(signature = (path, length, head, replace))]
fn create_file(py: Python<'_>, path: PathBuf, length: u64, head: Vec<u8>, replace: bool) -> PyResult<()> {
    guarded("create_file", || py.detach(|| mmarray::create_file(&path, length, &head, replace)).map_err(to_py))
}

/// A hidden name beside `path` for a file being made for it
/// (`mmarray::temporary_name`), after removing those that dead processes
/// left (`mmarray::remove_stale_temporaries`).
#[pyfunction]
fn temporary_name(path: PathBuf) -> PathBuf {
    mmarray::remove_stale_temporaries(&path);
    mmarray::temporary_name(&path, "")
}

/// Names a file made under a temporary name, durable first
/// (`mmarray::publish_file`); on error the temporary file is removed.
#[pyfunction]
#[pyo3(signature = (temporary, path, replace))]
fn publish_file(py: Python<'_>, temporary: PathBuf, path: PathBuf, replace: bool) -> PyResult<()> {
    guarded("publish_file", || py.detach(|| mmarray::publish_file(&temporary, &path, replace)).map_err(to_py))
}

/// Whether the engine takes a pass over `nbytes` of a mapped file for one
/// larger than RAM now (`mmarray::compute::larger_than_ram`).
#[pyfunction]
fn larger_than_ram(nbytes: u64) -> bool {
    mmarray::compute::larger_than_ram(nbytes)
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Mapping>()?;
    m.add_function(wrap_pyfunction!(create_file, m)?)?;
    m.add_function(wrap_pyfunction!(temporary_name, m)?)?;
    m.add_function(wrap_pyfunction!(publish_file, m)?)?;
    m.add_function(wrap_pyfunction!(larger_than_ram, m)?)?;
    m.add_class::<WriteLock>()?;
    m.add_class::<grow::Appender>()?;
    m.add_function(wrap_pyfunction!(grow::regrow, m)?)?;
    m.add("InvalidBoolData", m.py().get_type::<engine::InvalidBoolData>())?;
    m.add_function(wrap_pyfunction!(engine::reduce, m)?)?;
    m.add_function(wrap_pyfunction!(engine::quantile, m)?)?;
    m.add_function(wrap_pyfunction!(engine::median, m)?)?;
    m.add_function(wrap_pyfunction!(engine::apply, m)?)?;
    m.add_function(wrap_pyfunction!(engine::rolling, m)?)?;
    m.add_function(wrap_pyfunction!(engine::rolling_dtype, m)?)?;
    m.add_function(wrap_pyfunction!(engine::downsample, m)?)?;
    m.add_function(wrap_pyfunction!(engine::stats, m)?)?;
    m.add_function(wrap_pyfunction!(engine::matvec, m)?)?;
    m.add_function(wrap_pyfunction!(engine::histogram, m)?)?;
    m.add_function(wrap_pyfunction!(engine::set_threads, m)?)?;
    m.add_function(wrap_pyfunction!(engine::get_threads, m)?)?;
    Ok(())
}
