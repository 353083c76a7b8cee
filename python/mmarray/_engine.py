"""NumPy functions on mmarray.memmap run by the Rust engine: parallel,
memory-bounded, with the GIL released. Anything the engine does not handle
(a dtype, a keyword, an edge case) falls back to NumPy itself, so results and
errors are NumPy's."""

import inspect
import math
import operator
import os
import sys
import warnings

import numpy as np

from . import _core

# Returned by an implementation that leaves the call to NumPy.
FALLBACK = object()
_NO_VALUE = np._NoValue


def _eligible(a, kinds="biuf"):
    """Whether the engine computes on `a`: a non-empty, aligned array of at
    least one dimension (0-d results are NumPy's scalars), of a native-order
    dtype it has kernels for (bool, integers up to 64 bits, float16/32/64;
    not long double, whose kind is also 'f')."""
    return (
        isinstance(a, np.ndarray)
        and a.dtype.kind in kinds
        and a.dtype.itemsize <= 8
        and a.dtype.isnative
        and a.flags.aligned
        and a.size > 0
        and a.ndim > 0
    )


def _float_dtype(dtype):
    """Whether a `dtype=` argument lets the engine compute (None, or a float
    type: the engine accumulates in float64 and casts the result; NumPy
    accumulates integer and object dtypes in their own type)."""
    if dtype is None:
        return True
    try:
        return np.dtype(dtype).kind == "f" and np.dtype(dtype).itemsize <= 8
    except TypeError:
        return False


def _axes(axis, ndim):
    """Sorted non-negative axes, None for all, or FALLBACK if NumPy should
    report the problem."""
    if axis is None:
        return None
    try:
        out = axis_tuple(axis, ndim)
    except (TypeError, ValueError):  # AxisError is a ValueError
        return FALLBACK
    # axis=() reduces nothing: NumPy's elementwise answer
    return out if out else FALLBACK


def axis_tuple(axis, ndim):
    """Sorted non-negative axes of an ``axis=`` argument, with NumPy's
    reductions' rules and errors: an integer or a tuple of them (a list is
    a TypeError), AxisError out of range, ValueError for a repeated one."""
    items = axis if isinstance(axis, tuple) else (axis,)
    if any(isinstance(x, (bool, np.bool_)) for x in items):
        raise TypeError("an integer is required")  # NumPy refuses axis=False
    return sorted(np.lib.array_utils.normalize_axis_tuple(tuple(operator.index(x) for x in items), ndim))


def _finish(a, value, dtype, axes, keepdims, out):
    if axes is None:
        res = np.asarray(value).astype(dtype)
        if keepdims and a.ndim > 0:
            res = res.reshape((1,) * a.ndim)
        else:
            res = res[()]  # (a 0-d result is NumPy's scalar, keepdims or not)
    else:
        res = np.asarray(value).astype(dtype, copy=False)
        if keepdims:
            res = np.expand_dims(res, tuple(axes))
        elif res.ndim == 0:
            res = res[()]  # every axis reduced: a scalar, as NumPy returns
    if out is not None:
        if not isinstance(out, np.ndarray) or out.shape != np.shape(res) or not np.can_cast(np.asarray(res).dtype, out.dtype, "same_kind"):
            return FALLBACK  # NumPy's own error (or its broadcasting rules)
        out[...] = res
        return out
    if isinstance(res, np.ndarray) and res.ndim == 0:
        res = res[()]  # NumPy returns scalars, not 0-d arrays
    return res


def _is_index(x):
    """Whether `x` is an integer to NumPy's reductions (`keepdims`): a bool
    or an int, not None, a float or a NumPy bool."""
    try:
        operator.index(x)
    except TypeError:
        return False
    return True


def _float_result(a, dtype):
    if dtype is not None:
        return np.dtype(dtype)
    return a.dtype if a.dtype.kind == "f" else np.dtype(np.float64)


