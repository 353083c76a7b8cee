"""NumPy's functions and methods on mmarray.memmap run the Rust engine and
give NumPy's results (values, dtypes, classes and shapes)."""

import itertools
import operator
import warnings

import numpy as np
import pytest

import mmarray
from mmarray import _engine

DTYPES = ["f4", "f8", "f2", "i2", "i4", "u1", "i8", "?"]
SHAPES = [(7,), (30, 40), (5, 6, 7)]
SLICES = {1: [np.s_[:], np.s_[::-2], np.s_[3:]], 2: [np.s_[:, :], np.s_[::3, 5:-5], np.s_[::-1, ::2]], 3: [np.s_[...], np.s_[1:, ::-2, 2:]]}


@pytest.fixture
def calls(monkeypatch):
    """Counts calls into the engine, to prove it ran."""
    counter = {"n": 0}
    for name in ["reduce", "quantile", "median", "apply"]:
        real = getattr(_engine._core, name)

        def spy(*args, _real=real, **kwargs):
            counter["n"] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(_engine._core, name, spy)
    return counter


def make(tmp_path, dtype, shape, nans=False):
    rng = np.random.default_rng(abs(hash((dtype, shape))) % 2**32)
    data = (rng.normal(size=shape) * 50).astype(dtype) if dtype != "?" else rng.random(shape) > 0.5
    if nans and np.dtype(dtype).kind == "f":
        data.reshape(-1)[::7] = np.nan
    m = mmarray.memmap(tmp_path / f"{dtype}-{len(shape)}.bin", dtype=dtype, mode="w+", shape=shape)
    m[...] = data
    return m, data


def same(got, want, dtype, exact=None):
    """`got` has the class, dtype and shape of NumPy's `want`, and the value
    of `exact` (NumPy's answer computed in float64, which the engine matches
    more closely than NumPy's float16/float32 accumulators) to within the
    rounding of the output type."""
    assert type(got) is type(want), (type(got), type(want))
    if isinstance(want, (np.ndarray, np.generic)):
        assert np.asarray(got).dtype == np.asarray(want).dtype, (np.asarray(got).dtype, np.asarray(want).dtype)
        assert np.shape(got) == np.shape(want)
    ref = want if exact is None else exact
    tol = {"f2": 1e-3, "f4": 1e-6}.get(dtype, 1e-9)
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), np.asarray(ref, dtype=np.float64), rtol=tol, atol=1e-9, equal_nan=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_reductions_equal_numpy(tmp_path, calls, dtype, shape):
    m, data = make(tmp_path, dtype, shape)
    funcs = [np.sum, np.mean, np.var, np.std, np.min, np.max]
    for sl in SLICES[len(shape)]:
        a, ref = m[sl], data[sl]
        for axis in [None, 0, -1] + ([(0, 1)] if len(shape) > 1 else []):
            for f, keepdims in itertools.product(funcs, [False, True]):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    want = f(ref, axis=axis, keepdims=keepdims)
                    exact = f(ref.astype(np.float64), axis=axis, keepdims=keepdims) if ref.dtype.kind == "f" else None
                same(f(a, axis=axis, keepdims=keepdims), want, dtype, exact)
            for ddof in [0, 1]:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    exact = ref.astype(np.float64).std(axis=axis, ddof=ddof) if ref.dtype.kind == "f" else None
                    same(a.std(axis=axis, ddof=ddof), ref.std(axis=axis, ddof=ddof), dtype, exact)
                same(np.var(a, axis=axis, ddof=ddof, dtype=np.float64), np.var(ref, axis=axis, ddof=ddof, dtype=np.float64), "f8")
            if not isinstance(axis, tuple):
                same(a.argmax(axis=axis), ref.argmax(axis=axis), dtype)
                same(np.argmin(a, axis=axis), np.argmin(ref, axis=axis), dtype)
        same(a.mean(), ref.mean(), dtype, ref.astype(np.float64).mean() if ref.dtype.kind == "f" else None)
    assert calls["n"] > 0


