//! The compute engine for Python: reductions, quantiles and in-place steps
//! on NumPy arrays (mapped or not), run with the GIL released.

use mmarray::compute::{self, FpEvent, NanPolicy, QuantileDtype, ReduceOptions, Scalar, Stat, Step};
use mmarray::ScalarKind;
use numpy::{IntoPyArray, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::{guarded, to_py};

/// Runs engine work `f` with the GIL released, on the engine's threads
/// (`mmarray.set_threads`, `MMARRAY_THREADS`).
fn off_gil<R: Send>(py: Python<'_>, f: impl FnOnce() -> R + Send) -> R {
    py.detach(|| compute::install(f))
}

/// Sets the number of threads the engine computes on: `n` (0: one per
/// core, the core's `compute::thread_count`), or with `None` the default,
/// `MMARRAY_THREADS` or one per core.
#[pyfunction]
#[pyo3(signature = (n=None))]
pub fn set_threads(n: Option<usize>) -> PyResult<()> {
    let n = match n {
        Some(n) => Some(compute::thread_count(n).ok_or_else(|| PyValueError::new_err(format!("{n} threads is more than any machine has")))?),
        None => None,
    };
    compute::set_threads(n).map_err(to_py)
}

/// The number of threads the engine computes on.
#[pyfunction]
pub fn get_threads() -> usize {
    compute::threads()
}

/// The engine's element type for a NumPy array: its dtype's kind, when
/// native, aligned and one the engine computes on; `None` otherwise (the
/// Python side then falls back to NumPy).
fn engine_kind(obj: &Bound<'_, PyAny>) -> Option<ScalarKind> {
    let arr = obj.cast::<PyUntypedArray>().ok()?;
    let dtype = arr.dtype();
    let text: String = dtype.getattr("str").ok()?.extract().ok()?;
    let parsed = mmarray::DType::parse(&text).ok()?;
    (parsed.is_native() && !matches!(parsed.kind(), ScalarKind::C64 | ScalarKind::C128)).then(|| parsed.kind())
}

/// Runs `$body` with `$v` an `ndarray` view of `$obj` borrowed by `$borrow`
/// and `$as`, `$T` the Rust type of its dtype (one dispatch table:
/// `mmarray::with_scalar_type!`); a `TypeError` for dtypes the engine does
/// not take (and for bool when `$writable`), `InvalidBoolData` for bool data
/// holding a byte other than 0 or 1 (`bool_bytes`).
macro_rules! typed_array {
    ($obj:expr, $borrow:ident, $as:ident, $writable:expr, |$v:ident : $T:ident| $body:expr) => {{
        let obj = $obj;
        match engine_kind(obj).filter(|k| !$writable || *k != ScalarKind::Bool) {
            Some(kind) => {
                // bool data are computed on as their bytes (see bool_bytes)
                let bytes;
                let (obj, kind) = if kind == ScalarKind::Bool {
                    bytes = bool_bytes(obj)?;
                    (&bytes, ScalarKind::U8)
                } else {
                    (obj, kind)
                };
                mmarray::with_scalar_type!(kind, |$T| {
                    let x = obj.cast::<PyArrayDyn<$T>>().map_err(|e| PyTypeError::new_err(e.to_string()))?;
                    // (declared before the borrow, so dropped after its release)
                    let _in_use = crate::EngineUse::enter(obj);
                    #[allow(unused_mut)]
                    let mut guard = x.$borrow().map_err(|e| PyValueError::new_err(e.to_string()))?;
                    // A mapping another process truncated reads zeros where its
                    // pages were lost: never compute on it, never return what
                    // was computed from it; nor on one another thread closed meanwhile
                    // (see mmarray::check_address).
                    let addr = x.data() as usize;
                    crate::check_intact_at(addr)?;
                    let $v = guard.$as();
                    let result = $body;
                    crate::check_intact_at(addr)?;
                    result
                }, complex => Err(unhandled(obj)))
            }
            None => Err(unhandled(obj)),
        }
    }};
}

/// A read-only view (`typed_array!`).
macro_rules! typed_view {
    ($obj:expr, |$v:ident : $T:ident| $body:expr) => {
        typed_array!($obj, try_readonly, as_array, false, |$v: $T| $body)
    };
}

/// A writable view (`typed_array!`), for floats and integers.
macro_rules! typed_view_mut {
    ($obj:expr, |$v:ident : $T:ident| $body:expr) => {
        typed_array!($obj, try_readwrite, as_array_mut, true, |$v: $T| $body)
    };
}

pyo3::create_exception!(
    mmarray._core,
    InvalidBoolData,
    PyValueError,
    "Bool data holding a byte other than 0 or 1: NumPy reads it as true, the engine does not compute on it (the Python side then runs NumPy's code)."
);

/// Bool data as their bytes (a `uint8` view of the same memory), which the
/// engine computes on: bool kernels on bytes of 0 and 1 give the same
/// results, and the memory is never viewed as Rust `bool`s, for which
/// another byte is undefined behaviour (`np.mean` of a bool memmap over
/// the bytes `[2, 2, 0, 1, 255]` gave 52.0 where NumPy's is 0.8; and a
/// writer could change a byte between a check and the computation).
/// Data holding another byte are refused first (`InvalidBoolData`, the
/// core's message with the element's index in logical order): NumPy's
/// code reads them as true. The check runs without the GIL.
fn bool_bytes<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = obj.py();
    let np = py.import("numpy")?;
    let bytes = obj.call_method1("view", (np.getattr("uint8")?, np.getattr("ndarray")?))?;
    let array = bytes.cast::<PyArrayDyn<u8>>().map_err(|e| PyTypeError::new_err(e.to_string()))?;
    let guard = array.try_readonly().map_err(|e| PyValueError::new_err(e.to_string()))?;
    let view = guard.as_array();
    match py.detach(|| mmarray::invalid_bool_in(&view)) {
        Some((at, byte)) => Err(InvalidBoolData::new_err(mmarray::invalid_bool_message(at, byte))),
        None => {
            drop(guard);
            Ok(bytes)
        }
    }
}

