//! Arrays that grow, from Python: `_core.Appender` (the core's `Appender`:
//! crash-consistent appends under the file's write lock) and `regrow`,
//! which makes an `mmarray.memmap` cover the rows appended to its file.

use std::path::PathBuf;
use std::time::Duration;

use mmarray::{DType, Durability, Order};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::{guarded, to_py};

/// A writer appending rows to a `.npy` file (`mmarray::Appender`).
#[pyclass(module = "mmarray._core")]
pub(crate) struct Appender {
    inner: Option<mmarray::Appender>,
}

fn durability(commit_rows: Option<u64>, commit_secs: Option<f64>, manual: bool) -> PyResult<Durability> {
    Ok(match (commit_rows, commit_secs, manual) {
        (None, None, false) => Durability::EachWrite,
        (Some(0), _, _) => return Err(PyValueError::new_err("commit_rows must be at least 1")),
        (Some(n), None, false) => Durability::Rows(n),
        (None, Some(s), false) => Durability::Interval(
            Duration::try_from_secs_f64(s).map_err(|_| PyValueError::new_err(format!("commit_secs must be a number of seconds >= 0, got {s}")))?,
        ),
        (None, None, true) => Durability::Manual,
        _ => return Err(PyValueError::new_err("give at most one of commit_rows, commit_secs and manual=True")),
    })
}

impl Appender {
    fn get(&mut self) -> PyResult<&mut mmarray::Appender> {
        self.inner.as_mut().ok_or_else(|| PyValueError::new_err("the appender is closed"))
    }
}

#[pymethods]
impl Appender {
    /// Opens the `.npy` file at `path` to append to it, or (with `descr`)
    /// creates it when it does not exist: rows of `row_shape` of the dtype
    /// `descr` (`'<f4'`), in `order` (`'C'`: rows along the first axis;
    /// `'F'`: the last). With `raw_offset`, `path` is a raw file of such
    /// rows from that byte on (`descr` needed), which must exist.
    #[staticmethod]
    #[allow(clippy::too_many_arguments)] // (Python's keyword arguments)
    #[pyo3(signature = (path, descr=None, row_shape=None, order="C", commit_rows=None, commit_secs=None, manual=false, raw_offset=None))]
    fn open(
        py: Python<'_>,
        path: PathBuf,
        descr: Option<&str>,
        row_shape: Option<Vec<usize>>,
        order: &str,
        commit_rows: Option<u64>,
        commit_secs: Option<f64>,
        manual: bool,
        raw_offset: Option<u64>,
    ) -> PyResult<Self> {
        let policy = durability(commit_rows, commit_secs, manual)?;
        let order = match order {
            "C" => Order::C,
            "F" => Order::F,
            _ => return Err(PyValueError::new_err(format!("order must be 'C' or 'F', got {order:?}"))),
        };
        let dtype = descr.map(DType::parse).transpose().map_err(to_py)?;
        let rows = row_shape.as_deref().unwrap_or(&[]);
        let raw = match (raw_offset, dtype) {
            (Some(offset), Some(d)) => Some((offset, d)),
            (Some(_), None) => return Err(PyValueError::new_err("a raw file's appender needs its dtype")),
            (None, _) => None,
        };
        guarded("appender", || {
            py.detach(|| match raw {
                Some((offset, d)) => mmarray::Appender::open_raw(&path, d, rows, order, offset),
                None => mmarray::Appender::open_or_create(&path, dtype.map(|d| (d, rows, order))),
            })
            .map(|w| Self { inner: Some(w.durability(policy)) })
            .map_err(to_py)
        })
    }

    /// Appends `nrows` rows given as bytes in the file's order and byte order.
    fn write_bytes(&mut self, py: Python<'_>, data: &[u8]) -> PyResult<()> {
        let w = self.get()?;
        guarded("append", || py.detach(|| w.write_bytes(data)).map_err(to_py))
    }

    /// Makes the rows written part of the array, durably; returns the rows.
    fn commit(&mut self, py: Python<'_>) -> PyResult<u64> {
        let w = self.get()?;
        guarded("commit", || py.detach(|| w.commit()).map_err(to_py))
    }

    /// Sets the number of rows (committed): zeros added, or rows cut off.
    fn resize(&mut self, py: Python<'_>, rows: u64) -> PyResult<u64> {
        let w = self.get()?;
        guarded("resize", || py.detach(|| w.resize(rows)).map_err(to_py))
    }

