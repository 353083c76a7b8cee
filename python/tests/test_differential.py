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
        if stat is None or want.exc is not None or not D.engine_eligible(pair.np):
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
        check(pair, call, reduction_expect(pair, func, Call(func, (), bogus)) if name not in ("clip",) else None)


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
        st.integers(0, 1).map(lambda x: x * int(scale)),
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
            # exact (bit-identical, README), sign of zero included
            check(pair, Call(func, tuple(args), kw), lambda want: Expect(exact=True, signed_zero=True), check_files=not overwrite)
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
    floats = [0.0, -0.0, 0.5, 1.5, -2.5, 1e308, 1e-320, 65504.0, 1e5, np.inf, -np.inf, np.nan, 3.0]
    others = [True, False, np.float32(1.5), np.float16(2.0), np.int8(-3), np.uint64(2**63), np.float64(np.nan), np.int64(5)]
    return st.sampled_from(ints + floats + others)


INPLACE = {"+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv}


@given(data=st.data())
@D.survey
def test_inplace_operators(data):
    count_example()
    with data.draw(D.pairs()) as pair:
        for _ in range(2):
            op = data.draw(st.sampled_from(sorted(INPLACE)))
            x = data.draw(scalars_for(pair.np.dtype))
            f = INPLACE[op]

            def run(arr, out=None, f=f, x=x):
                return f(arr, x)  # as `arr op= x`: returns what the name is rebound to

            call = Call(run, text=f"v {op} {D._r(x)}; print(v)")
            # bit-identical element-wise results, file contents after, and the identity of the result
            check(pair, call, lambda want: Expect(exact=True, signed_zero=True))


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
        check(pair, call, lambda want: Expect(exact=True, signed_zero=True))


# -------------------------------------------------------------------- mmarray's own functions


ROLLING = ["sum", "mean", "var", "std", "min", "max"]


def rolling_reference(stat, a, window, axis, ddof):
    """sliding_window_view(a, window, axis).<stat>(axis=-1), in float64
    (complex128 for complex data), with NumPy's errors."""
    x = a.astype(np.complex128 if a.dtype.kind == "c" else np.float64)
    w = swv(x, window, axis=axis)
    kw = {"ddof": ddof} if stat in ("var", "std") else {}
    if stat in ("min", "max") and w.size == 0:
        return np.zeros(w.shape[:-1])
    return getattr(w, stat)(axis=-1, **kw)


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
        f = getattr(mmarray, f"rolling_{stat}")
        repro = f"{pair.repro}\nmmarray.rolling_{stat}(v, {window!r}, axis={axis}, ddof={ddof!r})"
        if stat not in ("var", "std"):
            ddof_kw = {}
        else:
            ddof_kw = {"ddof": ddof}
        got = outcome(lambda: f(pair.mm, window, axis=axis, **ddof_kw))
        if isinstance(window, (int, np.integer)) and not isinstance(window, bool) and window == 0:
            # window 0 is not a window: ValueError (the project's rule; the
            # NumPy formulation would give NaN means of empty windows)
            want = Outcome(exc=ValueError("window 0"))
        else:
            want = outcome(lambda: rolling_reference(stat, np.asarray(pair.np), window, axis, ddof))
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