def _reduction(stat, skipna=False):
    """An implementation of a NumPy reduction (sum, mean, var, std, min,
    max and their nan-variants)."""

    def impl(a, axis=None, dtype=None, out=None, keepdims=False, ddof=0, where=True, initial=_NO_VALUE, **kwargs):
        if kwargs or where is not True or initial is not _NO_VALUE or not _eligible(a) or not _float_dtype(dtype):
            return FALLBACK
        if not isinstance(ddof, (int, float, np.integer, np.floating)) or isinstance(ddof, bool) or not math.isfinite(ddof):
            return FALLBACK  # NumPy's answer for a NaN, complex or odd ddof
        if not _is_index(keepdims):
            return FALLBACK  # NumPy's TypeError: a reduction's keepdims is an integer (not None, 1.0 or np.True_)
        if out is not None and a.dtype == np.float16 and stat in ("mean", "var", "std"):
            return FALLBACK  # NumPy sums float16 into a float16 `out` (and overflows there)
        axes = _axes(axis, a.ndim)
        if axes is FALLBACK:
            return FALLBACK
        if stat == "ptp":
            # ptp keeps the dtype, and integer subtraction wraps in NumPy
            if a.dtype.kind != "f" or dtype is not None:
                return FALLBACK
            rdtype = a.dtype
        elif stat in ("sum",):
            # Integer sums are exact and wrap in NumPy; the engine sums in
            # float64, so it takes float data (or a float dtype=) only.
            if a.dtype.kind != "f" and dtype is None:
                return FALLBACK
            rdtype = np.dtype(dtype) if dtype is not None else a.dtype
        elif stat in ("min", "max"):
            if dtype is not None or (a.dtype.kind in "iu" and a.dtype.itemsize == 8):
                return FALLBACK
            rdtype = a.dtype
        else:
            rdtype = _float_result(a, dtype)
        nan_skip = skipna and a.dtype.kind == "f"  # (np.nanvar of ints is np.var)
        value = _core.reduce(a, stat, axes, float(ddof), nan_skip)
        scalar = out is None and not keepdims and (axes is None or len(axes) == a.ndim)
        _warn_as_numpy(a, stat, axes, ddof, nan_skip, value, scalar)
        return _finish(a, value, rdtype, axes, keepdims, out)

    return impl


def _warn_as_numpy(a, stat, axes, ddof, skipna, value, scalar):
    """The RuntimeWarnings NumPy's own reduction would give (its main one
    per case: "Mean of empty slice", "Degrees of freedom <= 0 for slice",
    "All-NaN slice encountered"; for np.var/np.std without degrees of
    freedom, the floating-point warning of its division too). `scalar`:
    NumPy's intermediate result is a scalar, not an array."""
    if stat in ("sum", "mean") and a.dtype.kind == "f" and np.isnan(value).any():
        _infinities_cancelled(a, axes, skipna, value)
    if stat in ("var", "std", "ptp") and a.dtype.kind == "f" and np.isnan(value).any():
        _infinities_in_spread(a, stat, axes, skipna)
    if stat not in ("mean", "var", "std", "min", "max"):
        return
    if not skipna:
        # every slice holds the same number of values
        counts = np.asarray(_slice_size(a, axes))
    else:
        if a.dtype.kind != "f" or not np.isnan(value).any():
            return
        # A NaN from a nan-function: an all-NaN slice, too few values, or
        # infinities; the non-NaN counts (one more pass, only in this case) say.
        if stat in ("min", "max"):
            warnings.warn("All-NaN slice encountered", RuntimeWarning, stacklevel=4)
            return
        counts = np.asarray(_core.reduce(a, "count", axes, 0.0, True))
    if stat == "mean" and (counts == 0).any():
        warnings.warn("Mean of empty slice", RuntimeWarning, stacklevel=4)
    elif stat in ("var", "std") and (counts - ddof <= 0).any():
        # (NumPy's nan-variants end this message with a full stop)
        warnings.warn("Degrees of freedom <= 0 for slice" + ("." if skipna else ""), RuntimeWarning, stacklevel=4)
        if not skipna:
            _division_by_no_freedom(a, axes, counts, scalar)


def _warn_all_nan(a):
    """NumPy's "All-NaN slice encountered" for a nan-median or
    nan-quantile of the whole of `a` that came out NaN, if `a` holds no
    value but NaN (one more pass, only in this case); whether it did."""
    if a.dtype.kind != "f" or not a.size or _core.reduce(a, "count", None, 0.0, True) != 0:
        return False
    warnings.warn("All-NaN slice encountered", RuntimeWarning, stacklevel=5)
    return True