    /// Commits, gives back the reserved space, releases the lock; returns
    /// the final shape. Idempotent.
    fn close(&mut self, py: Python<'_>) -> PyResult<Vec<usize>> {
        match self.inner.take() {
            None => Err(PyValueError::new_err("the appender is closed")),
            Some(w) => guarded("close", || py.detach(|| w.close()).map_err(to_py)),
        }
    }

    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_none()
    }

    #[getter]
    fn rows(&mut self) -> PyResult<u64> {
        Ok(self.get()?.rows())
    }

    #[getter]
    fn committed_rows(&mut self) -> PyResult<u64> {
        Ok(self.get()?.committed_rows())
    }

    /// The committed shape.
    #[getter]
    fn shape(&mut self) -> PyResult<Vec<usize>> {
        Ok(self.get()?.shape().to_vec())
    }

    #[getter]
    fn row_shape(&mut self) -> PyResult<Vec<usize>> {
        Ok(self.get()?.row_shape())
    }

    #[getter]
    fn row_bytes(&mut self) -> PyResult<u64> {
        Ok(self.get()?.row_bytes())
    }

    /// The dtype's descr (`'<f4'`).
    #[getter]
    fn descr(&mut self) -> PyResult<String> {
        Ok(self.get()?.dtype().descr())
    }

    #[getter]
    fn order(&mut self) -> PyResult<&'static str> {
        Ok(if self.get()?.order() == Order::F { "F" } else { "C" })
    }

    #[getter]
    fn axis(&mut self) -> PyResult<usize> {
        Ok(self.get()?.axis())
    }

    #[getter]
    fn offset(&mut self) -> PyResult<u64> {
        Ok(self.get()?.offset())
    }

    /// Cuts off the rows written and not committed; returns how many.
    fn discard(&mut self, py: Python<'_>) -> PyResult<u64> {
        let w = self.get()?;
        guarded("discard", || py.detach(|| w.discard()).map_err(to_py))
    }

    /// Whether the header can name `rows` rows in its own bytes.
    fn header_fits(&mut self, rows: u64) -> PyResult<bool> {
        Ok(self.get()?.header_fits(rows))
    }

    #[getter]
    fn header_rewritten(&mut self) -> PyResult<Option<String>> {
        Ok(self.get()?.header_rewritten().map(str::to_string))
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&mut self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<bool> {
        if self.inner.is_some() {
            self.close(py)?;
        }
        Ok(false)
    }
}

/// Makes the ndarray `array` (an `mmarray.memmap` that owns no data) cover
/// `mapping` with `shape`: its data pointer, its dimensions (same number,
/// same strides: only the growth axis changes, and in C or Fortran order the
/// strides do not depend on it) and its base. The caller keeps the old base
/// alive for as long as `array` lives: views of `array` (whose base is
/// `array`, a subclass instance, so NumPy does not collapse it) still point
/// into the old mapping.
#[pyfunction]
pub(crate) fn regrow(py: Python<'_>, array: &Bound<'_, PyAny>, mapping: &Bound<'_, crate::Mapping>, shape: Vec<usize>) -> PyResult<()> {
    use numpy::npyffi::{PyArrayObject, NPY_ARRAY_UPDATE_ALL, PY_ARRAY_API};
    // SAFETY: the pointer check below makes `array` an ndarray.
    if unsafe { numpy::npyffi::PyArray_Check(py, array.as_ptr()) } == 0 {
        return Err(PyValueError::new_err("regrow needs an ndarray"));
    }
    let arr = array.as_ptr().cast::<PyArrayObject>();
    // An engine call computing on this array (in another thread, without
    // the GIL) holds a rust-numpy borrow keyed by the array's base: moving
    // the base now would make its release fail (an abort). The caller
    // retries once the computation ends.
    let old_base = array.getattr("base")?;
    if let Ok(old) = old_base.cast::<crate::Mapping>() {
        let old = old.borrow();
        if old.engine_users.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            old.growing.store(true, std::sync::atomic::Ordering::SeqCst);
            return Err(pyo3::exceptions::PyBufferError::new_err("the array is in use by a computation in another thread"));
        }
        old.growing.store(false, std::sync::atomic::Ordering::SeqCst);
    }
    let itemsize: usize = array.getattr("itemsize")?.extract()?;
    let (addr, len) = {
        let m = mapping.borrow();
        (m.address(), m.nbytes())
    };
    // SAFETY: `arr` is a live ndarray (checked above, and `array` holds a
    // reference); its `dimensions` hold `nd` entries. Only arrays of the
    // same number of dimensions whose data fits in `mapping` are changed;
    // the new base (a strong reference, given to the array) keeps the new
    // data alive, as the old base kept the old.
    unsafe {
        let f = &mut (*arr).fields;
        let nd = usize::try_from(f.nd).unwrap_or(0);
        if nd != shape.len() || shape.iter().product::<usize>() * itemsize > len {
            return Err(PyValueError::new_err(format!("regrow: shape {shape:?} does not fit the array ({nd} dimensions) or the mapping ({len} bytes)")));
        }
        for (i, &n) in shape.iter().enumerate() {
            *f.dimensions.add(i) = n as numpy::npyffi::npy_intp;
        }
        f.data = addr as *mut std::os::raw::c_char;
        let old = f.base;
        f.base = mapping.clone().into_any().into_ptr();
        pyo3::ffi::Py_XDECREF(old);
        PY_ARRAY_API.PyArray_UpdateFlags(py, arr, NPY_ARRAY_UPDATE_ALL);
    }
    Ok(())
}