fn unhandled(obj: &Bound<'_, PyAny>) -> PyErr {
    let dtype = obj.getattr("dtype").map_or_else(|_| "?".to_string(), |d| d.to_string());
    PyTypeError::new_err(format!("dtype {dtype} not handled by the mmarray engine"))
}

fn policy(skipna: bool) -> NanPolicy {
    if skipna { NanPolicy::Omit } else { NanPolicy::Propagate }
}

/// `stat` of `a` over `axes` (all if None), in float64: a float, or a
/// float64 array of the reduced shape.
#[pyfunction]
#[pyo3(signature = (a, stat, axes=None, ddof=0.0, skipna=false))]
pub fn reduce(py: Python<'_>, a: &Bound<'_, PyAny>, stat: &str, axes: Option<Vec<usize>>, ddof: f64, skipna: bool) -> PyResult<Py<PyAny>> {
    guarded("reduce", || {
        let stat = Stat::parse(stat).map_err(to_py)?;
        let whole = axes.is_none();
        let opts = ReduceOptions { axes, keepdims: false, ddof, nan: policy(skipna) };
        typed_view!(a, |v: T| {
            let r = off_gil(py, || compute::reduce(&v, stat, &opts)).map_err(to_py)?;
            if whole {
                Ok(r.iter().next().copied().unwrap_or(f64::NAN).into_pyobject(py)?.into_any().unbind())
            } else {
                Ok(r.into_pyarray(py).into_any().unbind())
            }
        })
    })
}

/// Exact quantiles `qs` of all of `a`; `element_type` interpolates in the
/// data's float type (NumPy's behaviour for a scalar `q`). The values and
/// NumPy's floating-point errors of its interpolation ([`FpReports`]), in
/// NumPy's order.
#[pyfunction]
#[pyo3(signature = (a, qs, skipna=false, element_type=false))]
pub fn quantile(py: Python<'_>, a: &Bound<'_, PyAny>, qs: Vec<f64>, skipna: bool, element_type: bool) -> PyResult<(Vec<f64>, FpReports)> {
    guarded("quantile", || {
        let dtype = if element_type { QuantileDtype::ElementType } else { QuantileDtype::Float64 };
        let q = typed_view!(a, |v: T| off_gil(py, || compute::quantile_with_events(&v, &qs, policy(skipna), dtype)).map_err(to_py))?;
        Ok((q.values, fp_reports(&q.events)))
    })
}

/// The median of all of `a`, as `np.median`, and NumPy's floating-point
/// errors of rounding it (as [`quantile`]'s).
#[pyfunction]
#[pyo3(signature = (a, skipna=false))]
pub fn median(py: Python<'_>, a: &Bound<'_, PyAny>, skipna: bool) -> PyResult<(f64, FpReports)> {
    guarded("median", || {
        let (value, events) = typed_view!(a, |v: T| off_gil(py, || compute::median_with_events(&v, policy(skipna))).map_err(to_py))?;
        Ok((value, fp_reports(&events)))
    })
}

