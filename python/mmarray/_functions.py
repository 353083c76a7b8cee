"""The engine for any array, mapped or not: rolling windows, plotting
envelopes, one-pass statistics, and a SciPy linear operator."""

import operator

import numpy as np

from . import _core
from ._engine import _finish, axis_tuple

__all__ = [
    "as_linear_operator",
    "downsample",
    "get_threads",
    "mean_of_squares",
    "rolling_max",
    "rolling_mean",
    "rolling_min",
    "rolling_std",
    "rolling_sum",
    "rolling_var",
    "set_threads",
    "stats",
    "sum_of_squares",
]


def _count(name, value, limit):
    """A positive integer argument (`window`, `n_bins`): a bool or a float is
    a TypeError, below 1 or above `limit` a ValueError naming both."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    value = operator.index(value)
    if not 1 <= value <= max(limit, 1):
        raise ValueError(f"{name} must be between 1 and {max(limit, 1)}, got {value}")
    return value


def set_threads(n=None):
    """Set how many threads the engine computes on, for the whole process,
    and return the count that was in force before.

    `n` is a positive integer; ``0`` means one thread per core; ``None``
    restores the default: the environment variable ``MMARRAY_THREADS``
    (read when mmarray is imported, and again now) if set, else one thread
    per core. Work already running keeps its threads. The CLI's
    ``--threads`` is the same setting.

    Raises ``TypeError`` for a non-integer and ``ValueError`` for a negative
    count, or when ``n`` is None and ``MMARRAY_THREADS`` is not a count.

    >>> import mmarray
    >>> before = mmarray.set_threads(1)
    >>> mmarray.get_threads()
    1
    >>> _ = mmarray.set_threads(before)
    """
    before = _core.get_threads()
    if n is None:
        _core.set_threads(None)
        return before
    if isinstance(n, (bool, np.bool_)):
        raise TypeError(f"a thread count must be an integer, got {n!r}")
    n = operator.index(n)
    if n < 0:
        raise ValueError(f"a thread count must be 0 (one per core) or more, got {n}")
    _core.set_threads(n)
    return before


def get_threads():
    """The number of threads the engine computes on (see `set_threads`).

    >>> import mmarray
    >>> mmarray.get_threads() >= 1
    True
    """
    return _core.get_threads()


def _engine_array(a, what):
    """`a` as an array the engine reads in place (converted to float64 only
    if its byte order, alignment or long-double type needs it). Complex and
    non-numeric data are a TypeError naming `what`: converting them would
    silently drop the imaginary part or parse strings. A closed
    mmarray.memmap is a ValueError, one whose file was truncated an
    OSError, before and after a conversion (which would copy zeros)."""
    check = getattr(a, "_check_open", None) or (lambda: None)
    check()
    a = np.asarray(a)
    if a.size == 0:
        # an empty mapping's address need not be aligned for its dtype
        a = np.zeros(a.shape, a.dtype)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{what} takes real numbers (bool, integer or float); got dtype {a.dtype}"
                        + (" (take a.real, a.imag or np.abs(a) first)" if a.dtype.kind == "c" else ""))
    if not a.dtype.isnative or not a.flags.aligned or a.dtype.itemsize > 8:
        a = a.astype(np.float64, order="C")  # (ascontiguousarray would make 0-d arrays 1-d)
        check()
    return a


_OUTPUT_FLOATS = tuple(np.dtype(t) for t in ("float16", "float32", "float64"))


def _rolling_output(source, dtype):
    """The result dtype's name: the core's rule for `source` data
    (`compute::rolling_dtype`), or `dtype` if given, which must be a float
    type the engine writes."""
    if dtype is None:
        return _core.rolling_dtype(source.str)
    d = np.dtype(dtype)
    if d not in _OUTPUT_FLOATS:
        raise TypeError(f"dtype must be float16, float32 or float64 (native byte order), got {d}")
    return d.name


def _ddof(ddof):
    """``ddof`` as a float: a real number (NaN gives NaN variances, as in
    NumPy), never a string or a bool."""
    if isinstance(ddof, bool) or not isinstance(ddof, (int, float, np.integer, np.floating)):
        raise TypeError(f"ddof must be a real number, got {ddof!r}")
    return float(ddof)


def _rolling(stat):
    def f(a, window, axis=0, ddof=0, dtype=None):
        # the output dtype first, then in sliding_window_view's order: the
        # axis, the window (an integer: 2.5 is a TypeError), then the data
        a = np.asanyarray(a)
        out = _rolling_output(a.dtype, dtype)
        axis = np.lib.array_utils.normalize_axis_index(operator.index(axis), a.ndim)
        window = _count("window", window, a.shape[axis])
        return _core.rolling(_engine_array(a, f"rolling_{stat}"), window, stat, axis, _ddof(ddof), out)

    f.__name__ = f"rolling_{stat}"
    f.__doc__ = f"""Rolling {stat} over windows of ``window`` along ``axis``, in O(n).

    The result has ``n - window + 1`` values along ``axis`` (one per full
    window), equal to
    ``sliding_window_view(a, window, axis=axis).{stat}(axis=-1)``
    {"(with ``ddof``)" if stat in ("var", "std") else ""} without its
    window-sized temporaries. Its dtype is NumPy's for float data (float32
    for float32, float16 for float16: computed in float64 and rounded once,
    so where NumPy's float32 sums lose digits or overflow this is the
    correctly rounded value) and float64 for integers and bool (NumPy:
    int64 sums, min and max of the input's type). ``dtype=np.float64``
    keeps float64 for any input.

    >>> import mmarray, numpy as np
    >>> mmarray.rolling_{stat}(np.arange(5.0), 2).shape
    (4,)
    >>> mmarray.rolling_{stat}(np.arange(5, dtype=np.float32), 2).dtype
    dtype('float32')
    >>> mmarray.rolling_{stat}(np.arange(5, dtype=np.float32), 2, dtype=np.float64).dtype
    dtype('float64')
    """
    return f


rolling_sum = _rolling("sum")
rolling_mean = _rolling("mean")
rolling_var = _rolling("var")
rolling_std = _rolling("std")
rolling_min = _rolling("min")
rolling_max = _rolling("max")


def downsample(a, n_bins):
    """The min/max envelope of a 1-D series in ``n_bins`` bins, for
    plotting a long series without losing its peaks (the M4 method).

    Returns a dict of arrays: ``start`` (first index of each bin), ``min``,
    ``max``, ``first`` and ``last``.

    >>> import mmarray, numpy as np
    >>> x = np.zeros(1000); x[500] = 9.0
    >>> float(mmarray.downsample(x, 10)["max"].max())
    9.0
    """
    a = _engine_array(a, "downsample")
    start, lo, hi, first, last = _core.downsample(a, _count("n_bins", n_bins, 2**63 - 1))
    return {"start": start, "min": lo, "max": hi, "first": first, "last": last}


def stats(a, ddof=0, skipna=False):
    """Count, NaN count, sum, mean, var, std, min and max in one parallel
    pass over ``a``, as a dict of floats.

    >>> import mmarray, numpy as np
    >>> mmarray.stats(np.array([1.0, 2.0, 3.0]))["mean"]
    2.0
    """
    keys = ("count", "nan_count", "sum", "mean", "var", "std", "min", "max")
    return dict(zip(keys, _core.stats(_engine_array(a, "stats"), _ddof(ddof), bool(skipna))))


def _squares(stat, a, axis, keepdims):
    m = _engine_array(a, "mean_of_squares" if stat == "meansq" else "sum_of_squares")
    if m.ndim == 0:
        # one value: NumPy's own formulation (its 0-d axis rules included)
        return (np.mean if stat == "meansq" else np.sum)(m.astype(np.float64) ** 2, axis=axis, keepdims=keepdims)
    if m.size == 0:
        raise ValueError(f"{stat} of an empty array is undefined")
    # NumPy's own axis rules and errors (TypeError, AxisError, repeated axis)
    axes = None if axis is None else axis_tuple(axis, m.ndim)
    return _finish(m, _core.reduce(m, stat, axes, 0.0, False), np.dtype(np.float64), axes, keepdims, None)


def mean_of_squares(a, axis=None, keepdims=False):
    """``np.mean(a.astype(float64) ** 2, axis)`` in one parallel pass, with
    no temporary the size of ``a``: e.g. the kinetic energy per time step,
    ``0.5 * mean_of_squares(v, axis=(1, 2, 3))``, of a 4-D velocity field
    larger than RAM. ``axis`` is an int, a tuple or None; result float64.

    >>> import mmarray, numpy as np
    >>> mmarray.mean_of_squares(np.array([[1.0, 2.0], [3.0, 4.0]]), axis=1)
    array([ 2.5, 12.5])
    """
    return _squares("meansq", a, axis, keepdims)


def sum_of_squares(a, axis=None, keepdims=False):
    """``np.sum(a.astype(float64) ** 2, axis)`` in one parallel pass, with no
    temporary the size of ``a`` (see `mean_of_squares`).

    >>> import mmarray, numpy as np
    >>> float(mmarray.sum_of_squares(np.array([1.0, 2.0, 3.0])))
    14.0
    """
    return _squares("sumsq", a, axis, keepdims)


def as_linear_operator(a):
    """A `scipy.sparse.linalg.LinearOperator` for the 2-D matrix ``a``
    whose ``matvec`` and ``rmatvec`` run the parallel engine on ``a`` in
    place, so iterative solvers (``cg``, ``gmres``) work on matrices that do
    not fit in RAM.
    """
    from scipy.sparse.linalg import LinearOperator

    m = _engine_array(a, "as_linear_operator")
    if m.ndim != 2:
        raise ValueError(f"a linear operator needs a 2-D matrix, got {m.ndim} dimensions")

    def mv(x):
        return _core.matvec(m, np.ascontiguousarray(np.ravel(x), dtype=np.float64))

    def rmv(x):
        return _core.matvec(m, np.ascontiguousarray(np.ravel(x), dtype=np.float64), transpose=True)

    return LinearOperator(m.shape, matvec=mv, rmatvec=rmv, dtype=np.float64)
