"""Differential harness (issue 10): every NumPy function mmarray.memmap
routes to its engine, and mmarray's own array functions, against NumPy on
the same data, with generated dtypes, adversarial values, views and
arguments. See _differential.py for how answers are compared, and
conftest.py for the Hypothesis profiles (``ci`` by default; ``long``:
``scripts/test-long.sh``)."""

import inspect
import math
import operator
import pickle
import warnings

import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view as swv

import mmarray
from mmarray import _engine

import _differential as D
from _differential import ARR, OUT, Call, Expect, Outcome, Pair, check, compare, count_example, outcome

# -------------------------------------------------------------------- coverage of the routing table

REDUCTIONS = [np.sum, np.mean, np.var, np.std, np.min, np.max, np.amin, np.amax, np.nansum, np.nanmean,
              np.nanvar, np.nanstd, np.nanmin, np.nanmax, np.ptp]
ARG_REDUCTIONS = [np.argmin, np.argmax, np.nanargmin, np.nanargmax]
ORDER_STATISTICS = [np.median, np.nanmedian, np.quantile, np.nanquantile, np.percentile, np.nanpercentile]
#: np.clip is exercised by test_clip_out, np.histogram by test_histogram
COVERED = set(REDUCTIONS) | set(ARG_REDUCTIONS) | set(ORDER_STATISTICS) | {np.clip, np.histogram}
QUANTILE_METHODS = ["inverted_cdf", "averaged_inverted_cdf", "closest_observation", "interpolated_inverted_cdf", "hazen",
                    "weibull", "linear", "median_unbiased", "normal_unbiased", "lower", "higher", "midpoint", "nearest"]
#: the sums, means, variances and deviations, compared within reassociation error
REASSOC = {np.sum: "sum", np.nansum: "sum", np.mean: "mean", np.nanmean: "mean", np.var: "var", np.nanvar: "var",
           np.std: "std", np.nanstd: "std"}


def test_harness_covers_every_routed_function():
    assert set(_engine.HANDLED) <= COVERED, set(_engine.HANDLED) - COVERED
    assert set(_engine.METHODS.values()) <= COVERED


def test_a_call_whose_memory_grows_with_a_value_raises_memoryerror_not_the_oom_killer():
    # Found by the long profile (test_histogram, OOM-killed at 23 GiB):
    # NumPy's "sturges" bins on 1000 float16 values 6e-8 apart, over the
    # range (-3, 3), ask for ~1.1e9 bins (8.8 GB of float64 edges, before
    # NumPy finds them not finite in float16; with 6 values, 3.6e8 bins, it
    # gets that far and raises ValueError). Each compared call gets 4 GiB
    # of headroom.
    import resource

    before = resource.getrlimit(resource.RLIMIT_AS)
    a = np.array([0.0, 6e-8] * 500, dtype=np.float16)
    got = outcome(lambda: np.histogram(a, "sturges", range=(-3, 3)))
    assert isinstance(got.exc, MemoryError), got
    assert resource.getrlimit(resource.RLIMIT_AS) == before
    assert outcome(lambda: np.histogram(np.arange(1000.0), "sturges", range=(-3, 3))).exc is None


# -------------------------------------------------------------------- argument strategies


def axes(ndim):
    one = st.integers(-ndim - 1, ndim)
    return st.one_of(
        st.none(), one, one.map(np.int64),
        st.lists(one, max_size=ndim + 1).map(tuple),  # includes (), duplicates, out of range
        st.sampled_from([1.0, [0], "0"]),  # NumPy: TypeError
    )


def ddofs():
    return st.one_of(st.integers(-1, 8), st.sampled_from([0.5, 1.5, np.float64(2.0), np.int8(1)]))


def result_dtypes():
    return st.sampled_from([np.float64, np.float32, np.float16, "i8", "i4", "u1", "c16", "?", "g", np.object_])


def masks(shape):
    return st.lists(st.booleans(), min_size=math.prod(shape), max_size=math.prod(shape)).map(lambda v: np.array(v, dtype=bool).reshape(shape))


def numbers():
    return st.sampled_from([0, 1, -1, 5, 0.0, -0.0, 2.5, np.nan, np.inf, -np.inf, 2**63, -2**70, np.float32(1.5), np.int8(-3)])


@st.composite
def reduction_calls(draw, func, pair):
    name = func.__name__
    params = set(inspect.signature(func).parameters)
    kw = {}
    if draw(st.integers(0, 4)):
        kw["axis"] = draw(axes(pair.ndim))
    if "keepdims" in params and draw(st.booleans()):
        kw["keepdims"] = draw(st.booleans())
    if "ddof" in params and draw(st.integers(0, 2)):
        kw["ddof"] = draw(ddofs())
    if "dtype" in params and draw(st.integers(0, 5)) == 0:
        kw["dtype"] = draw(result_dtypes())
    if "initial" in params and draw(st.integers(0, 6)) == 0:
        kw["initial"] = draw(numbers())
    if "where" in params and draw(st.integers(0, 8)) == 0:
        kw["where"] = draw(st.one_of(st.just(np.True_), masks(pair.np.shape)))
    if "out" in params and draw(st.integers(0, 6)) == 0:
        kw["out"] = OUT
    if draw(st.integers(0, 3)) == 0 and name in _engine.METHODS:
        # the ndarray method, with NumPy's positional order
        args, rest = draw(D.spread_args(func, kw))
        return Call(name, args, rest)
    args, rest = draw(D.spread_args(func, kw))
    return Call(func, args, rest)


def bound_arguments(func, call):
    """NumPy's arguments of `call` by name (positional ones named)."""
    names = D.positional_params(func)
    out = dict(zip(names, call.args))
    out.update(call.kwargs)
    return out


def reduction_expect(pair, func, call):
    """Exact, except sums/means/variances of float results from the engine:
    reassociation error, and the float64 reference for float16/float32."""
    stat = REASSOC.get(func)
    args = bound_arguments(func, call)

    def expect(want):
        # (not only arrays the engine takes: NumPy's nan-functions and its
        # complex var/std call np.sum/np.mean on mmarray.memmap copies of
        # the data, which the engine takes, so a misaligned or complex array
        # can reach it too)
        if stat is None or want.exc is not None:
            return Expect(exact=True)
        rdtype = np.asarray(want.value).dtype
        if rdtype.kind != "f" or rdtype.char == "g" or "where" in args or "initial" in args:
            return Expect(exact=True)
        skipna = func.__name__.startswith("nan")
        axis, keepdims = args.get("axis"), bool(args.get("keepdims", False))
        ddof = args.get("ddof", 0)
        atol = D.reassociation_atol(stat, pair.np, axis, keepdims, ddof, skipna)
        # The documented improvement: float64 accumulation where NumPy
        # accumulates float16/float32 in their own type.
        small = pair.np.dtype.kind == "f" and pair.np.dtype.itemsize < 8 or rdtype.itemsize < 8
        ref = None
        if small:
            ref_args = {k: v for k, v in args.items() if k not in ("out",)}
            if "dtype" in ref_args:
                ref_args["dtype"] = np.float64
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                try:
                    ref = np.asarray(func(np.asarray(pair.np, dtype=np.float64), **ref_args)).astype(rdtype)
                except Exception:
                    ref = None
        overflowed = bool(np.isnan(atol).any())
        return Expect(exact=False, atol=atol, ref=ref, fpe_warnings=not small and not overflowed)

    return expect


# -------------------------------------------------------------------- reductions