fn scalar(obj: &Bound<'_, PyAny>) -> PyResult<Scalar> {
    if obj.is_instance_of::<pyo3::types::PyBool>() {
        return Err(PyTypeError::new_err("bool scalars are not handled"));
    }
    if obj.is_instance_of::<pyo3::types::PyInt>() {
        // past 128 bits (only a float array gets one): the float NumPy uses
        return obj.extract::<i128>().map(Scalar::Int).or_else(|_| obj.extract::<f64>().map(Scalar::Float));
    }
    Ok(Scalar::Float(obj.extract::<f64>()?))
}

/// Floating-point errors for Python: `(errstate key, message, call)`, as
/// `("invalid", "invalid value encountered in multiply", 1)` (`call`:
/// which NumPy call of the computation raised it, [`FpEvent::call`]).
type FpReports = Vec<(&'static str, String, usize)>;

/// [`FpReports`] of `events`.
fn fp_reports<'a>(events: impl IntoIterator<Item = &'a FpEvent>) -> FpReports {
    events.into_iter().map(|e| (e.error.errstate_key(), e.to_string(), e.call)).collect()
}

/// Applies `steps` (tuples `("add"|"sub"|"mul"|"div", x)`, `("clip", lo,
/// hi)`, `("normalize",)`) to `a` in place, in parallel. `report` is called
/// with the floating-point errors as `(errstate key, message)` pairs: first
/// those of rounding the scalars to `a`'s type, before any computing (so
/// it can stop there by raising, as NumPy does), then once more with the
/// computation's own, if any.
#[pyfunction]
pub fn apply(py: Python<'_>, a: &Bound<'_, PyAny>, steps: Vec<Bound<'_, PyTuple>>, report: &Bound<'_, PyAny>) -> PyResult<()> {
    guarded("apply", || {
        let mut parsed = Vec::with_capacity(steps.len());
        for t in &steps {
            let op: String = t.get_item(0)?.extract()?;
            let step = match op.as_str() {
                "add" => Step::Add(scalar(&t.get_item(1)?)?),
                "sub" => Step::Sub(scalar(&t.get_item(1)?)?),
                "mul" => Step::Mul(scalar(&t.get_item(1)?)?),
                "div" => Step::Div(scalar(&t.get_item(1)?)?),
                "clip" => Step::Clip(scalar(&t.get_item(1)?)?, scalar(&t.get_item(2)?)?),
                "normalize" => Step::Normalize,
                _ => return Err(PyValueError::new_err(format!("unknown step {op:?}"))),
            };
            parsed.push(step);
        }
        typed_view_mut!(a, |v: T| {
            let before = compute::scalar_events::<T>(&parsed).map_err(to_py)?;
            if !before.is_empty() {
                report.call1((fp_reports(&before),))?;
            }
            let events = off_gil(py, || compute::apply(v, &parsed)).map_err(to_py)?;
            let after: Vec<_> = events.iter().filter(|e| !before.contains(e)).collect();
            if !after.is_empty() {
                report.call1((fp_reports(after),))?;
            }
            Ok(())
        })
    })
}

/// Rolling `stat` over windows of `window` along `axis`, into an array of
/// `out` (`"float16"`, `"float32"` or `"float64"`).
#[pyfunction]
#[pyo3(signature = (a, window, stat, axis=0, ddof=0.0, out="float64"))]
#[allow(clippy::too_many_arguments)]
pub fn rolling(py: Python<'_>, a: &Bound<'_, PyAny>, window: usize, stat: &str, axis: isize, ddof: f64, out: &str) -> PyResult<Py<PyAny>> {
    guarded("rolling", || {
        let stat = compute::RollingStat::parse(stat).map_err(to_py)?;
        typed_view!(a, |v: T| {
            let axis = mmarray::normalize_axis(axis, v.ndim()).map_err(to_py)?;
            let v = v.view();
            // (one instance per output float type, not per dtype: the
            // engine writes only these)
            match out {
                "float16" => rolled::<T, mmarray::f16>(py, v, axis, window, stat, ddof),
                "float32" => rolled::<T, f32>(py, v, axis, window, stat, ddof),
                "float64" => rolled::<T, f64>(py, v, axis, window, stat, ddof),
                _ => Err(PyValueError::new_err(format!("unknown output dtype {out:?}"))),
            }
        })
    })
}