def _slice_size(a, axes):
    """How many elements each reduced slice holds (all of `a` for axes=None)."""
    return a.size if axes is None else math.prod(a.shape[ax] for ax in axes)


def _infinities_cancelled(a, axes, skipna, value):
    """NumPy's "invalid value encountered in reduce" (or FloatingPointError
    under errstate='raise') where a sum or mean is NaN from +inf and -inf
    meeting, not from a NaN in the data (one more pass, in this case only)."""
    total = _slice_size(a, axes)
    counts = np.asarray(_core.reduce(a, "count", axes, 0.0, True))
    if (np.isnan(value) & (counts == total if not skipna else counts > 0)).any():
        _fp_errors([("invalid", "invalid value encountered in reduce")])


def _infinities_in_spread(a, stat, axes, skipna):
    """NumPy's floating-point errors of a variance or ptp of data holding
    infinities, which its order of operations raises whatever the order of
    the values (one more pass for the counts and two for the extremes, in
    this case only): a variance of a slice holding +inf and -inf meets them
    in its mean's sum ("invalid value encountered in reduce"); one holding
    infinities of one sign gets an infinite mean and computes inf - inf
    ("... in subtract"); ptp subtracts an infinite min from the same max.
    Slices holding NaN (outside the nan-variants) are left out: there
    NumPy's warnings depend on where the NaN falls in its summation."""
    total = _slice_size(a, axes)
    counts = np.asarray(_core.reduce(a, "count", axes, 0.0, True))
    hi = np.asarray(_core.reduce(a, "max", axes, 0.0, True))
    lo = np.asarray(_core.reduce(a, "min", axes, 0.0, True))
    clean = counts > 0 if skipna else counts == total
    pos, neg = clean & (hi == np.inf), clean & (lo == -np.inf)
    events = []
    if stat == "ptp":
        if (clean & np.isinf(hi) & (hi == lo)).any():
            events.append(("invalid", "invalid value encountered in subtract"))
    else:
        if (pos & neg).any():
            events.append(("invalid", "invalid value encountered in reduce"))
        if (pos ^ neg).any():
            events.append(("invalid", "invalid value encountered in subtract"))
    _fp_errors(events)


def _division_by_no_freedom(a, axes, n, scalar):
    """np.var divides the sum of squared deviations by max(n - ddof, 0): by
    zero here, so NumPy's floating-point warning follows under the caller's
    np.errstate ("divide by zero" for a positive sum, "invalid value" for
    0/0, none for NaN; FloatingPointError under errstate='raise'). The
    same division on the same numerators gives exactly that. (The nan-
    variants divide under errstate('ignore'): no warning.)"""
    m2 = np.asarray(_core.reduce(a, "var", axes, 0.0, False)) * n  # (one more pass, in this case only)
    if scalar:
        np.float64(m2[()]) / np.float64(0.0)
    else:
        np.true_divide(m2, 0.0)


def _arg(stat, skipna=False):
    def impl(a, axis=None, out=None, *, keepdims=False):
        if not _eligible(a) or isinstance(axis, tuple):  # (a tuple: NumPy's TypeError)
            return FALLBACK
        if out is not None and getattr(out, "dtype", None) != np.intp:
            return FALLBACK  # NumPy wants an intp `out` exactly
        axes = _axes(axis, a.ndim)
        if axes is FALLBACK:
            return FALLBACK
        value = _core.reduce(a, stat, axes, 0.0, skipna)
        return _finish(a, value, np.dtype(np.intp), axes, keepdims, out)

    return impl


def _median(skipna):
    def impl(a, axis=None, out=None, overwrite_input=False, keepdims=False):
        # (bool data: NumPy's own answer, a TypeError for its subtraction)
        if axis is not None or out is not None or keepdims or not _eligible(a, "iuf"):
            return FALLBACK
        value, events = _core.median(a, skipna)
        if math.isnan(value) and a.dtype.kind == "f":
            _median_of_infinities(a, skipna)
        _fp_errors(events)  # (float16: NumPy's cast of its float32 mean)
        return (a.dtype if a.dtype.kind == "f" else np.dtype(np.float64)).type(value)

    return impl