@pytest.mark.parametrize("dtype", ["f4", "f8"])
def test_nan_variants_equal_numpy(tmp_path, calls, dtype):
    m, data = make(tmp_path, dtype, (40, 30), nans=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for f in [np.nansum, np.nanmean, np.nanvar, np.nanstd, np.nanmin, np.nanmax, np.sum, np.mean, np.max]:
            for axis in [None, 0, 1]:
                same(f(m, axis=axis), f(data, axis=axis), dtype, f(data.astype(np.float64), axis=axis))
        for f in [np.nanargmin, np.nanargmax]:
            same(f(m), f(data), dtype)
        same(np.nanmedian(m), np.nanmedian(data), dtype)
        same(np.nanquantile(m, 0.3), np.nanquantile(data, 0.3), dtype)
    assert calls["n"] > 0


def test_variance_with_no_degrees_of_freedom_left(tmp_path, calls):
    # np.var divides by max(n - ddof, 0): inf for spread values, NaN for
    # equal ones; np.nanvar gives NaN either way; rolling as swv(...).var.
    from numpy.lib.stride_tricks import sliding_window_view as swv

    data = np.array([[1.0, 2.0, 4.0], [4.0, 4.0, 4.0], [1.0, np.nan, 3.0]])
    m = mmarray.memmap(tmp_path / "dof.bin", dtype="f8", mode="w+", shape=data.shape)
    m[...] = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for f in [np.var, np.std, np.nanvar, np.nanstd]:
            for ddof in [1, 2, 3, 4, 9]:
                for axis in [None, 1]:
                    np.testing.assert_array_equal(f(m, axis=axis, ddof=ddof), f(data, axis=axis, ddof=ddof), err_msg=f"{f.__name__} ddof={ddof} axis={axis}")
        y = np.array([1.0, 2.0, 4.0, 4.0, 4.0, 7.0])
        for ddof in [2, 3, 4]:
            np.testing.assert_allclose(mmarray.rolling_var(y, 3, ddof=ddof), swv(y, 3).var(axis=-1, ddof=ddof), rtol=1e-12)
            np.testing.assert_allclose(mmarray.rolling_std(y, 3, ddof=ddof), swv(y, 3).std(axis=-1, ddof=ddof), rtol=1e-12)
    assert calls["n"] > 0


def test_infinities_as_numpy(tmp_path, calls):
    # inf - inf is NaN: the variance of data holding an infinity is NaN
    # (never 0), and a mean or sum is inf, -inf or NaN as NumPy's.
    rng = np.random.default_rng(3)
    data = rng.normal(size=(50, 100))
    data.reshape(-1)[::97] = np.nan
    data[3, 17], data[40, 3] = np.inf, -np.inf
    cases = [data, np.where(data == -np.inf, 5.0, data), np.array([[1.0, np.inf, 4.0], [np.nan, np.inf, 4.0]]), np.array([[1.0, np.inf, -np.inf]])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k, x in enumerate(cases):
            m = mmarray.memmap(tmp_path / f"inf{k}.bin", dtype="f8", mode="w+", shape=x.shape)
            m[...] = x
            for f in [np.var, np.std, np.nanvar, np.nanstd, np.mean, np.nanmean, np.sum, np.nansum, np.min, np.nanmax]:
                for axis in [None, 0, 1]:
                    np.testing.assert_allclose(f(m, axis=axis), f(x, axis=axis), rtol=1e-9, atol=1e-12, err_msg=f"case {k} {f.__name__} axis={axis}")
    assert calls["n"] > 0


def test_warnings_as_numpy(tmp_path):
    # The RuntimeWarning NumPy's own reduction gives, from the engine too.
    data = np.array([[1.0, np.nan, 2.0], [np.nan, np.nan, np.nan]])
    m = mmarray.memmap(tmp_path / "w.bin", dtype="f8", mode="w+", shape=data.shape)
    m[...] = data
    for f, kwargs, message in [(np.var, {"ddof": 6}, "Degrees of freedom <= 0"), (np.std, {"axis": 1, "ddof": 3}, "Degrees of freedom <= 0"),
                               (np.nanvar, {"axis": 1, "ddof": 2}, "Degrees of freedom <= 0"), (np.nanmean, {"axis": 1}, "Mean of empty slice"),
                               (np.nanmin, {"axis": 1}, "All-NaN slice encountered"), (np.nanmax, {}, None)]:
        for arr in (data, m):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                f(arr, **kwargs)
            found = [str(w.message) for w in caught if w.category is RuntimeWarning and (message or "") in str(w.message)]
            assert bool(found) == (message is not None), (f.__name__, type(arr).__name__, [str(w.message) for w in caught])


@pytest.mark.parametrize("dtype", ["f4", "f8", "i4", "u1", "f2"])
def test_order_statistics_are_identical(tmp_path, calls, dtype):
    m, data = make(tmp_path, dtype, (101, 13))
    for a, ref in [(m, data), (m[::2, 3:], data[::2, 3:])]:
        assert np.median(a) == np.median(ref)
        assert type(np.median(a)) is type(np.median(ref))
        for q in [0.0, 0.25, 0.5, 0.9, 1.0]:
            got, want = np.quantile(a, q), np.quantile(ref, q)
            assert got == want and type(got) is type(want), (q, got, want)
        np.testing.assert_array_equal(np.quantile(a, [0.1, 0.5]), np.quantile(ref, [0.1, 0.5]))
        np.testing.assert_array_equal(np.percentile(a, [5, 95]), np.percentile(ref, [5, 95]))
    assert calls["n"] > 0


@pytest.mark.parametrize("q", [[1, 50, 99], 50, np.array([5, 95]), (0, 100), np.array([3, 97], dtype=np.uint8)])
@pytest.mark.parametrize("dtype", ["f4", "f2", "i2"])
def test_percentile_with_integer_q_runs_in_the_engine(tmp_path, calls, dtype, q):
    # np.percentile's q is most often integers: NumPy divides them by 100
    # into float64 first, and so does the engine's path (it used to leave
    # integer q to NumPy's, a sorted copy of the whole array)
    m, data = make(tmp_path, dtype, (301, 7))
    for f in (np.percentile, np.nanpercentile):
        before = calls["n"]
        got, want = f(m, q), f(data, q)
        assert calls["n"] > before, f"{f.__name__}({q!r}) did not run in the engine"
        assert type(got) is type(want) and np.asarray(got).dtype == np.asarray(want).dtype, (got, want)
        np.testing.assert_array_equal(got, want)


def test_out_and_dtype_arguments(tmp_path, calls):
    m, data = make(tmp_path, "f4", (20, 30))
    out = np.empty(30, dtype=np.float64)
    assert np.mean(m, axis=0, out=out) is out
    np.testing.assert_allclose(out, data.mean(axis=0, dtype=np.float64), rtol=1e-6)
    assert np.sum(m, dtype=np.float64).dtype == np.float64
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.mean(m, where=data > 0) == pytest.approx(np.mean(data, where=data > 0), rel=1e-6)  # NumPy's path
    with pytest.raises(np.exceptions.AxisError):
        np.sum(m, axis=5)


def test_inplace_arithmetic_matches_numpy(tmp_path, calls):
    for dtype, ops in [("f4", [("add", 1.5), ("mul", 3), ("div", 7), ("sub", 2)]), ("u1", [("add", 7), ("mul", 3), ("sub", 250)]), ("i2", [("mul", -3), ("add", 100)])]:
        m, data = make(tmp_path, dtype, (50, 20))
        ref = data.copy()
        region = np.s_[5:45:2, ::-1]
        for op, x in ops:
            r = m[region]
            if op == "add":
                r += x
                ref[region] += x
            elif op == "sub":
                r -= x
                ref[region] -= x
            elif op == "mul":
                r *= x
                ref[region] *= x
            else:
                r /= x
                ref[region] /= x
        np.testing.assert_array_equal(np.asarray(m), ref)
    assert calls["n"] > 0
    # what NumPy refuses, mmarray refuses the same way
    m, _ = make(tmp_path, "u1", (4,))
    with pytest.raises(OverflowError):
        m += 300
    with pytest.raises(np._core._exceptions._UFuncOutputCastingError):
        m *= 1.5


FP_CASES = [
    # (dtype, data, op, scalar): one or more floating-point errors each
    ("f8", [np.inf, 1.0], "*=", 0.0),
    ("f8", [1.0, 0.0, -2.0], "/=", 0.0),
    ("f8", [np.inf, 1.0], "-=", np.inf),
    ("f8", [1e300, 1.0], "*=", 1e10),
    ("f8", [1e-300, 3.0], "*=", 1e-20),
    ("f8", [2.0**-1022, 1.0], "*=", 0.5),  # exact: no underflow
    ("f4", [2.0, 1.0], "*=", 1e300),  # the scalar overflows float32
    ("f4", [0.0, 1.0], "*=", 1e300),
    ("f4", [1e30, 1.0], "*=", 1e10),
    ("f4", [1e-30, 1.0], "/=", 1e30),
    ("f2", [6e4, 1.0], "+=", 1e4),
    ("f2", [1e-7, 1.0], "*=", 0.01),
    ("f2", [np.nan, np.inf, 0.0], "/=", 0.0),
    ("f8", [np.nan, 1.0], "+=", 1.0),  # NaN in, NaN out: no error
    # clip(out=) casts each bound on its own: two warnings when both overflow
    ("f2", [0.0, 1.0], "clip", (70000, 70000)),
    ("f2", [0.0], "clip", (2147483647, 1e10)),
    ("f2", [0.0], "clip", (0, 70000)),
    ("f4", [1.0, np.inf], "clip", (-1e300, 1e300)),
]
IOPS = {"+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
        "clip": lambda a, bounds: np.clip(a, *bounds, out=a)}


def _run_recorded(arr, op, x, **errstate):
    with warnings.catch_warnings(record=True) as caught, np.errstate(**errstate):
        warnings.simplefilter("always")
        try:
            IOPS[op](arr, x)
            exc = None
        except FloatingPointError as e:
            exc = str(e)
    return [str(w.message) for w in caught], exc, [w.filename for w in caught]


@pytest.mark.parametrize("errstate", [{}, {"all": "warn"}, {"all": "raise"}, {"under": "raise", "invalid": "ignore"}])
@pytest.mark.parametrize("dtype, data, op, x", FP_CASES)
def test_inplace_floating_point_errors_as_numpy(tmp_path, calls, dtype, data, op, x, errstate):
    """`a op= x` through the engine reports NumPy's floating-point errors
    under the caller's np.errstate: the same warnings in the same order,
    pointing at the caller's line, or the same FloatingPointError, with the
    same data left in the file (NumPy computes, then raises; a scalar that
    overflows the array's type raises before computing)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want_data = np.array(data, dtype=dtype)
        m = mmarray.memmap(tmp_path / "m.bin", dtype=dtype, mode="w+", shape=(len(data),))
        m[:] = want_data
    want = _run_recorded(want_data, op, x, **errstate)
    got = _run_recorded(m, op, x, **errstate)
    assert calls["n"] > 0
    assert got[:2] == want[:2]
    assert all(f == __file__ for f in got[2]), got[2]
    np.testing.assert_array_equal(np.asarray(m), want_data)


def test_numpy_float64_scalars_compute_in_float64_as_numpy(tmp_path):
    """np.float64 is a float subclass but not a "weak" Python float: on a
    float16/float32 array NumPy computes in float64 and casts back (3 *
    1.0004 is 3.002 in float16, where the bound rounded to float16 first
    gives 3.0), and clip's np.float64 bounds are not cast to the array's
    type (no "overflow encountered in cast" for a bound not reached)."""
    for dtype in ("f2", "f4", "f8"):
        for op, x in [("*=", np.float64(1.0004)), ("+=", np.float64(1e-4)), ("/=", np.float64(0.9999)),
                      ("clip", (2147483647, np.float64(np.nan))), ("clip", (np.float64(2.0), np.float64(2.5)))]:
            results = []
            for arr in (np.array([3.0, 1.0], dtype=dtype), mmarray.memmap(tmp_path / "s.bin", dtype=dtype, mode="w+", shape=(2,))):
                arr[:] = [3.0, 1.0]
                messages = _run_recorded(arr, op, x, all="warn")[:2]
                results.append((np.asarray(arr).tobytes(), messages))
            assert results[1] == results[0], (dtype, op, x)


def test_scalars_past_128_bits_and_nan_signs_as_numpy(tmp_path):
    """A Python integer past 128 bits on a float array is the float NumPy
    makes of it (or NumPy's OverflowError past float64), and `x - nan` is
    NumPy's NaN, sign bit included."""
    for dtype in ("f2", "f4", "f8"):
        for x, op in [(2**200, operator.imul), (-(2**130), operator.iadd), (10**400, operator.imul), (float("nan"), operator.isub)]:
            m = mmarray.memmap(tmp_path / "m.bin", dtype=dtype, mode="w+", shape=(3,))
            m[:] = [1.0, -2.0, 0.0]
            a = np.array([1.0, -2.0, 0.0], dtype=dtype)
            outcomes = []
            for arr in (a, m):
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    try:
                        op(arr, x)
                        outcomes.append(None)
                    except Exception as e:  # noqa: BLE001 (compared with NumPy's)
                        outcomes.append(type(e))
            assert outcomes[0] == outcomes[1], (dtype, x, outcomes)
            assert np.asarray(m).tobytes() == a.tobytes(), (dtype, x, np.asarray(m), a)


def test_floating_point_error_callbacks_as_numpy(tmp_path):
    """np.errstate's 'call' and 'log' modes get NumPy's own calls."""
    m = mmarray.memmap(tmp_path / "m.bin", dtype="f4", mode="w+", shape=(3,))
    m[:] = [np.inf, 1.0, 0.0]
    a = np.array([np.inf, 1.0, 0.0], dtype="f4")
    for arr in (a, m):
        seen = []
        with np.errstate(all="call", call=lambda kind, flag: seen.append((kind, flag))):
            arr *= 0.0
            arr /= 0.0
        with np.errstate(all="ignore", invalid="call", call=lambda kind, flag: seen.append((kind, flag))):
            arr[:] = [0.0, 1.0, np.inf]
            arr /= 0.0  # the handler gets every status bit of the division (divide and invalid: 9)
        if arr is a:
            want = seen
    assert seen == want and want, (seen, want)

    class Log:
        def __init__(self):
            self.lines = []

        def write(self, msg):
            self.lines.append(msg)

    logs = []
    for arr in (np.array([1.0, 0.0]), mmarray.memmap(tmp_path / "n.bin", dtype="f8", mode="w+", shape=(2,))):
        arr[:] = [1.0, 0.0]
        log = Log()
        with np.errstate(all="log", call=log):
            arr /= 0.0
        logs.append(log.lines)
    assert logs[0] == logs[1] and logs[0], logs


SPREAD_DATA = [
    [[1, np.inf], [2, 3]], [[np.inf, -np.inf], [1, np.inf]], [[np.inf, np.nan], [np.inf, np.inf]],
    [[-np.inf, -np.inf], [np.nan, 1]], [[np.inf, -np.inf], [-np.inf, np.inf]], [[1, 2], [3, 4]], [[np.nan, np.inf], [-np.inf, 2]],
]
SPREAD_FUNCS = [np.var, np.std, np.nanvar, np.nanstd, np.ptp, np.median, np.nanmedian, np.mean, np.sum, np.nanmean, np.nansum]


def fp_errors_on_both(tmp_path, a, call, errstate):
    """`call` on the array `a` and on an mmarray.memmap of the same data,
    under `errstate`: for each, its floating-point warnings' messages and
    its value (type, dtype, bytes) or FloatingPointError message. The
    memmap's warnings must point at this file (the caller's line)."""
    m = mmarray.memmap(tmp_path / "fp.bin", dtype=a.dtype, mode="w+", shape=a.shape)
    m[...] = a
    results = []
    for x in (a, m):
        with warnings.catch_warnings(record=True) as caught, np.errstate(**errstate):
            warnings.simplefilter("always")
            try:
                r = call(x)
                value, exc = (type(r), np.asarray(r).dtype, np.asarray(r).tobytes()), None
            except FloatingPointError as e:
                value, exc = None, str(e)
        fp = [w for w in caught if "encountered in" in str(w.message)]
        results.append(([str(w.message) for w in fp], value, exc))
        if x is m:
            assert all(w.filename == __file__ for w in fp), [w.filename for w in fp]
    return results


@pytest.mark.parametrize("dtype", ["f8", "f4", "f2"])
def test_reduction_floating_point_errors_of_infinities_as_numpy(tmp_path, calls, dtype):
    """The floating-point errors NumPy's reductions raise on data holding
    infinities, whatever the order of the values ("invalid value
    encountered in reduce" where +inf and -inf meet in a sum or a mean,
    "... in subtract" for the inf - inf of a variance or ptp, a median
    between -inf and +inf): the same warnings, or FloatingPointError under
    np.errstate(all='raise'), at the caller's line."""
    compared = 0
    for data, func, axis, errstate in itertools.product(SPREAD_DATA, SPREAD_FUNCS, [None, 0, 1], [{}, {"all": "raise"}]):
        if func in (np.median, np.nanmedian) and axis is not None:
            continue  # (NumPy's own code runs there)
        results = fp_errors_on_both(tmp_path, np.array(data, dtype=dtype), lambda x: func(x, axis=axis), errstate)
        assert results[1] == results[0], (data, func.__name__, axis, errstate)
        compared += 1
    assert compared > 300 and calls["n"] > 0


#: data whose quantiles' neighbours are infinite, overflow the subtraction
#: b - a (float16, float32, float64, int8 and int64 extremes), underflow
#: its products (subnormal neighbours) or hold NaN
QUANTILE_FP_DATA = [
    ("f8", [np.inf, np.inf]), ("f8", [-np.inf, np.inf]), ("f4", [1, np.inf]), ("f2", [-np.inf, 1]), ("f8", [np.inf]),
    ("f2", [-6e4, 6e4]), ("f4", [-3e38, 3e38]), ("f8", [-1e308, 1e308]), ("f4", [1e-40, 3e-40]), ("f8", [1e-310, 3e-310]),
    ("f8", [np.inf, np.inf, np.nan]), ("f4", [1, np.inf, np.nan, np.nan]), ("f8", [1, 2, np.nan]), ("f8", [-np.inf, np.nan, np.inf]),
    ("i1", [-128, 127]), ("i8", [-2**63, 2**63 - 1]), ("u8", [0, 2**64 - 1]), ("f8", [1.0, 2.0, 3.0]),
]


@pytest.mark.parametrize("func", [np.quantile, np.nanquantile, np.percentile, np.nanpercentile])
def test_quantile_interpolation_floating_point_errors_as_numpy(tmp_path, calls, func):
    """NumPy's floating-point errors of the interpolation inside
    np.quantile/np.percentile (its `_lerp`: "invalid value encountered in
    scalar subtract" for inf - inf with a Python-float q, "... in subtract"
    with an array of q's, overflow of b - a, underflow of the products,
    integer overflow of b - a in scalar arithmetic), with neighbours
    counted among NaNs as NumPy counts them: the same warnings at the
    caller's line, or the same FloatingPointError, and the same values."""
    scale = 100 if "percentile" in func.__name__ else 1
    compared = 0
    for (dtype, data), q, errstate in itertools.product(
            QUANTILE_FP_DATA, [0.0, 0.25, 0.5, 0.75, 1.0, [0.25, 0.75], [1.0], [0.0, 0.9]],
            [{"all": "warn"}, {"all": "raise"}, {"under": "ignore", "over": "raise"}]):
        with np.errstate(all="ignore"):
            a = np.array(data, dtype=dtype)
        qq = np.array(q) * scale if isinstance(q, list) else q * scale
        results = fp_errors_on_both(tmp_path, a, lambda x: func(x, qq), errstate)
        assert results[1] == results[0], (dtype, data, func.__name__, q, errstate)
        compared += 1
    assert compared == len(QUANTILE_FP_DATA) * 8 * 3 and calls["n"] > 0


def test_quantile_and_median_errors_reach_numpys_handlers(tmp_path, calls):
    """np.seterrcall handlers ('call') get each NumPy call's own status bits
    (NumPy's _lerp makes two subtract and two multiply calls, which report
    apart), and 'log' writes NumPy's own lines, for the scalar operations
    of a Python-float q too; the median of float16 data underflows in
    NumPy's cast of its float32 mean ("underflow encountered in cast")."""
    class Log:
        def __init__(self):
            self.lines = []

        def write(self, msg):
            self.lines.append(msg)

    cases = [(d, np.quantile, q) for d in QUANTILE_FP_DATA for q in (0.0, 0.5, 0.75, 1.0, [0.0, 0.75], [0.25, 1.0])]
    cases += [(("f8", [np.inf, 1.7e308, -1.7e308]), np.nanquantile, [0.0, 0.75])]
    cases += [(("f2", d), f, None) for d in ([6e-8, 0.0], [6e-8, np.nan, -0.0], [6e-8, 6e-8], [-6e-8, 0.0, 1.0, 0.0])
              for f in (np.median, np.nanmedian)]
    compared = 0
    for (dtype, data), func, q in cases:
        with np.errstate(all="ignore"):
            a = np.array(data, dtype=dtype)
        m = mmarray.memmap(tmp_path / "h.bin", dtype=dtype, mode="w+", shape=a.shape)
        m[...] = a
        seen = []
        for x in (a, m):
            got, log = [], Log()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ('All-NaN slice' and the like)
                with np.errstate(all="call", call=lambda kind, bits: got.append((kind, bits))):
                    func(x) if q is None else func(x, q)
                with np.errstate(all="log", call=log):
                    func(x) if q is None else func(x, q)
            seen.append((got, log.lines))
        assert seen[1] == seen[0], (dtype, data, func.__name__, q)
        compared += bool(seen[0][0])
    assert compared > 50 and calls["n"] > 0


def test_quantile_of_float16_past_its_range_as_numpy(tmp_path):
    """NumPy casts q's gamma to float16 for a Python-float q; at q=1 that
    gamma is the length (`virtual index + 1`), which past 65504 values
    overflows float16 ("overflow encountered in cast") and makes the
    answer NaN. NumPy's answer, warnings included, is the spec here."""
    for q in (1.0, 0.99999, [1.0]):
        results = fp_errors_on_both(tmp_path, np.ones(70_000, dtype="f2"), lambda x: np.quantile(x, q), {"all": "warn"})
        assert results[1] == results[0] and (q != 1.0 or results[0][0]), q


def test_clip_in_place(tmp_path, calls):
    m, data = make(tmp_path, "u1", (60, 40))
    ref = data.copy()
    region = m[10:50, 5:35]
    np.clip(region, 20, 200, out=region)
    np.clip(ref[10:50, 5:35], 20, 200, out=ref[10:50, 5:35])
    np.testing.assert_array_equal(np.asarray(m), ref)
    # the image workload, as NumPy users write it
    r = m[0:30, 0:30]
    r[...] = np.clip(r * 1.5, 0, 255)
    rr = ref[0:30, 0:30]
    rr[...] = np.clip(rr * 1.5, 0, 255)
    np.testing.assert_array_equal(np.asarray(m), ref)
    assert calls["n"] > 0


def test_read_only_and_subclasses_keep_numpys_behaviour(tmp_path):
    m, data = make(tmp_path, "f8", (10,))
    m.flush()
    r = mmarray.memmap(m.filename, dtype="f8", mode="r", shape=(10,))
    with pytest.raises(ValueError, match="read-only"):
        r += 1
    assert r.sum() == pytest.approx(data.sum())


def test_ptp_and_histogram(tmp_path, calls):
    m, data = make(tmp_path, "f8", (300, 20))
    same(np.ptp(m), np.ptp(data), "f8")
    same(np.ptp(m, axis=0), np.ptp(data, axis=0), "f8")
    for bins, rng in [(10, None), (37, (-50.0, 80.0)), (5, (0, 0))]:
        c, e = np.histogram(m, bins, rng)
        c2, e2 = np.histogram(data, bins, rng)
        np.testing.assert_array_equal(c, c2)
        np.testing.assert_array_equal(e, e2)
        assert c.dtype == c2.dtype and e.dtype == e2.dtype
    mi, di = make(tmp_path, "i2", (100,))
    c, e = np.histogram(mi, 7)
    c2, e2 = np.histogram(di, 7)
    np.testing.assert_array_equal(c, c2)
    np.testing.assert_array_equal(e, e2)
    assert calls["n"] > 0