@given(data=st.data())
@D.survey
def test_reductions(data):
    count_example()
    with data.draw(D.pairs()) as pair:
        for _ in range(3):
            func = data.draw(st.sampled_from(REDUCTIONS))
            call = data.draw(reduction_calls(func, pair))
            check(pair, call, reduction_expect(pair, func, call))


@given(data=st.data())
@D.survey
def test_arg_reductions(data):
    count_example()
    with data.draw(D.pairs()) as pair:
        for _ in range(3):
            func = data.draw(st.sampled_from(ARG_REDUCTIONS))
            kw = {}
            if data.draw(st.integers(0, 3)):
                kw["axis"] = data.draw(axes(pair.ndim))
            if data.draw(st.booleans()):
                kw["keepdims"] = data.draw(st.booleans())
            if data.draw(st.integers(0, 5)) == 0:
                kw["out"] = OUT
            if func.__name__ in _engine.METHODS and data.draw(st.booleans()):
                call = Call(func.__name__, (), kw)
            else:
                args = ()
                if "axis" in kw and data.draw(st.booleans()):
                    args = (kw.pop("axis"),)
                call = Call(func, args, kw)
            check(pair, call)


@given(data=st.data())
@D.survey
def test_methods_reject_what_numpy_rejects(data):
    # ndarray methods take NumPy's positional order and refuse keywords
    # NumPy refuses (np.min has no ddof, np.sum no ddof, ...).
    count_example()
    with data.draw(D.pairs(dtypes=D.NATIVE_DTYPES, max_dims=2)) as pair:
        name = data.draw(st.sampled_from(sorted(_engine.METHODS)))
        bogus = data.draw(st.sampled_from([{"ddof": 1}, {"dtype": np.float64}, {"initial": 0}, {"method": "linear"}, {"skipna": True}, {}]))
        args = tuple(data.draw(st.lists(st.sampled_from([None, 0, -1, True, False, 1]), max_size=5)))
        call = Call(name, args, bogus)
        func = _engine.METHODS[name]
        # (the expectation binds the positional arguments too: the method's
        # order is the function's after `a`; an axis or ddof given
        # positionally must reach the float64 reference)
        check(pair, call, reduction_expect(pair, func, Call(func, args, bogus)) if name not in ("clip",) else None)


# -------------------------------------------------------------------- order statistics


def quantile_qs(scale):
    q = st.one_of(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0, 0.1, 1 / 3, 0.999]), st.floats(0, 1))
    bad = st.sampled_from([-0.1, 1.5, np.nan, -0.0, 2])
    scalar = st.one_of(q, q, bad).map(lambda x: x * scale)
    return st.one_of(
        scalar,
        scalar.map(np.float64),
        st.lists(scalar, min_size=0, max_size=4),
        st.lists(scalar, min_size=1, max_size=4).map(lambda v: np.array(v).reshape(-1, 1) if len(v) % 2 == 0 else np.array(v)),
        st.just(np.array(0.5 * scale, dtype=np.float32)),
        # q arrays of a narrower float type take part in NumPy's promotion
        st.tuples(st.lists(scalar, min_size=1, max_size=3), st.sampled_from(["f4", "f2"])).map(lambda t: np.array(t[0], dtype=t[1])),
        st.integers(0, 1).map(lambda x: x * int(scale)),
        # integer q (np.percentile(a, [1, 50, 99])), some out of range
        st.lists(st.integers(-1, int(scale) + 1), min_size=1, max_size=4),
        st.lists(st.integers(0, int(scale)), min_size=1, max_size=3).map(np.array),
        st.integers(-1, int(scale) + 1),
    )


@given(data=st.data())
@D.survey
def test_order_statistics(data):
    count_example()
    with data.draw(D.pairs()) as pair:
        for _ in range(3):
            func = data.draw(st.sampled_from(ORDER_STATISTICS))
            kw = {}
            args = []
            if func.__name__.endswith(("quantile", "percentile")):
                args.append(data.draw(quantile_qs(100 if "percentile" in func.__name__ else 1)))
                if data.draw(st.integers(0, 2)):
                    kw["method"] = data.draw(st.sampled_from(QUANTILE_METHODS))
                if data.draw(st.integers(0, 12)) == 0 and pair.ndim == 1:
                    kw["method"] = "inverted_cdf"
                    kw["weights"] = np.ones(pair.np.shape)
            if data.draw(st.integers(0, 3)):
                kw["axis"] = data.draw(axes(pair.ndim))
            if data.draw(st.booleans()):
                kw["keepdims"] = data.draw(st.booleans())
            if data.draw(st.integers(0, 6)) == 0:
                kw["out"] = OUT
            overwrite = data.draw(st.integers(0, 8)) == 0
            if overwrite:
                kw["overwrite_input"] = True
            # exact (bit-identical, README), sign of zero included but for
            # an interpolation between tied zeros of both signs (NumPy's
            # sign depends on where its partition put each: README); the
            # floating-point errors of quantile's interpolation exactly,
            # under a random np.errstate
            ties = bool(np.any((pair.np == 0) & np.signbit(pair.np))) and bool(np.any((pair.np == 0) & ~np.signbit(pair.np))) if pair.np.dtype.kind == "f" else False
            interpolates = func.__name__.endswith(("quantile", "percentile"))
            expect = Expect(exact=True, signed_zero=not (interpolates and ties), fp_messages=interpolates)
            check(pair, Call(func, tuple(args), kw), lambda want: expect, check_files=not overwrite,
                  errstate=data.draw(ERRSTATES) if interpolates else None)
            if overwrite:
                pair.reset()  # NumPy may have reordered its input


@given(data=st.data())
@D.survey
def test_histogram(data):
    count_example()
    with data.draw(D.pairs(dtypes=D.REAL_DTYPES)) as pair:
        kw = {}
        if data.draw(st.integers(0, 3)):
            kw["bins"] = data.draw(st.one_of(
                st.integers(-1, 12), st.just(True),
                st.sampled_from(["auto", "fd", "doane", "scott", "stone", "rice", "sturges", "sqrt"]),
                st.lists(st.sampled_from([-np.inf, -3.0, -1.0, 0.0, 0.5, 1.0, 2.0, 3.0, 1e300, np.inf, np.nan]), min_size=1, max_size=5).map(sorted),
                st.lists(st.integers(-4, 4), min_size=0, max_size=4),  # maybe not increasing: ValueError
            ))
        if data.draw(st.integers(0, 2)) == 0:
            lo = data.draw(st.sampled_from([0, 0.0, -1.0, 1.0, -np.inf, np.nan, -1e308, -3, 2**63]))
            hi = data.draw(st.sampled_from([0, 1.0, 3.0, -1.0, np.inf, np.nan, 1e308, 2**64]))
            kw["range"] = (lo, hi)
        if data.draw(st.integers(0, 6)) == 0:
            kw["density"] = data.draw(st.booleans())
        check(pair, Call(np.histogram, (), kw), lambda want: Expect(exact=True))


# -------------------------------------------------------------------- in place