def _median_of_infinities(a, skipna):
    """NumPy's warnings for a NaN median: "All-NaN slice encountered" for
    a nan-median of NaN only; "invalid value encountered in reduce" (the
    mean of the middle two values) where they are -inf and +inf, as a NaN
    median of data holding no NaN (or of the non-NaN values, for
    nanmedian) must have: one more pass for the count, in this case only.
    (A median of data holding NaN is NaN whatever its middle values:
    NumPy's warning there depends on where they fall; left out.)"""
    if skipna and _warn_all_nan(a):
        return
    count = _core.reduce(a, "count", None, 0.0, True)
    if count > 0 and (skipna or count == a.size):
        _fp_errors([("invalid", "invalid value encountered in reduce")])


def _quantile(skipna, percent):
    def impl(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False, *, weights=None, interpolation=None):
        if axis is not None or out is not None or keepdims or method != "linear" or weights is not None or interpolation is not None:
            return FALLBACK
        if not _eligible(a, "iuf"):  # bool: NumPy raises TypeError
            return FALLBACK
        # a Python number is "weak" (NEP 50); np.float64 (a float subclass) is not
        if percent:
            # np.percentile's own first steps: a Python int is weak too, and
            # q / 100 is float64 for integer q, so np.percentile(m, [1, 50,
            # 99]) runs here (it took NumPy's path: a sorted copy of the data)
            scalar = type(q) in (int, float)
            q = np.true_divide(q, 100, out=...)
        else:
            scalar = type(q) is float
        if not scalar and (np.ndim(q) == 0 or np.asarray(q).dtype != np.float64):
            # a NumPy scalar q takes part in NumPy's promotion, and so does
            # a float32 or float16 array q (float32 data and q give float32);
            # an integer q on integer data gives NumPy's exact integer result
            return FALLBACK
        qs = np.asarray(q, dtype=np.float64)
        if qs.ndim > 1 or not np.all((qs >= 0) & (qs <= 1)):
            return FALLBACK
        values, events = _core.quantile(a, qs.reshape(-1).tolist(), skipna, scalar)
        if skipna and a.size and (not values or math.isnan(values[0])) and _warn_all_nan(a):
            # NumPy's all-NaN answer keeps the data's dtype, whatever q's
            return np.full(qs.shape, np.nan, dtype=a.dtype)[()]
        _fp_errors(events)  # NumPy's, of its interpolation between neighbours
        if scalar:
            return (a.dtype if a.dtype.kind == "f" else np.dtype(np.float64)).type(values[0])
        return np.asarray(values, dtype=np.float64).reshape(qs.shape)

    return impl


def _histogram(a, bins=10, range=None, density=None, weights=None):
    # The engine bins as NumPy does: float16/float32 data in their own
    # type, float64 and integer data in float64; a range of Python numbers
    # as NumPy takes them (a NumPy scalar in the range changes the type
    # NumPy bins in: NumPy's own code takes those).
    if density or weights is not None or not _eligible(a) or a.dtype.kind not in "iuf":
        return FALLBACK
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        return FALLBACK
    floats = a.dtype.kind == "f"
    if range is not None:
        lo, hi = range
        if not all(type(x) in (int, float) for x in (lo, hi)):
            return FALLBACK
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi or not math.isfinite(float(hi) - float(lo)):
            return FALLBACK
        with np.errstate(over="ignore"):  # (a bound past float16's range: NumPy's code warns of it)
            inexact = any(isinstance(x, int) and (abs(x) >= 2**53 or floats and a.dtype.type(x) != x) for x in (lo, hi))
        if inexact:
            # NumPy compares the data with an integer bound exactly, the
            # engine in float64: the same where the bound is below 2^53
            # (int64 2^53 + 1 is 2^53 in float64) and in the data's float type
            return FALLBACK
        range = (float(lo), float(hi))
    try:
        counts, edges = _core.histogram(a, bins, range)
    except ValueError:
        return FALLBACK  # NumPy's own error (or, for a range that rounds far apart in the data's type, its IndexError)
    if not np.isfinite(edges).all():
        return FALLBACK  # a span that overflows the type, or NaN data: NumPy's error
    return counts.astype(np.intp), edges.astype(a.dtype if floats else np.float64)