/// [`compute::rolling_along`] into a new NumPy array of `U`.
fn rolled<T: compute::Real, U: compute::Real + numpy::Element>(
    py: Python<'_>,
    v: ndarray::ArrayViewD<'_, T>,
    axis: usize,
    window: usize,
    stat: compute::RollingStat,
    ddof: f64,
) -> PyResult<Py<PyAny>> {
    let r = off_gil(py, || compute::rolling_along::<T, U>(v, axis, window, stat, ddof)).map_err(to_py)?;
    Ok(r.into_pyarray(py).into_any().unbind())
}

/// The dtype (NumPy's name) of rolling statistics of data of dtype `descr`
/// (the core's `compute::rolling_dtype`; `float64` for a dtype the engine
/// does not read, which is converted to float64 first).
#[pyfunction]
pub fn rolling_dtype(descr: &str) -> &'static str {
    mmarray::DType::parse(descr).map_or("float64", |d| compute::rolling_dtype(d.kind()).name())
}

/// The min/max/first/last envelope of a 1-D array in `bins` bins:
/// `(start, min, max, first, last)` arrays.
#[pyfunction]
pub fn downsample(py: Python<'_>, a: &Bound<'_, PyAny>, bins: usize) -> PyResult<Py<PyAny>> {
    guarded("downsample", || {
        typed_view!(a, |v: T| {
            let x = v.into_dimensionality::<ndarray::Ix1>().map_err(|_| PyValueError::new_err("downsample needs a 1-D array"))?;
            let e = off_gil(py, || compute::downsample(x, bins)).map_err(to_py)?;
            let start: Vec<u64> = e.start.iter().map(|&s| s as u64).collect();
            let t = (start.into_pyarray(py), e.min.into_pyarray(py), e.max.into_pyarray(py), e.first.into_pyarray(py), e.last.into_pyarray(py));
            Ok(t.into_pyobject(py)?.into_any().unbind())
        })
    })
}

/// `(count, nan_count, sum, mean, var, std, min, max)`.
type Summary = (u64, u64, f64, f64, f64, f64, f64, f64);

/// Count, NaN count, sum, mean, var, std, min and max in one pass.
#[pyfunction]
#[pyo3(signature = (a, ddof=0.0, skipna=false))]
pub fn stats(py: Python<'_>, a: &Bound<'_, PyAny>, ddof: f64, skipna: bool) -> PyResult<Summary> {
    guarded("stats", || {
        typed_view!(a, |v: T| {
            let m = off_gil(py, || compute::summary(&v, policy(skipna)));
            Ok((m.count(), m.nan_count(), m.sum(), m.mean(), m.var(ddof), m.std(ddof), m.min().unwrap_or(f64::NAN), m.max().unwrap_or(f64::NAN)))
        })
    })
}

/// `A @ x` (or `A.T @ x` with `transpose`) for a 2-D `A`, in float64.
#[pyfunction]
#[pyo3(signature = (a, x, transpose=false))]
pub fn matvec(py: Python<'_>, a: &Bound<'_, PyAny>, x: numpy::PyReadonlyArray1<'_, f64>, transpose: bool) -> PyResult<Py<PyAny>> {
    guarded("matvec", || {
        let x = x.as_array();
        typed_view!(a, |v: T| {
            let m = v.into_dimensionality::<ndarray::Ix2>().map_err(|_| PyValueError::new_err("matvec needs a 2-D matrix"))?;
            let y = off_gil(py, || if transpose { compute::rmatvec(m, x) } else { compute::matvec(m, x) }).map_err(to_py)?;
            Ok(y.into_pyarray(py).into_any().unbind())
        })
    })
}

/// `np.histogram(a, bins, range)` counts (int64) and edges (float64);
/// `range` None takes the data's min and max.
#[pyfunction]
#[pyo3(signature = (a, bins, range=None))]
pub fn histogram(py: Python<'_>, a: &Bound<'_, PyAny>, bins: usize, range: Option<(f64, f64)>) -> PyResult<Py<PyAny>> {
    guarded("histogram", || {
        typed_view!(a, |v: T| {
            let h = off_gil(py, || compute::histogram(&v, bins, range)).map_err(to_py)?;
            let counts: Vec<i64> = h.counts.iter().map(|&c| c as i64).collect();
            Ok((counts.into_pyarray(py), h.edges.into_pyarray(py)).into_pyobject(py)?.into_any().unbind())
        })
    })
}