def scalars_for(dt):
    ints = [0, 1, -1, 2, 3, 7, 127, 128, 255, 256, -128, -129, 2**15, 2**31 - 1, 2**31, 2**32, 2**53 + 1,
            2**63 - 1, 2**63, 2**64 - 1, 2**64, -2**63, -2**63 - 1]
    if dt.kind in "iu":
        info = np.iinfo(dt)
        ints += [int(info.max), int(info.max) + 1, int(info.min), int(info.min) - 1]
    floats = [0.0, -0.0, 0.5, 1.5, -2.5, 1e308, 1e-320, 65504.0, 1e5, np.inf, -np.inf, np.nan, 3.0,
              1e-300, 1e-38, 1e38, 1e-6, 1e300]
    others = [True, False, np.float32(1.5), np.float16(2.0), np.int8(-3), np.uint64(2**63), np.float64(np.nan), np.int64(5),
              np.float64(1.0004), np.float64(1e10), np.float64(-0.3)]  # np.float64: computed in float64 (not weak)
    return st.sampled_from(ints + floats + others)


INPLACE = {"+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv}


#: Scalars that overflow, underflow, divide by zero or meet infinities.
FP_ERROR_SCALARS = [0.0, -0.0, np.inf, -np.inf, 1e300, 1e-300, 1e38, 1e-38, 65504.0, 1e-6, 1e-40]

#: np.errstate settings the in-place operators and clip run under: NumPy's
#: default, every kind raised, underflow reported, a mix.
ERRSTATES = st.sampled_from([
    {}, {"all": "raise"}, {"all": "warn"}, {"under": "warn"}, {"all": "ignore"},
    {"invalid": "raise", "over": "warn", "divide": "ignore", "under": "raise"},
])


@given(data=st.data())
@D.survey
def test_inplace_operators(data):
    count_example()
    with data.draw(D.pairs()) as pair:
        for _ in range(2):
            op = data.draw(st.sampled_from(sorted(INPLACE)))
            # (scalars that raise floating-point errors, often: the engine
            # must report them as NumPy does)
            x = data.draw(st.one_of(scalars_for(pair.np.dtype), st.sampled_from(FP_ERROR_SCALARS)))
            f = INPLACE[op]

            def run(arr, out=None, f=f, x=x):
                return f(arr, x)  # as `arr op= x`: returns what the name is rebound to

            call = Call(run, text=f"v {op} {D._r(x)}; print(v)")
            # bit-identical element-wise results, file contents after, the
            # identity of the result, and NumPy's floating-point errors
            # under the caller's np.errstate
            check(pair, call, lambda want: Expect(exact=True, signed_zero=True, fp_messages=True), errstate=data.draw(ERRSTATES))


@given(data=st.data())
@D.survey
def test_clip_out(data):
    count_example()
    with data.draw(D.pairs(dtypes=D.REAL_DTYPES)) as pair:
        bound = st.one_of(scalars_for(pair.np.dtype), st.none())
        lo, hi = data.draw(bound), data.draw(bound)
        form = data.draw(st.integers(0, 3))
        if form == 0:
            call = Call(np.clip, (lo, hi), {"out": ARR})
        elif form == 1:
            call = Call(np.clip, (), {"min": lo, "max": hi, "out": ARR})
        elif form == 2:
            call = Call("clip", (lo, hi), {"out": ARR})
        else:
            call = Call(np.clip, (lo, hi, ARR))
        check(pair, call, lambda want: Expect(exact=True, signed_zero=True, fp_messages=True), errstate=data.draw(ERRSTATES))


# -------------------------------------------------------------------- mmarray's own functions


ROLLING = ["sum", "mean", "var", "std", "min", "max"]


def rolling_dtype(dt):
    """The dtype of rolling statistics of `dt` data: NumPy's
    (`sliding_window_view(a, w).var(axis=-1)`) for float16 and float32
    data, of native byte order; float64 otherwise (documented: NumPy gives
    integer sums and min/max of integers, and long double, their own types)."""
    dt = np.dtype(dt)
    return np.dtype(dt.char) if dt.kind == "f" and dt.itemsize in (2, 4) else np.dtype(np.float64)


def rolling_reference(stat, a, window, axis, ddof, out=None):
    """sliding_window_view(a, window, axis).<stat>(axis=-1) computed in
    float64 (complex128 for complex data), with NumPy's errors, rounded
    once to `out` (default: `rolling_dtype(a.dtype)`)."""
    x = a.astype(np.complex128 if a.dtype.kind == "c" else np.float64)
    w = swv(x, window, axis=axis)
    kw = {"ddof": ddof} if stat in ("var", "std") else {}
    if stat in ("min", "max") and w.size == 0:
        r = np.zeros(w.shape[:-1])
    else:
        r = getattr(w, stat)(axis=-1, **kw)
    if a.dtype.kind == "c":
        return r
    with np.errstate(over="ignore"):
        return np.asarray(r).astype(rolling_dtype(a.dtype) if out is None else out)


@given(data=st.data())
@D.survey
def test_rolling(data):
    count_example()
    with data.draw(D.pairs(min_dims=1, max_dims=3)) as pair:
        stat = data.draw(st.sampled_from(ROLLING))
        ndim = pair.ndim
        axis = data.draw(st.integers(-ndim - 1, ndim)) if data.draw(st.booleans()) else 0
        n = pair.np.shape[axis] if -ndim <= axis < ndim else 3
        window = data.draw(st.one_of(st.integers(1, max(1, n)), st.sampled_from([0, n + 1, -1, 2.5, np.int64(2), 1])))
        ddof = data.draw(ddofs()) if stat in ("var", "std") and data.draw(st.booleans()) else 0
        # the result's dtype: NumPy's rule (None), or asked for (an integer
        # type is a TypeError: the engine writes floats)
        out = data.draw(st.sampled_from([None, None, None, np.float64, np.float32, np.float16, np.int32]))
        f = getattr(mmarray, f"rolling_{stat}")
        repro = f"{pair.repro}\nmmarray.rolling_{stat}(v, {window!r}, axis={axis}, ddof={ddof!r}, dtype={out})"
        if stat not in ("var", "std"):
            ddof_kw = {}
        else:
            ddof_kw = {"ddof": ddof}
        got = outcome(lambda: f(pair.mm, window, axis=axis, dtype=out, **ddof_kw))
        if isinstance(window, (int, np.integer)) and not isinstance(window, bool) and window == 0:
            # window 0 is not a window: ValueError (the project's rule; the
            # NumPy formulation would give NaN means of empty windows)
            want = Outcome(exc=ValueError("window 0"))
        else:
            want = outcome(lambda: rolling_reference(stat, np.asarray(pair.np), window, axis, ddof,
                                                     None if out is None or out is np.int32 else out))
            if isinstance(window, float) and not isinstance(want.exc, np.exceptions.AxisError):
                # a window must be an integer: TypeError (the project's rule,
                # checked after the axis as sliding_window_view does; NumPy's
                # formulation fails in various ways or truncates)
                want = Outcome(exc=TypeError("window 2.5"))
        if out is np.int32:
            want = Outcome(exc=TypeError("dtype int32"))  # checked first (the project's rule)
        if want.exc is not None and isinstance(want.exc, np.exceptions.AxisError):
            # the message names the axis the user gave
            compare(got, want, repro)
            if str(got.exc) != str(want.exc):
                D.fail(D.ExceptionMismatch, repro, f"NumPy: {want.exc}\n  mmarray: {got.exc}")
            return
        if pair.np.dtype.kind == "c" and got.exc is not None and isinstance(got.exc, (TypeError, ValueError)):
            return  # complex data refused: allowed (not silently made real)
        if want.exc is None:
            want = Outcome(want.value, None, frozenset())  # warnings of the formulation are not the contract
            got = Outcome(got.value, got.exc, frozenset(k for k in got.warnings if k != "fpe") - {"empty", "dof"}, got.messages)
            exact = stat in ("min", "max")
            atol = None
            if not exact:
                x = np.abs(np.asarray(pair.np).astype(np.complex128 if pair.np.dtype.kind == "c" else np.float64))
                with np.errstate(all="ignore"):
                    s = D.reassociation_atol("sum" if stat == "sum" else "mean" if stat == "mean" else stat,
                                             swv(x, window, axis=axis), -1, False, ddof, False)
                atol = s
            compare(got, want, repro, Expect(exact=exact, atol=atol, fpe_warnings=False))
        else:
            compare(got, want, repro)


def _stats_reference(a, ddof, skipna):
    x = np.asarray(a)
    xf = x.astype(np.complex128 if x.dtype.kind == "c" else np.float64)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        nan = np.isnan(xf)
        count = int(xf.size - nan.sum()) if skipna else int(xf.size)
        pick = (lambda f, g: g) if skipna else (lambda f, g: f)
        vals = {
            "count": count,
            "nan_count": int(nan.sum()),
            "sum": pick(np.sum, np.nansum)(xf),
            "mean": pick(np.mean, np.nanmean)(xf),
            "var": pick(np.var, np.nanvar)(xf, ddof=ddof),
            "std": pick(np.std, np.nanstd)(xf, ddof=ddof),
        }
        for k in ("min", "max"):
            try:
                vals[k] = pick(getattr(np, k), getattr(np, "nan" + k))(xf)
            except ValueError:
                vals[k] = np.nan  # empty: stats reports NaN (documented by its dict of floats)
    return vals


@given(data=st.data())
@D.survey
def test_stats_and_squares(data):
    count_example()
    with data.draw(D.pairs()) as pair:
        which = data.draw(st.sampled_from(["stats", "mean_of_squares", "sum_of_squares"]))
        x = np.asarray(pair.np)
        if which == "stats":
            ddof = data.draw(st.sampled_from([0, 1, 2, 5]))
            skipna = data.draw(st.booleans())
            repro = f"{pair.repro}\nmmarray.stats(v, ddof={ddof}, skipna={skipna})"
            got = outcome(lambda: mmarray.stats(pair.mm, ddof=ddof, skipna=skipna))
            if got.exc is not None and x.dtype.kind == "c" and isinstance(got.exc, (TypeError, ValueError)):
                return  # complex refused: allowed
            if got.exc is not None:
                compare(got, Outcome({}), repro)
            want = _stats_reference(x, ddof, skipna)
            for key, w in want.items():
                g = got.value.get(key)
                stat = {"sum": "sum", "mean": "mean", "var": "var", "std": "std"}.get(key)
                atol = D.reassociation_atol(stat, x, None, False, ddof, skipna) if stat else None
                w = np.asarray(w)
                if w.dtype.kind == "c":
                    w = w  # a complex answer must stay complex
                else:
                    w = np.float64(w) if key not in ("count", "nan_count") else int(w)
                gv = g if not isinstance(g, float) or np.asarray(w).dtype.kind != "c" else g
                compare(Outcome(np.asarray(gv)), Outcome(np.asarray(w)), f"{repro}  # [{key!r}]", Expect(exact=stat is None, atol=atol))
            return
        axis = data.draw(axes(pair.ndim)) if data.draw(st.booleans()) else None
        keepdims = data.draw(st.booleans())
        f = getattr(mmarray, which)
        repro = f"{pair.repro}\nmmarray.{which}(v, axis={axis!r}, keepdims={keepdims})"
        got = outcome(lambda: f(pair.mm, axis=axis, keepdims=keepdims))
        if x.dtype.kind == "c":
            if got.exc is not None and isinstance(got.exc, (TypeError, ValueError)):
                return
            xf = np.abs(x.astype(np.complex128)) ** 2  # |x|**2: the imaginary part counts
        else:
            xf = x.astype(np.float64)
            xf = np.multiply(xf, xf, out=np.empty_like(xf))  # an array, also when 0-d
        red = np.mean if which == "mean_of_squares" else np.sum
        want = outcome(lambda: red(xf, axis=axis, keepdims=keepdims))
        if x.size == 0:
            # documented: "of an empty array is undefined" -> ValueError
            want = Outcome(exc=ValueError("empty"))
        want = Outcome(want.value, want.exc, frozenset(k for k in want.warnings if k != "fpe"))
        got = Outcome(got.value, got.exc, frozenset(k for k in got.warnings if k != "fpe"), got.messages)
        atol = None
        if want.exc is None:
            atol = D.reassociation_atol("sum" if which == "sum_of_squares" else "mean", xf, axis, keepdims, 0, False)
        compare(got, want, repro, Expect(exact=False, atol=atol, fpe_warnings=False))


@given(data=st.data())
@D.survey
def test_asarray_and_pickle_of_views(data):
    count_example()
    with data.draw(D.pairs(allow_offset=False)) as pair:
        repro = f"{pair.repro}\nnp.asarray(v); pickle.loads(pickle.dumps(v))"
        a = outcome(lambda: np.asarray(pair.mm))
        compare(a, Outcome(np.asarray(pair.np)), repro, Expect(exact=True, signed_zero=True))
        if a.exc is None and type(a.value) is not np.ndarray:
            D.fail(D.TypeMismatch, repro, f"np.asarray gave {type(a.value)}")
        r = outcome(lambda: pickle.loads(pickle.dumps(pair.mm)))
        if r.exc is None and type(r.value) is mmarray.memmap:
            # by reference: the same view of the same file (dtype, shape,
            # values, and the strides of every axis longer than 1)
            compare(Outcome(np.asarray(r.value)), Outcome(np.asarray(pair.np)), repro, Expect(exact=True, signed_zero=True))
            strides = lambda a: [s for s, n in zip(a.strides, a.shape) if n > 1] if a.size else []
            if strides(r.value) != strides(pair.mm):
                D.fail(D.TypeMismatch, repro, f"unpickled strides {r.value.strides}, the view's {pair.mm.strides}")
        else:
            # by value: as numpy.memmap pickles
            want = outcome(lambda: pickle.loads(pickle.dumps(pair.np)))
            compare(r, want, repro, Expect(exact=True, signed_zero=True))


# -------------------------------------------------------------------- issue 10: found cases, kept as fixed examples
#
# Each is a minimal case the harness found (or the issue listed), run by
# the same comparison, so it fails until mmarray answers as NumPy does and
# whatever Hypothesis happens to draw.

def _case(values, dtype, call, layout=None):
    return (np.array(values, dtype=dtype), call, layout or D.Layout())


REGRESSIONS = {
    # quantiles: sign of zero taken for a tie, a panic, bool data
    "quantile-signed-zero": _case([0.0, -0.0, 1.0], "f8", Call(np.quantile, (0.25,))),
    "quantile-panic-signed-zero": _case([0.0, -0.0, 1.0], "f8", Call(np.quantile, (0.5,))),
    "quantile-bool": _case([True, False], "?", Call(np.quantile, (0.5,))),
    "percentile-bool": _case([True, False], "?", Call(np.percentile, (50,))),
    "nanquantile-bool": _case([True, False], "?", Call(np.nanquantile, (0.5,))),
    "median-negative-zero": _case([-0.0], "f8", Call(np.median)),
    "quantile-float32-q-scalar": _case([1, 2], "i8", Call(np.quantile, (np.float32(0.5),))),
    "quantile-float32-q-array": _case([1.0, 2.0, 3.0, 7.0], "f4", Call(np.quantile, (np.array([0.1, 0.9], dtype="f4"),))),
    "percentile-float16-q-array-int-data": _case([1, 2, 9], "u1", Call(np.percentile, (np.array([50.0], dtype="f2"),))),
    "quantile-float32-q-array-float64-data": _case([1.0, 2.0, 3.0, 7.0], "f8", Call(np.quantile, (np.array([0.1, 0.9], dtype="f4"),))),
    # all-NaN data: NumPy warns, and keeps the data's dtype for a list q
    "nanmedian-all-nan": _case([np.nan, np.nan], "f4", Call(np.nanmedian)),
    "nanquantile-all-nan-list-q": _case([np.nan], "f2", Call(np.nanquantile, ([0.1, 0.9],))),
    "nanpercentile-empty-q": _case([3, -1], "i8", Call(np.nanpercentile, ([],))),
    "nanquantile-all-nan-empty-q": _case([np.nan], "f4", Call(np.nanquantile, ([],))),
    "nanpercentile-all-nan": _case([np.nan] * 5, "f8", Call(np.nanpercentile, (50.0,))),
    # NumPy's median takes np.mean of the middle values, here a view of v
    "median-overwrite-input-out": _case([[np.nan, 0.178204753456251], [2.18312868735204, -0.17866300936309754]], "f8",
                                        Call(np.median, (), {"axis": 0, "overwrite_input": True, "out": OUT})),
    # arg-reductions: int64 values past 2**53 compared as float64
    "argmax-int64-extremes": _case([2**63 - 2, 2**63 - 1], "i8", Call(np.argmax)),
    "argmax-0d-keepdims": _case(1.0, "f8", Call(np.argmax, (), {"keepdims": True})),
    # long double must fall back to NumPy
    "sum-longdouble": _case([1, 2], "g", Call(np.sum)),
    "mean-longdouble": _case([1, 2], "g", Call("mean")),
    "median-longdouble": _case([1, 2], "g", Call(np.median)),
    "argmin-longdouble": _case([1, 2], "g", Call(np.argmin)),
    # arguments: positional forms, keywords NumPy refuses
    "var-positional-ddof": _case([[1.0, 2.0, 4.0], [3.0, 5.0, 9.0]], "f8", Call(np.var, (0, None, None, 1))),
    "var-method-positional-ddof": _case([[1.0, 2.0, 4.0], [3.0, 5.0, 9.0]], "f8", Call("var", (0, None, None, 1))),
    "amin-positional-initial": _case([[1.0, 2.0, 4.0], [3.0, 5.0, 9.0]], "f8", Call(np.amin, (0, None, False, 0.0))),
    "min-method-ddof": _case([1.0, 2.0], "f8", Call("min", (), {"ddof": 1})),
    # keepdims of a reduction is an integer to NumPy: None, 1.0, np.True_ are TypeErrors
    "min-method-positional-keepdims-none": _case([[1.0, 2.0], [3.0, 4.0]], "f8", Call("min", (0, None, None))),
    "nansum-positional-keepdims-none": _case([[1.0, 2.0], [3.0, 4.0]], "f8", Call(np.nansum, (0, None, None, None))),
    "mean-keepdims-numpy-bool": _case([1.0, 2.0], "f8", Call(np.mean, (), {"keepdims": np.True_})),
    "sum-method-keepdims-float": _case([1.0, 2.0], "f8", Call("sum", (), {"keepdims": 1.0})),
    "ptp-keepdims-none": _case([1.0, 2.0], "f8", Call(np.ptp, (), {"keepdims": None})),
    "nanvar-int-dtype": _case([1.0, 2.0], "f8", Call(np.nanvar, (), {"dtype": "i8"})),
    # in place: Python ints within uint64 but past int64
    "uint64-iadd-2**63": _case([1, 2], "u8", Call(operator.iadd, (2**63,), text="v += 2**63")),
    "uint64-imul-2**64-1": _case([3], "u8", Call(operator.imul, (2**64 - 1,), text="v *= 2**64 - 1")),
    "longdouble-idiv-2**63": _case([1.5], "g", Call(operator.itruediv, (2**63,), text="v /= 2**63")),
    # nanargmin/nanargmax read a NaN as +inf/-inf: a NaN before the first infinite extreme wins
    "nanargmin-nan-before-inf": _case([np.nan, np.inf, np.inf], "f8", Call(np.nanargmin)),
    "nanargmax-nan-before-minus-inf-axis": _case([[np.nan, 1.0], [-np.inf, np.nan], [-np.inf, 2.0]], "f4", Call(np.nanargmax, (0,))),
    "nanargmin-nan-before-inf-float16": _case([np.nan, np.inf], "f2", Call(np.nanargmin)),
    "nanargmax-int64-extremes": _case([2**63 - 2, 2**63 - 1], "i8", Call(np.nanargmax)),
    "argmax-tuple-axis": _case([1, 2], "u8", Call(np.argmax, ((0,),))),
    "clip-python-int-past-int64-on-float": _case([3.0], "f4", Call(np.clip, (2**63, 1e5), {"out": ARR})),
    # clip(out=) with a NaN bound: NumPy's result is NaN everywhere
    "clip-nan-bound": _case([0.5, 2.0, np.nan], "f8", Call(np.clip, (np.nan, 1), {"out": ARR})),
}


@pytest.mark.parametrize("name", sorted(REGRESSIONS))
def test_issue_10_found_cases(name):
    count_example()
    base, call, layout = REGRESSIONS[name]
    exact = lambda want: Expect(exact=True, signed_zero=True)
    with Pair(base, layout) as pair:
        if isinstance(call.func, type(operator.iadd)) and call.func in (operator.iadd, operator.imul, operator.itruediv):
            f, x = call.func, call.args[0]
            call = Call(lambda arr, out=None: f(arr, x), text=call.text)
        check(pair, call, exact)


def test_issue_10_rolling_arguments():
    count_example()
    b = np.zeros((3, 4))
    # a non-integer window is a TypeError, as in sliding_window_view
    with pytest.raises(TypeError):
        mmarray.rolling_mean(np.arange(5.0), 2.5)
    # a negative window is a ValueError, as in sliding_window_view (not OverflowError)
    with pytest.raises(ValueError):
        mmarray.rolling_sum(np.arange(5.0), -1)
    # an axis out of bounds is named as the user gave it
    with pytest.raises(np.exceptions.AxisError) as e:
        mmarray.rolling_std(b, 3, axis=-3)
    assert str(e.value) == "axis -3 is out of bounds for array of dimension 2"


def test_stats_ddof_as_numpy_takes_it():
    # found by a hostile review: ddof=nan gave var = std = inf (NumPy: nan),
    # and a string ddof was read with float()
    count_example()
    x = np.arange(10.0)
    s = mmarray.stats(x, ddof=np.nan)
    assert np.isnan(np.var(x, ddof=np.nan)) and np.isnan(s["var"]) and np.isnan(s["std"]), s
    assert np.isnan(mmarray.rolling_var(x, 3, ddof=np.nan)).all()
    assert mmarray.stats(x, ddof=np.int8(1))["var"] == np.var(x, ddof=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert mmarray.stats(x, ddof=20)["var"] == np.inf == np.var(x, ddof=20)
    for bad in ["1", b"1", True, None, 1j]:
        with pytest.raises(TypeError):
            mmarray.stats(x, ddof=bad)
        with pytest.raises(TypeError):
            mmarray.rolling_var(x, 3, ddof=bad)


def test_issue_10_empty_memmaps_do_not_panic(tmp_path):
    count_example()
    m = mmarray.memmap(tmp_path / "empty.f8", dtype="f8", mode="w+", shape=(0,))
    # a plain empty array gives ValueError; the empty memmap panicked
    with pytest.raises(ValueError):
        mmarray.rolling_sum(m, 1)
    s = outcome(lambda: mmarray.stats(m))
    assert s.exc is None, s.exc
    assert s.value["count"] == 0


def test_issue_10_rolling_accuracy():
    # a running sum loses the small values after a large one left the window
    count_example()
    y = np.array([1e17, 1.0, 2.0, 3.0])
    np.testing.assert_allclose(mmarray.rolling_mean(y, 2), swv(y, 2).mean(axis=-1), rtol=1e-12)
    np.testing.assert_allclose(mmarray.rolling_std(y, 2), swv(y, 2).std(axis=-1), rtol=1e-12)


def test_issue_14_long_series_match_numpy_windows():
    # Series long enough that the engine steps several runs of windows side
    # by side (SIMD lanes): NaN, infinities, spikes of 1e15 and flat
    # stretches among ordinary values; every 5th window and all those near
    # a special value against NumPy's own windows.
    count_example()
    rng = np.random.default_rng(14)
    n = 30_000
    x = 1e4 + rng.standard_normal(n) * 3.0
    at = rng.choice(n, 60, replace=False)
    x[at[:10]] = np.nan
    x[at[10:15]] = np.inf
    x[at[15:20]] = -np.inf
    x[at[20:40]] = 1e15
    x[at[40:]] = -3e12
    x[5000:7000] = 42.0
    for dtype in (np.float64, np.float32):
        a = x.astype(dtype)
        for w in (3, 200, 1500):
            m = n - w + 1
            near = np.concatenate([np.arange(max(0, i - w - 2), min(m, i + 3)) for i in at])
            idx = np.unique(np.concatenate([np.arange(0, m, 5), near[near < m], [m - 1]]))
            win = swv(a.astype(np.float64), w)[idx]
            finite = np.isfinite(win).all(axis=1)
            for stat in ("sum", "mean", "var", "std"):
                got = getattr(mmarray, f"rolling_{stat}")(a, w)
                assert got.dtype == dtype and got.shape == (m,)
                want = getattr(win, stat)(axis=-1)
                g = got[idx].astype(np.float64)
                # non-finite windows: NaN, inf, -inf exactly where NumPy has them
                np.testing.assert_array_equal(np.isnan(g[~finite]), np.isnan(want[~finite]), err_msg=f"{stat} w={w} {dtype}")
                np.testing.assert_array_equal(g[~finite][~np.isnan(g[~finite])], want[~finite][~np.isnan(want[~finite])])
                # finite ones: within NumPy's own rounding scale (and the
                # output type's)
                if stat in ("var", "std"):
                    scale = np.sqrt((win[finite] ** 2).mean(axis=1)) if stat == "std" else (win[finite] ** 2).mean(axis=1)
                else:
                    scale = np.abs(win[finite]).sum(axis=1) / (w if stat == "mean" else 1)
                tol = (1e-11 if dtype == np.float64 else 2 * np.finfo(np.float32).eps) * scale
                err = np.abs(g[finite] - want[finite])
                assert (err <= tol).all(), (stat, w, dtype, idx[finite][np.argmax(err - tol)], err.max())


def test_issue_10_complex_is_not_made_real():
    # complex data: the right complex answer, or an error; never the real part
    count_example()
    z = np.array([1 + 2j, 3 + 4j, 5 - 1j])
    for name, want in [("rolling_mean", swv(z, 2).mean(axis=-1)), ("rolling_sum", swv(z, 2).sum(axis=-1)),
                       ("rolling_var", swv(z, 2).var(axis=-1)), ("stats", None), ("mean_of_squares", np.mean(np.abs(z) ** 2))]:
        f = getattr(mmarray, name)
        got = outcome(lambda: f(z, 2) if name.startswith("rolling") else f(z))
        if got.exc is not None:
            assert isinstance(got.exc, (TypeError, ValueError)), (name, got.exc)
            continue
        assert "complex" not in got.warnings, (name, got.messages)
        if name == "stats":
            assert got.value["mean"] == np.mean(z), (name, got.value)
        else:
            np.testing.assert_allclose(got.value, want, rtol=1e-12, err_msg=name)


# -------------------------------------------------------------------- the command line
#
# The mmarray binary on the same .npy file as NumPy: `stats --json`,
# `show`, `apply`, `rolling -o`, each with a generated --slice. The binary is
# $MMARRAY_CLI, or target/{debug,release}/mmarray of this checkout
# (`cargo build -p mmarray-cli`); the tests skip without one.

import json as _json
import os
import pathlib
import re
import subprocess

_ROOT = pathlib.Path(__file__).resolve().parents[2]


def _cli_binary():
    env = os.environ.get("MMARRAY_CLI")
    if env:
        return env
    for profile in ("debug", "release"):
        p = _ROOT / "target" / profile / "mmarray"
        if p.exists():
            return str(p)
    return None


CLI = _cli_binary()
needs_cli = pytest.mark.skipif(CLI is None, reason="no mmarray binary: cargo build -p mmarray-cli, or set MMARRAY_CLI")
CLI_DTYPES = [d for d in D.ALL_DTYPES if d.char not in "gG"]


@st.composite
def index_exprs(draw, shape):
    """An index in NumPy's syntax, as text and as the Python index."""
    parts, index = [], []
    dims = list(shape)
    use_ellipsis = dims and draw(st.integers(0, 5)) == 0
    k = draw(st.integers(0, len(dims) + (1 if draw(st.integers(0, 9)) == 0 else 0)))  # sometimes one too many
    for i in range(k):
        n = dims[i] if i < len(dims) else 1
        if draw(st.integers(0, 3)) == 0:
            j = draw(st.integers(-n - 1, n))
            parts.append(str(j))
            index.append(j)
        else:
            start = draw(st.none() | st.integers(-n - 2, n + 2))
            stop = draw(st.none() | st.integers(-n - 2, n + 2))
            step = draw(st.none() | st.sampled_from([1, 2, 3, -1, -2, -3, 0]))
            f = lambda x: "" if x is None else str(x)
            parts.append(f"{f(start)}:{f(stop)}" + ("" if step is None else f":{step}"))
            index.append(slice(start, stop, step))
    if use_ellipsis:
        at = draw(st.integers(0, len(parts)))
        parts.insert(at, "...")
        index.insert(at, Ellipsis)
    return ", ".join(parts), tuple(index)


@st.composite
def cli_files(draw, dtypes=CLI_DTYPES, max_dims=3):
    dt = draw(st.sampled_from(dtypes))
    shape = draw(D.shapes(max_dims=max_dims, max_size=60))
    a = draw(D.arrays(dt, shape))
    if draw(st.integers(0, 3)) == 0:
        a = np.asfortranarray(a)
    path = D._new_path()[:-4] + ".npy"
    np.save(path, a)
    order = "np.asfortranarray" if a.flags.f_contiguous and not a.flags.c_contiguous else ""
    repro = f"np.save(path, {order}(np.array({a.tolist()!r}, dtype={a.dtype.str!r})))"
    note(repro)
    return path, np.load(path), repro


def _cli_error(errtext):
    """The gist of a CLI error, paths and numbers left out (for telling
    failures apart)."""
    return re.sub(r"[/'\"(\[][^ ]*|[0-9]+", "", errtext.replace("error:", "")).strip()[:40]


def run_cli(*args):
    p = subprocess.run([CLI, "--quiet", *map(str, args)], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def _numpy_index(a, index):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return a[index], None
        except (IndexError, ValueError, TypeError) as e:
            return None, e


def _jsonish(x):
    """NumPy's values as the CLI writes them in JSON: NaN and infinities as
    the strings "nan", "inf", "-inf"; integer and bool values exact, as
    Python's."""
    if np.asarray(x).dtype.kind in "biu":
        return np.asarray(x).reshape(-1).tolist()
    x = np.asarray(x, dtype=np.float64)
    return [float(v) if np.isfinite(v) else "nan" if np.isnan(v) else "inf" if v > 0 else "-inf" for v in x.reshape(-1)]


def _cli_compare(repro, got, want, atol=None, exact=False):
    """got: nested JSON lists/numbers (strings for non-finite); want: NumPy's values."""
    D.COMPARISONS[D._current_test()] += 1
    g = np.array(got, dtype=object).reshape(-1) if isinstance(got, list) else np.array([got], dtype=object)
    w = _jsonish(want)
    if len(g) != len(w):
        D.fail(D.ShapeMismatch, repro, f"NumPy: {np.asarray(want).tolist()}\n  CLI: {got}")
    atol = np.broadcast_to(np.asarray(0.0 if atol is None else atol, dtype=np.float64), np.shape(want)).reshape(-1)
    for gi, wi, ai in zip(g, w, atol):
        if isinstance(wi, str) or isinstance(gi, str) or gi is None:
            # non-finite: the same string (a NaN tolerance, where the
            # float64 reference may not show NumPy's overflow: not compared)
            if gi != wi and not np.isnan(ai):
                D.fail(D.ValueMismatch, repro, f"NumPy: {np.asarray(want).tolist()}\n  CLI: {got}")
            continue
        if exact or np.isnan(ai):
            if not exact:
                continue
            if (type(gi) is not type(wi) or gi != wi) if isinstance(wi, int) else float(gi) != wi:
                D.fail(D.ValueMismatch, repro, f"NumPy: {np.asarray(want).tolist()}\n  CLI: {got}")
        elif abs(float(gi) - wi) > ai + 2 * np.spacing(abs(wi)):
            D.fail(D.ValueMismatch, repro, f"NumPy: {np.asarray(want).tolist()}\n  CLI: {got}")


@needs_cli
@given(data=st.data())
@D.survey
def test_cli_stats(data):
    count_example()
    path, a, data_repro = data.draw(cli_files())
    text, index = data.draw(index_exprs(a.shape))
    args = ["stats", path, "--json"]
    if text or data.draw(st.booleans()):
        args += ["--slice", text]
    sel, err = _numpy_index(a, index)
    skipna = data.draw(st.booleans())
    if skipna:
        args.append("--skipna")
    ddof = data.draw(st.sampled_from([0, 0, 1, 2, 7]))
    if ddof:
        args += ["--ddof", ddof]
    axis = None
    if sel is not None and np.ndim(sel) and data.draw(st.integers(0, 2)) == 0:
        nd = np.ndim(sel)
        axis = tuple(data.draw(st.lists(st.integers(-nd, nd - 1), min_size=1, max_size=nd, unique_by=lambda x: x % nd)))
        args += ["--axis", ",".join(map(str, axis))]
    qs = data.draw(st.lists(st.sampled_from([0.0, 0.25, 0.5, 0.9, 1.0, 1 / 3]), max_size=3))
    if qs:
        args += ["--quantiles", ",".join(map(repr, qs))]
    repro = f"{data_repro}\n{' '.join(map(str, ['mmarray'] + args))}"
    rc, out, errtext = run_cli(*args)
    D.COMPARISONS[D._current_test()] += 1
    if err is not None or (sel is not None and np.asarray(sel).dtype.kind == "c"):
        # NumPy refuses the index; complex stats are documented as unsupported
        if rc != 1 or not errtext.startswith("error:"):
            D.fail(D.ExceptionMismatch, repro, f"NumPy: {err!r}; CLI exit {rc}: {out}{errtext}", "error vs success")
        return
    empty = np.size(sel) == 0 or (axis is not None and any(np.shape(sel)[ax] == 0 for ax in axis))
    if rc != 0 and empty and errtext.startswith("error:"):
        return  # NumPy's min/max/quantile of nothing raise too: an error is NumPy's answer
    if rc != 0:
        D.fail(D.ExceptionMismatch, repro, f"NumPy indexes to shape {np.shape(sel)}; CLI exit {rc}: {errtext}", _cli_error(errtext))
    got = _json.loads(out)
    x = np.asarray(sel).astype(np.float64)
    kw = dict(axis=axis)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        nan = np.isnan(x)
        count = np.sum(~nan, **kw) if skipna else (np.ones_like(x).sum(**kw))
        f = lambda name: getattr(np, ("nan" if skipna else "") + name)

        def safe(name, **k):
            try:
                return f(name)(x, **kw, **k)
            except ValueError:  # min/max of nothing: the CLI says "nan"
                return np.full(np.shape(count), np.nan)

        src = np.asarray(sel)

        def extreme(name):
            # integer and bool data: NumPy's exact min/max (int64 beyond
            # 2**53 too), printed as JSON integers and booleans
            if src.dtype.kind not in "biu":
                return safe(name)
            try:
                return f(name)(src, **kw)
            except ValueError:
                return np.full(np.shape(count), np.nan)

        want = {"count": count, "mean": safe("mean"), "var": safe("var", ddof=ddof), "std": safe("std", ddof=ddof),
                "min": extreme("min"), "max": extreme("max")}
    for key, w in want.items():
        stat = key if key in ("mean", "var", "std") else None
        atol = D.reassociation_atol(stat, src, axis, False, ddof, skipna) if stat else None
        _cli_compare(f"{repro}  # [{key!r}]", got.get(key), w, atol=atol, exact=stat is None)
    if qs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                # NumPy's own answer, in the data's type: b - a wraps for
                # integers and rounds to float32/float16 (the lerp is then
                # float64, as for any list of q); bool data, which NumPy
                # refuses, as 0/1
                src_q = src.astype(src.dtype.newbyteorder("=")) if src.dtype.kind != "b" else x
                wq = (np.nanquantile if skipna else np.quantile)(src_q, qs, axis=axis)
            except (ValueError, IndexError) as e:
                wq = None
        gq = got.get("quantiles")
        if wq is None or np.size(wq) == 0:
            return  # no quantile to compare (empty output cells)
        for i, q in enumerate(qs):
            _cli_compare(f"{repro}  # quantile {q}", gq[i]["value"] if gq else None, wq[i], exact=True)


@needs_cli
@given(data=st.data())
@D.survey
def test_cli_show(data):
    count_example()
    path, a, data_repro = data.draw(cli_files())
    text, index = data.draw(index_exprs(a.shape))
    args = ["show", path] + (["--slice", text] if text else [])
    repro = data_repro + "\n" + " ".join(["mmarray"] + args)
    sel, err = _numpy_index(a, index)
    rc, out, errtext = run_cli(*args)
    D.COMPARISONS[D._current_test()] += 1
    if err is not None:
        if rc != 1:
            D.fail(D.ExceptionMismatch, repro, f"NumPy: {err!r}; CLI exit {rc}: {out}{errtext}", "error vs success")
        return
    if rc != 0:
        D.fail(D.ExceptionMismatch, repro, f"NumPy indexes to {np.shape(sel)}; CLI exit {rc}: {errtext}", _cli_error(errtext))
    want = str(np.asarray(sel)) + "\n"  # print(a[index]): NumPy's str of the array
    if out != want:
        D.fail(D.ValueMismatch, repro, f"NumPy prints:\n{want}  CLI prints:\n{out}")


def _literal(draw, dt):
    v = draw(st.sampled_from([0, 1, 2, -1, 3, 100, 255, 256, -129, 2**31, 2**63, 0.5, 1.5, -2.5, 0.0, 1e308, float("inf"), float("nan"), 2.0]))
    return v


def _ieee_max(r):
    """`r.max()`, with IEEE 754's maximum for a zero max (0.0 if `r` holds
    one, else -0.0): `apply --normalize`'s documented rule, where NumPy's
    sign of a zero max depends on the order it met the zeros in."""
    m = r.max()
    if r.dtype.kind == "f" and m == 0:
        m = r.dtype.type(0.0 if np.any((r == 0) & ~np.signbit(r)) else -0.0)
    return m


@needs_cli
@given(data=st.data())
@D.survey
def test_cli_apply(data):
    count_example()
    path, a, data_repro = data.draw(cli_files())
    text, index = data.draw(index_exprs(a.shape))
    steps = []
    for _ in range(data.draw(st.integers(1, 3))):
        op = data.draw(st.sampled_from(["add", "sub", "mul", "div", "clip", "normalize"]))
        if op == "clip":
            steps.append((op, (_literal(data.draw, a.dtype), _literal(data.draw, a.dtype))))
        elif op == "normalize":
            steps.append((op, None))
        else:
            steps.append((op, _literal(data.draw, a.dtype)))
    lit = lambda v: repr(v) if not isinstance(v, float) or math.isfinite(v) else {"inf": "inf", "-inf": "-inf", "nan": "nan"}[str(v)]
    args = ["apply", path] + (["--slice", text] if text else [])
    for op, v in steps:
        args += [f"--{op}"] + ([] if v is None else [f"{lit(v[0])},{lit(v[1])}" if op == "clip" else lit(v)])
    repro = data_repro + "\n" + " ".join(map(str, ["mmarray"] + args))
    # NumPy: the steps in order on the region with Python scalars, cast back once
    b = a.copy()
    sel, err = _numpy_index(b, index)
    want_err = err
    if err is None and (b.dtype.kind in "bc"):
        want_err = TypeError(f"apply does not support {b.dtype}")  # documented: bool and complex data refused
    undefined = None
    if want_err is None:
        r = np.asarray(sel)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                for op, v in steps:
                    if op == "clip":
                        r = np.clip(r, v[0], v[1])
                    elif op == "normalize":
                        r = r / _ieee_max(r)
                    else:
                        r = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv}[op](r, v)
                # cast back once, as an array assignment (C casts, never
                # Python's OverflowError of a scalar assignment)
                view = b[index] if Ellipsis in index else b[index + (Ellipsis,)]
                np.copyto(view, r, casting="unsafe")
                if r.dtype.kind in "fc" and b.dtype.kind in "iu":
                    # a float result out of the integer range (or NaN) casts to
                    # an undefined integer (C's rule): not compared
                    # (compared in float64 exactly: int64's max is 2**63-1,
                    # which float64 rounds up to 2**63, an overflow)
                    info = np.iinfo(b.dtype)
                    t = np.trunc(np.real(r)).astype(np.float64)
                    bad = ~np.isfinite(r) | (t < float(info.min)) | (t >= float(info.max) + 1)
                    undefined = np.zeros(b.shape, bool)
                    undefined[index] = bad
            except (OverflowError, TypeError, ValueError) as e:
                want_err = e
    rc, out, errtext = run_cli(*args)
    D.COMPARISONS[D._current_test()] += 1
    after = np.load(path)
    if want_err is not None:
        if rc == 0:
            D.fail(D.ExceptionMismatch, repro, f"NumPy: {want_err!r}; CLI succeeded: {out}", f"{type(want_err).__name__} vs success")
        if not D._equal_exact(after, a, True):
            D.fail(D.FileMismatch, repro, f"the CLI failed ({errtext.strip()}) but changed the file:\n  before {a.tolist()}\n  after  {after.tolist()}")
        return
    if rc != 0:
        D.fail(D.ExceptionMismatch, repro, f"NumPy succeeded: {b.tolist()}\n  CLI exit {rc}: {errtext}", _cli_error(errtext))
    if undefined is not None:
        after, b = after.copy(), b.copy()
        after[undefined] = 0
        b[undefined] = 0
    if not D._equal_exact(after, b, True):
        D.fail(D.FileMismatch, repro, f"NumPy's file: {b.tolist()}\n  CLI's file:   {after.tolist()}")


@needs_cli
@given(data=st.data())
@D.survey
def test_cli_rolling(data):
    count_example()
    path, a, data_repro = data.draw(cli_files(max_dims=2))
    text, index = data.draw(index_exprs(a.shape))
    sel, err = _numpy_index(a, index)
    stat = data.draw(st.sampled_from(ROLLING))
    n = np.shape(sel)[0] if sel is not None and np.ndim(sel) else 1
    window = data.draw(st.one_of(st.integers(1, max(1, n)), st.sampled_from([0, n + 1])))
    ddof = data.draw(st.sampled_from([0, 1, 2])) if stat in ("var", "std") else 0
    float64 = data.draw(st.booleans())
    axis = None
    if sel is not None and np.ndim(sel) > 1:
        axis = data.draw(st.integers(-np.ndim(sel), np.ndim(sel) - 1))
    out_path = D._new_path()[:-4] + ".npy"
    args = ["rolling", path, "--window", window, "--stat", stat, "-o", out_path] + (["--slice", text] if text else [])
    if ddof:
        args += ["--ddof", ddof]
    if float64:
        args += ["--float64"]
    if axis is not None:
        args += ["--axis", axis]
    repro = data_repro + "\n" + " ".join(map(str, ["mmarray"] + args))
    want_err = err
    want = None
    if want_err is None:
        x = np.asarray(sel)
        if x.dtype.kind == "c" or x.ndim == 0 or window == 0:
            want_err = ValueError("complex, 0-d or window 0")  # refused (documented: a 1-D or N-d real input)
        else:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                try:
                    want = rolling_reference(stat, x, window, axis or 0, ddof, np.float64 if float64 else None)
                except (ValueError, TypeError) as e:
                    want_err = e
    rc, out, errtext = run_cli(*args)
    D.COMPARISONS[D._current_test()] += 1
    if want_err is not None:
        if rc == 0:
            D.fail(D.ExceptionMismatch, repro, f"NumPy: {want_err!r}; CLI succeeded: {out}", f"{type(want_err).__name__} vs success")
        return
    if rc != 0:
        D.fail(D.ExceptionMismatch, repro, f"NumPy: {want.tolist()}\n  CLI exit {rc}: {errtext}", _cli_error(errtext))
    got = np.load(out_path)
    os.remove(out_path)
    exact = stat in ("min", "max")
    atol = None
    if not exact:
        xa = np.abs(np.asarray(sel).astype(np.float64))
        atol = D.reassociation_atol(stat, swv(xa, window, axis=axis or 0), -1, False, ddof, False)
    compare(Outcome(got), Outcome(want), repro, Expect(exact=exact, atol=atol))