def _python_scalar_fits(a, x):
    """Whether NumPy would compute `a <op>= x` in a's own type (NEP 50):
    a Python int on any numeric array (within range for integers), a
    Python float on a float array. A NumPy scalar is not "weak": np.float64
    (a float subclass) makes NumPy compute in float64 and cast the result
    back, which only a float64 array's own arithmetic equals."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return False
    if type(x) not in (int, float) and not (type(x) is np.float64 and a.dtype == np.float64):
        return False
    if a.dtype.kind == "f":
        try:
            float(x)
        except OverflowError:
            return False  # NumPy's own OverflowError
        return True
    if isinstance(x, float):
        return False
    info = np.iinfo(a.dtype)
    return info.min <= x <= info.max


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_NUMPY_DIR = os.path.dirname(os.path.abspath(np.__file__)) + os.sep

# NumPy operands that raise each (kind, operation) floating-point error
# alone, to run NumPy's own handler for the 'call', 'print' and 'log' modes:
# the ufunc on a one-element array, or its Python operator on NumPy scalars
# for NumPy's "scalar <operation>"s.
_PROVOKE = {
    ("over", "add"): (operator.add, 1e308, 1e308),
    ("invalid", "add"): (operator.add, np.inf, -np.inf),
    ("over", "subtract"): (operator.sub, 1e308, -1e308),
    ("invalid", "subtract"): (operator.sub, np.inf, np.inf),
    ("over", "multiply"): (operator.mul, 1e308, 10.0),
    ("under", "multiply"): (operator.mul, 1e-300, 1e-300),
    ("invalid", "multiply"): (operator.mul, np.inf, 0.0),
    ("divide", "divide"): (operator.truediv, 1.0, 0.0),
    ("over", "divide"): (operator.truediv, 1e308, 0.1),
    ("under", "divide"): (operator.truediv, 1e-300, 1e300),
    ("invalid", "divide"): (operator.truediv, 0.0, 0.0),
}
_PROVOKE_OTHER = {
    ("over", "cast"): lambda: np.array([1e300]).astype(np.float32),
    ("under", "cast"): lambda: np.array([1e-8], dtype=np.float32).astype(np.float16),
    ("invalid", "cast"): lambda: np.array([np.nan]).astype(np.int64),
    ("invalid", "reduce"): lambda: np.add.reduce(np.array([np.inf, -np.inf])),
}


def _provoke(key, operation):
    """Raises the floating-point error `key` in NumPy's `operation`, under
    the caller's np.errstate."""
    if (key, operation) in _PROVOKE_OTHER:
        return _PROVOKE_OTHER[key, operation]()
    scalar = operation.startswith("scalar ")
    op, x, y = _PROVOKE[key, operation.removeprefix("scalar ")]
    if scalar:
        op(np.float64(x), np.float64(y))
    else:
        op(np.array([x]), y)


# NumPy's floating-point status bits (NPY_FPE_*), as a 'call' handler gets them.
_STATUS_BITS = {"divide": 1, "over": 2, "under": 4, "invalid": 8}


def _user_stacklevel():
    """The `stacklevel` of the first caller outside mmarray and NumPy, for
    warnings.warn called by the caller of this function."""
    frame, level = sys._getframe(2), 2
    while frame is not None and frame.f_code.co_filename.startswith((_PACKAGE_DIR, _NUMPY_DIR)):
        frame, level = frame.f_back, level + 1
    return level


def _fp_errors(events):
    """NumPy's handling of the floating-point errors an engine computation
    raised, as its ufuncs handle theirs after their loop: `events` are
    (np.errstate key, message[, call]) in NumPy's order, each handled by the
    caller's np.geterr() mode for its kind: ignored, a RuntimeWarning at
    the caller's line, a FloatingPointError, or (modes 'call', 'print',
    'log') NumPy's own handler, run by the same error in a one-element
    ufunc call."""
    modes = np.geterr()
    # "<kind> encountered in <operation>", read once; an event without
    # its call's number (the reductions': one call each) is its own call
    events = [(e[0], e[1], *e[1].split(" encountered in ", 1), e[2] if len(e) > 2 else (e[1], i)) for i, e in enumerate(events)]
    # NumPy's status bits of each call (a 'call' handler gets them all)
    status = {}
    for key, _, _, _, call in events:
        status[call] = status.get(call, 0) | _STATUS_BITS[key]
    for key, message, kind, operation, call in events:
        mode = modes[key]
        if mode == "ignore":
            continue
        if mode == "warn":
            warnings.warn(message, RuntimeWarning, stacklevel=_user_stacklevel())
        elif mode == "raise":
            raise FloatingPointError(message)
        elif mode == "call":
            np.geterrcall()(kind, status[call])
        else:
            with np.errstate(all="ignore", **{key: mode}):
                _provoke(key, operation)


def _clip(a, a_min=_NO_VALUE, a_max=_NO_VALUE, out=None, *, min=_NO_VALUE, max=_NO_VALUE, **kwargs):
    lo = a_min if a_min is not _NO_VALUE else min
    hi = a_max if a_max is not _NO_VALUE else max
    if kwargs or out is not a or lo is _NO_VALUE or hi is _NO_VALUE or lo is None or hi is None:
        return FALLBACK
    if not (_eligible(a, "iuf") and a.flags.writeable and _python_scalar_fits(a, lo) and _python_scalar_fits(a, hi)):
        return FALLBACK
    _core.apply(a, [("clip", lo, hi)], _fp_errors)
    return a


def inplace(a, op, x):
    """`a op= x` by the engine, or FALLBACK."""
    if not (_eligible(a, "iuf") and a.flags.writeable and _python_scalar_fits(a, x)):
        return FALLBACK
    if op == "div" and a.dtype.kind != "f":
        return FALLBACK  # NumPy refuses to store a true division in integers
    _core.apply(a, [(op, x)], _fp_errors)
    return a


def _numpy_signature(func, impl):
    """`impl` called with the arguments bound as NumPy's `func` binds them
    (positionally or by name), so `np.var(m, 0, None, None, 1)` passes
    ddof=1, and anything `func` would refuse (an unknown keyword, `ddof` to
    `min`) goes to NumPy, which raises its own TypeError."""
    signature = inspect.signature(func)

    def call(*args, **kwargs):
        try:
            named = dict(signature.bind(*args, **kwargs).arguments)
        except TypeError:
            return FALLBACK
        extra = named.pop("kwargs", {})  # np.clip's **kwargs (ufunc keywords)
        # NumPy's own code passes np._NoValue for "not given" (nanargmax
        # calls np.argmax(..., keepdims=np._NoValue)): drop it, or it reads
        # as a true keepdims
        named = {k: v for k, v in named.items() if v is not _NO_VALUE}
        extra = {k: v for k, v in extra.items() if v is not _NO_VALUE}
        try:
            return impl(**named, **extra)
        except _core.InvalidBoolData:
            return FALLBACK  # bool bytes other than 0 and 1: NumPy reads them as true

    call.__name__ = getattr(func, "__name__", "impl")
    return call


HANDLED = {
    np.sum: _reduction("sum"),
    np.mean: _reduction("mean"),
    np.var: _reduction("var"),
    np.std: _reduction("std"),
    np.min: _reduction("min"),
    np.max: _reduction("max"),
    np.amin: _reduction("min"),
    np.amax: _reduction("max"),
    np.nansum: _reduction("sum", True),
    np.nanmean: _reduction("mean", True),
    np.nanvar: _reduction("var", True),
    np.nanstd: _reduction("std", True),
    np.nanmin: _reduction("min", True),
    np.nanmax: _reduction("max", True),
    np.argmin: _arg("argmin"),
    np.argmax: _arg("argmax"),
    np.nanargmin: _arg("argmin", True),
    np.nanargmax: _arg("argmax", True),
    np.median: _median(False),
    np.nanmedian: _median(True),
    np.quantile: _quantile(False, False),
    np.nanquantile: _quantile(True, False),
    np.percentile: _quantile(False, True),
    np.nanpercentile: _quantile(True, True),
    np.clip: _clip,
    np.ptp: _reduction("ptp"),
    np.histogram: _histogram,
}

HANDLED = {func: _numpy_signature(func, impl) for func, impl in HANDLED.items()}

# Which engine implementation serves each ndarray method.
METHODS = {"sum": np.sum, "mean": np.mean, "var": np.var, "std": np.std, "min": np.min, "max": np.max,
           "argmin": np.argmin, "argmax": np.argmax, "clip": np.clip}
