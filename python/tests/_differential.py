"""The machinery of the differential harness (test_differential.py): the
same array in two files, one mapped by ``mmarray.memmap`` and one by
``numpy.memmap``, the same view of each, the same call on both, and a
comparison of everything NumPy's answer has: the exception type, the
result's class, dtype, shape and value, the RuntimeWarnings, and the file
contents afterwards.

Exactness (issue 10):

- order statistics (min, max, ptp, median, quantile, percentile and their
  nan-variants), arg-reductions, histograms, integer and bool results, the
  in-place operators and ``clip(out=)`` must be bit-identical to NumPy's
  (NaN where NumPy has NaN; the sign of zero too where the result is a
  deterministic element-wise or interpolation result);
- sums, means, variances and standard deviations of float data may differ
  by float64 reassociation error: |got - numpy| <= K * n * eps64 * scale,
  with ``scale`` the same reduction of |x| (see `reassociation_atol`);
- the documented improvement (README, "accumulation in f64"): the engine
  accumulates float16/float32 data (and ``dtype=float16/float32`` requests)
  in float64, where NumPy accumulates in the small type. Those results are
  compared with NumPy's answer on the float64 copy of the data, rounded to
  NumPy's result dtype (a result equal to NumPy's own is accepted too: that
  is the engine falling back to NumPy);
- a call the engine does not take (complex, long double, non-native byte
  order, unaligned data, ``where=``...) is NumPy's own code: exact.

Set MMARRAY_DIFF_LOG=path to record every mismatch as a JSON line and keep
going instead of failing (for surveying a long run).
"""

import atexit
import collections
import contextlib
import inspect
import json
import math
import os
import re
import resource
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field

import numpy as np
from hypothesis import note
from hypothesis import strategies as st

import mmarray

# ---------------------------------------------------------------- counting

#: per test: number of Hypothesis examples run, and of calls compared.
EXAMPLES = collections.Counter()
COMPARISONS = collections.Counter()


def _current_test():
    name = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]
    return name.rsplit("::", 1)[-1]


def count_example():
    EXAMPLES[_current_test()] += 1
    if sum(EXAMPLES.values()) % 1000 == 0:
        write_counts()  # (a long run that is stopped keeps its counts so far)


def write_counts():
    """The case counts, per test, to $MMARRAY_DIFF_COUNTS (JSON), if set."""
    path = os.environ.get("MMARRAY_DIFF_COUNTS")
    if not path:
        return
    from hypothesis import settings

    profile = settings.get_current_profile_name() if hasattr(settings, "get_current_profile_name") else settings._current_profile
    with open(path + ".tmp", "w") as f:
        json.dump({"profile": profile, "examples": dict(EXAMPLES), "comparisons": dict(COMPARISONS)}, f, indent=1, sort_keys=True)
    os.replace(path + ".tmp", path)


# ---------------------------------------------------------------- mismatches


class Mismatch(AssertionError):
    """mmarray differs from NumPy. Subclasses, raised from different lines,
    make Hypothesis report each kind of difference separately."""


class ExceptionMismatch(Mismatch):
    pass


class TypeMismatch(Mismatch):
    pass


class DtypeMismatch(Mismatch):
    pass


class ShapeMismatch(Mismatch):
    pass


class ValueMismatch(Mismatch):
    pass


class WarningMismatch(Mismatch):
    pass


class FileMismatch(Mismatch):
    pass


_LOG = os.environ.get("MMARRAY_DIFF_LOG")


_KINDS = {}


def _what(repro):
    """The function a repro calls (its last line, up to the parenthesis)."""
    line = repro.strip().splitlines()[-1]
    if line.startswith("mmarray "):  # the command line: its subcommand
        return " ".join(line.split()[:2])
    inplace = re.match(r"v (\S+=) ", line)
    return f"v {inplace.group(1)}" if inplace else re.split(r"[(;]", line)[0].strip()


def fail(kind, repro, message, detail=""):
    # One exception class per kind of mismatch, function and `detail` (the
    # exception types involved), so that Hypothesis reports each as its
    # own failure rather than the first one found hiding the others.
    key = (kind, _what(repro), detail)
    if key not in _KINDS:
        _KINDS[key] = type(f"{kind.__name__}[{key[1]}{': ' + detail if detail else ''}]", (kind,), {"__module__": __name__})
    kind = _KINDS[key]
    text = f"{repro}\n  {message}"
    if _LOG:
        with open(_LOG, "a") as f:
            f.write(json.dumps({"test": _current_test(), "kind": kind.__name__, "repro": repro, "message": message}) + "\n")
        raise _Logged()
    raise kind(text)


class _Logged(Exception):
    """Raised (and swallowed by `check` and `survey`) after logging in survey mode."""


def survey(test):
    """In survey mode (MMARRAY_DIFF_LOG), a logged mismatch ends the
    example quietly; otherwise this changes nothing."""
    import functools

    @functools.wraps(test)
    def run(*args, **kwargs):
        try:
            return test(*args, **kwargs)
        except _Logged:
            pass

    return run


# ---------------------------------------------------------------- dtypes and values

NATIVE_DTYPES = [np.dtype(c) for c in ["?", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8"]]
#: complex, long double (must fall back to NumPy), non-native byte order
OTHER_DTYPES = [np.dtype(c) for c in ["c8", "c16", "g", "G", ">f8", ">i4"]]
ALL_DTYPES = NATIVE_DTYPES + OTHER_DTYPES
REAL_DTYPES = [d for d in ALL_DTYPES if d.kind != "c"]


def _float_specials(dt):
    fi = np.finfo(dt if dt.char not in "gG" else np.float64)
    vals = [0.0, -0.0, np.inf, -np.inf, np.nan, float(fi.smallest_subnormal), -float(fi.smallest_subnormal), float(fi.tiny),
            float(fi.max), -float(fi.max), 1.0, -1.0, 0.5, 1.5, 2.0, float(fi.eps), 1.0 + float(fi.eps), 3.0]
    if fi.bits == 16:
        vals += [65504.0, 60000.0, -60000.0, 1e4, 2049.0]  # sums overflow float16
    if fi.bits == 32:
        vals += [3e38, 16777217.0]
    return vals


def specials(dt):
    """Adversarial values of dtype `dt`, as Python scalars."""
    if dt.kind == "b":
        return [False, True]
    if dt.kind in "iu":
        info = np.iinfo(dt)
        vals = [int(info.min), int(info.min) + 1, int(info.max), int(info.max) - 1, 0, 1, 2, 3]
        return vals + ([-1, -2] if dt.kind == "i" else [])
    if dt.kind == "f":
        return _float_specials(dt)
    comp = np.dtype("f4") if dt.itemsize == 8 else np.dtype("f8")
    re = _float_specials(comp)
    return [complex(r, i) for r in re for i in (0.0, -0.0, 1.0, np.nan, np.inf, -2.0)]


def _natural(dt):
    if dt.kind == "b":
        return st.booleans()
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return st.integers(int(info.min), int(info.max))
    if dt.kind == "f":
        width = {2: 16, 4: 32}.get(dt.itemsize, 64)
        return st.floats(width=width)
    width = 64 if dt.itemsize == 8 else 128
    return st.complex_numbers(width=width)


def elements(dt):
    ties = [v for v in [0, 1, 2, 3, -1, -2] if dt.kind != "u" or v >= 0]
    if dt.kind == "b":
        ties = [False, True]
    return st.one_of(st.sampled_from(specials(dt)), st.sampled_from(ties), _natural(dt))


@st.composite
def shapes(draw, max_dims=4, max_size=96, min_dims=0, max_side=6):
    ndim = draw(st.integers(min_dims, max_dims))
    out, size = [], 1
    for _ in range(ndim):
        side = draw(st.integers(0, max(0, min(max_side, max_size // max(size, 1)))))
        out.append(side)
        size *= max(side, 1)
    return tuple(out)


@st.composite
def arrays(draw, dt, shape):
    n = math.prod(shape)
    el = elements(dt)
    if n and draw(st.integers(0, 9)) == 0:
        values = [draw(el)] * n  # all equal
    else:
        values = draw(st.lists(el, min_size=n, max_size=n))
    native = dt.newbyteorder("=")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        arr = np.array(values, dtype=native).reshape(shape)
    return arr.astype(dt)


# ---------------------------------------------------------------- files and views

_WORKDIR = tempfile.mkdtemp(prefix="mmarray-diff-")
atexit.register(shutil.rmtree, _WORKDIR, True)
_serial = [0]


def _new_path():
    _serial[0] += 1
    return os.path.join(_WORKDIR, f"a{_serial[0]}.bin")


@dataclass
class Layout:
    """How the array under test sits in its file: the file's shape and
    order, a byte offset (1: unaligned), then a transpose and an index."""

    order: str = "C"
    offset: int = 0
    perm: tuple = None
    index: tuple = None

    def render(self, name):
        s = name
        if self.perm is not None:
            s += f".transpose({self.perm})"
        if self.index is not None:
            s += "[" + ", ".join(_render_index(i) for i in self.index) + "]"
        return s

    def apply(self, a):
        if self.perm is not None:
            a = a.transpose(self.perm)
        if self.index is not None:
            a = a[self.index]
        return a


def _render_index(i):
    if isinstance(i, slice):
        f = lambda x: "" if x is None else str(x)
        return f"{f(i.start)}:{f(i.stop)}" + (f":{i.step}" if i.step not in (None, 1) else "")
    return repr(i)


@st.composite
def layouts(draw, shape, allow_offset=True, allow_int_index=True):
    order = draw(st.sampled_from("CCF"))
    offset = draw(st.sampled_from([0, 0, 0, 1])) if allow_offset else 0
    perm = None
    if len(shape) > 1 and draw(st.booleans()):
        perm = tuple(draw(st.permutations(range(len(shape)))))
    index = None
    if shape and draw(st.integers(0, 2)):
        view_shape = [shape[p] for p in perm] if perm else list(shape)
        idx = []
        for n in view_shape:
            kind = draw(st.integers(0, 5))
            if kind == 0 and n and allow_int_index and len(view_shape) > 1:
                idx.append(draw(st.integers(-n, n - 1)))
            elif kind <= 2:
                idx.append(slice(None))
            else:
                step = draw(st.sampled_from([1, 2, 3, -1, -2, -3]))
                start = draw(st.none() | st.integers(-n - 1, n + 1))
                stop = draw(st.none() | st.integers(-n - 1, n + 1))
                idx.append(slice(start, stop, step))
        index = tuple(idx)
    return Layout(order, offset, perm, index)


class Pair:
    """The same data in two files: ``mm`` an mmarray.memmap view and ``np``
    the numpy.memmap view of the other file, built the same way."""

    def __init__(self, base, layout):
        self.base, self.layout = base, layout
        self.paths = [_new_path(), _new_path()]
        self.mm_base = mmarray.memmap(self.paths[0], dtype=base.dtype, mode="w+", shape=base.shape, order=layout.order, offset=layout.offset)
        self.np_base = np.memmap(self.paths[1], dtype=base.dtype, mode="w+", shape=base.shape, order=layout.order, offset=layout.offset)
        self.mm_base[...] = base
        self.np_base[...] = base
        self.mm = layout.apply(self.mm_base)
        self.np = layout.apply(self.np_base)
        assert type(self.mm) is mmarray.memmap or self.mm.ndim == 0 or not isinstance(self.mm, np.memmap), type(self.mm)
        self.repro = (f"base = np.array({base.tolist()!r}, dtype={base.dtype.str!r})  # shape {base.shape}\n"
                      f"m = mmarray.memmap(path, dtype={base.dtype.str!r}, mode='w+', shape={base.shape}, order={layout.order!r}, offset={layout.offset}); m[...] = base\n"
                      f"v = {layout.render('m')}  # shape {self.np.shape}, strides {self.np.strides}")
        try:
            note(self.repro)
        except Exception:  # not inside a Hypothesis test
            pass

    def __repr__(self):
        return f"Pair(dtype={self.base.dtype.str!r}, shape={self.base.shape}, {self.layout})"

    @property
    def ndim(self):
        return self.np.ndim

    def close(self):
        self.mm_base.close()
        del self.mm, self.np, self.mm_base, self.np_base
        for p in self.paths:
            try:
                os.remove(p)
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def reset(self):
        """Both files back to the original data (after a call that may
        write them, such as overwrite_input=True)."""
        self.mm_base[...] = self.base
        self.np_base[...] = self.base

    def check_files(self, repro, signed_zero=True):
        """Both files hold the same bytes' values (no write went astray)."""
        a, b = np.asarray(self.mm_base), np.asarray(self.np_base)
        if not _equal_exact(a, b, signed_zero):
            diff = np.argwhere(~_eq_mask(a, b)) if a.shape == b.shape else "shape"
            fail(FileMismatch, repro, f"file contents differ at {np.asarray(diff)[:5].tolist()}:\n  mmarray: {a.tolist()}\n  NumPy:   {b.tolist()}")


@st.composite
def pairs(draw, dtypes=ALL_DTYPES, max_dims=4, max_size=96, min_dims=0, allow_offset=True):
    dt = draw(st.sampled_from(dtypes))
    shape = draw(shapes(max_dims=max_dims, max_size=max_size, min_dims=min_dims))
    base = draw(arrays(dt, shape))
    layout = draw(layouts(shape, allow_offset=allow_offset))
    return Pair(base, layout)


# ---------------------------------------------------------------- running a call


class _Sentinel:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


ARR = _Sentinel("v")
OUT = _Sentinel("out")


@dataclass
class Call:
    """``func(ARR, *args, **kwargs)``, or ``ARR.<method>(*args, **kwargs)``
    when ``func`` is a string. ``OUT`` in the arguments is an output array
    shaped like NumPy's result."""

    func: object
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    text: str = None  # how to show it, if not as a call

    def render(self):
        if self.text:
            return self.text
        parts = [_r(a) for a in self.args] + [f"{k}={_r(v)}" for k, v in self.kwargs.items()]
        if isinstance(self.func, str):
            return f"v.{self.func}({', '.join(parts)})"
        return f"np.{self.func.__name__}({', '.join(['v'] + parts)})"

    def uses_out(self):
        return any(x is OUT for x in list(self.args) + list(self.kwargs.values()))

    def without_out(self):
        return Call(self.func, tuple(None if a is OUT else a for a in self.args), {k: v for k, v in self.kwargs.items() if v is not OUT}, self.text)

    def run(self, arr, out=None):
        sub = lambda x: arr if x is ARR else out if x is OUT else x
        args = [sub(a) for a in self.args]
        kwargs = {k: sub(v) for k, v in self.kwargs.items()}
        if isinstance(self.func, str):
            return getattr(arr, self.func)(*args, **kwargs)
        return self.func(arr, *args, **kwargs)


def _r(x):
    if isinstance(x, type) and issubclass(x, np.generic):
        return f"np.{x.__name__}"
    if isinstance(x, np.dtype):
        return repr(x.str)
    if isinstance(x, np.ndarray):
        return f"np.array({x.tolist()!r}, dtype={x.dtype.str!r})"
    if isinstance(x, np.generic) and not isinstance(x, np.ndarray):
        # (a NumPy scalar is not a Python number to NumPy's promotion)
        return f"np.{type(x).__name__}({_r(x.item())})"
    if isinstance(x, float) and not math.isfinite(x):
        return f"float({str(x)!r})"
    return repr(x)


@dataclass
class Outcome:
    value: object = None
    exc: BaseException = None
    warnings: frozenset = frozenset()
    messages: tuple = ()


def warning_kind(w):
    if not issubclass(w.category, RuntimeWarning):
        return None
    msg = str(w.message)
    # "overflow encountered in ..." is not compared (README: the engine
    # does not raise the warnings of NumPy's order of operations on the way,
    # an overflow of a partial sum among them); the floating-point warnings
    # the result shows ('invalid value', 'divide by zero') are
    for key, kind in [("Mean of empty slice", "empty"), ("Degrees of freedom", "dof"), ("All-NaN", "allnan"),
                      ("overflow encountered in", None), ("encountered in", "fpe"), ("imaginary part", "complex")]:
        if key in msg:
            return kind
    return f"other: {w.category.__name__}: {msg}"


#: headroom of address space each compared call gets (see `bounded_memory`)
CALL_HEADROOM = 4 << 30


@contextlib.contextmanager
def bounded_memory(headroom=CALL_HEADROOM):
    """Lowers the soft address-space limit to the current size plus
    `headroom` for the duration, so a call whose memory grows with a value
    rather than with the data (NumPy's ``histogram(a, "sturges",
    range=(-3, 3))`` on 1000 float16 values 6e-8 apart asks for ~1.1e9
    bins; the long profile was OOM-killed at 23 GiB on such a case) raises
    MemoryError, compared like any other exception, instead of taking the
    machine. A Rust allocation failure would abort instead: a crash the
    harness reports."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as f:
        size = int(f.read().split()[0]) * resource.getpagesize()
    bound = size + headroom
    if hard != resource.RLIM_INFINITY:
        bound = min(bound, hard)
    resource.setrlimit(resource.RLIMIT_AS, (bound, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def outcome(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with bounded_memory():
                value, exc = fn(), None
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # PanicException is a BaseException
            value, exc = None, e
    kinds = frozenset(k for k in map(warning_kind, caught) if k)
    return Outcome(value, exc, kinds, tuple(f"{w.category.__name__}: {w.message}" for w in caught))


def _desc(o):
    if o.exc is not None:
        return f"raised {type(o.exc).__module__}.{type(o.exc).__name__}: {o.exc}"
    v = o.value
    if isinstance(v, np.ndarray):
        return f"{type(v).__name__}({v.tolist()!r}, dtype={v.dtype.str}, shape={v.shape})"
    if isinstance(v, np.generic):
        return f"{type(v).__name__}({v.item()!r})"
    return repr(v)


# ---------------------------------------------------------------- comparing


def _is_nan_object(x):
    try:
        return x != x  # (NaN of any float type, in an object array)
    except Exception:
        return False


def _eq_mask(a, b):
    with np.errstate(invalid="ignore"):
        eq = a == b
        if a.dtype.kind in "fc" or b.dtype.kind in "fc":
            eq = eq | (np.isnan(a) & np.isnan(b))
        elif a.dtype.kind == "O" and b.dtype.kind == "O" and a.shape == b.shape:
            nan = np.frompyfunc(_is_nan_object, 1, 1)
            # (np.asarray: frompyfunc gives a plain bool for 0-d arrays)
            eq = np.asarray(eq, dtype=bool) | (np.asarray(nan(a), dtype=bool) & np.asarray(nan(b), dtype=bool))
    return eq


def _equal_exact(a, b, signed_zero=False):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if not np.all(_eq_mask(a, b)):
        return False
    if signed_zero and a.dtype.kind in "fc" and b.dtype.kind in "fc":
        for part in (np.real, np.imag) if a.dtype.kind == "c" else (np.real,):
            pa, pb = part(a), part(b)
            if np.any((pa == 0) & (np.signbit(pa) != np.signbit(pb))):
                return False
    return True


@dataclass
class Expect:
    """How to compare values: exactly, or within ``atol`` (an array
    broadcast over the result, NaN = not compared: see `reassociation_atol`)
    of NumPy's value or of ``ref`` (the float64 reference, already rounded
    to NumPy's result dtype)."""

    exact: bool = True
    signed_zero: bool = False
    atol: object = None
    ref: object = None
    # NumPy's floating-point-error warnings ("overflow/invalid value/divide
    # by zero encountered in ...") are not compared: the engine does not
    # raise them (a documented difference, README); its own RuntimeWarnings
    # ("Degrees of freedom <= 0", "Mean of empty slice", "All-NaN slice")
    # are compared always.
    fpe_warnings: bool = False
    # Compare NumPy's floating-point errors exactly: every "... encountered
    # in ..." warning, in order, overflow included, and the message of a
    # FloatingPointError (the in-place operators and clip, which report
    # them as NumPy's ufuncs do).
    fp_messages: bool = False


def compare(got, want, repro, expect=Expect(), identity=()):
    """Raise a `Mismatch` unless `got` (mmarray's Outcome) is NumPy's
    `want`. `identity` pairs (mm_obj, np_obj): where NumPy returned np_obj
    itself, mmarray must return mm_obj."""
    COMPARISONS[_current_test()] += 1
    if want.exc is not None:
        if got.exc is None:
            fail(ExceptionMismatch, repro, f"NumPy {_desc(want)}\n  mmarray returned {_desc(got)}", f"{type(want.exc).__name__} vs value")
        if not isinstance(got.exc, type(want.exc)):
            fail(ExceptionMismatch, repro, f"NumPy {_desc(want)}\n  mmarray {_desc(got)}", f"{type(want.exc).__name__} vs {type(got.exc).__name__}")
        if expect.fp_messages and isinstance(want.exc, FloatingPointError) and str(got.exc) != str(want.exc):
            fail(ExceptionMismatch, repro, f"NumPy {_desc(want)}\n  mmarray {_desc(got)}", "FloatingPointError message")
        _compare_fp_messages(got, want, repro, expect)
        return
    if got.exc is not None:
        fail(ExceptionMismatch, repro, f"NumPy returned {_desc(want)}\n  mmarray {_desc(got)}", f"value vs {type(got.exc).__name__}")
    _compare_value(got.value, want.value, repro, expect, identity, got, want)
    _compare_fp_messages(got, want, repro, expect)
    gk, wk = set(got.warnings), set(want.warnings)
    if not expect.fpe_warnings:
        gk.discard("fpe")
        wk.discard("fpe")
    if gk != wk:
        fail(WarningMismatch, repro, f"NumPy warned {sorted(wk)} {list(want.messages)}\n  mmarray warned {sorted(gk)} {list(got.messages)}")


def _fp_messages(o):
    return [m for m in o.messages if m.startswith("RuntimeWarning: ") and " encountered in " in m]


def _compare_fp_messages(got, want, repro, expect):
    if expect.fp_messages and _fp_messages(got) != _fp_messages(want):
        fail(WarningMismatch, repro, f"NumPy's floating-point warnings {_fp_messages(want)}\n  mmarray's {_fp_messages(got)}", "floating-point warnings")


def _compare_value(g, w, repro, expect, identity, got, want):
    for mm_obj, np_obj in identity:
        if w is np_obj:
            if g is not mm_obj:
                fail(TypeMismatch, repro, f"NumPy returned its argument/out itself; mmarray returned {_desc(got)}")
            g, w = np.asarray(g), np.asarray(w)
            break
    if isinstance(w, tuple):
        if not isinstance(g, tuple) or len(g) != len(w):
            fail(TypeMismatch, repro, f"NumPy returned {_desc(want)}\n  mmarray returned {_desc(got)}")
        refs = expect.ref if isinstance(expect.ref, tuple) else (None,) * len(w)
        for gi, wi, ri in zip(g, w, refs):
            e = Expect(expect.exact, expect.signed_zero, expect.atol, ri, expect.fpe_warnings, expect.fp_messages)
            _compare_value(gi, wi, repro, e, (), Outcome(gi), Outcome(wi))
        return
    tw = type(w)
    tg = type(g)
    if tw is np.memmap:
        tw = mmarray.memmap  # the drop-in's own class where numpy.memmap keeps its class
        if getattr(w, "_mmap", None) is None and tg is np.ndarray:
            # numpy.memmap hands out memmaps backed by no file from some
            # methods (v.argmin(keepdims=True)); mmarray.memmap returns
            # plain ndarrays for those (its __getitem__ rule): accepted.
            tw = np.ndarray
    if tg is not tw:
        fail(TypeMismatch, repro, f"NumPy returned {type(w).__name__}: {_desc(want)}\n  mmarray returned {tg.__name__}: {_desc(got)}")
    if not isinstance(w, (np.ndarray, np.generic)):
        if isinstance(w, (int, float, complex, bool)):
            g, w = np.asarray(g), np.asarray(w)
        else:
            if g != w:
                fail(ValueMismatch, repro, f"NumPy returned {_desc(want)}\n  mmarray returned {_desc(got)}")
            return
    ga, wa = np.asarray(g), np.asarray(w)
    if ga.dtype != wa.dtype:
        fail(DtypeMismatch, repro, f"NumPy's result has dtype {wa.dtype.str}: {_desc(want)}\n  mmarray's has {ga.dtype.str}: {_desc(got)}")
    if ga.shape != wa.shape:
        fail(ShapeMismatch, repro, f"NumPy's result has shape {wa.shape}: {_desc(want)}\n  mmarray's has {ga.shape}: {_desc(got)}")
    if _equal_exact(ga, wa, expect.signed_zero):
        return
    exact = expect.exact or wa.dtype.kind in "biuO" or wa.dtype.char in "gG"
    if not exact and _close(ga, wa, expect):
        return
    ref = "" if expect.ref is None else f"\n  float64 reference: {np.asarray(expect.ref).tolist()!r}"
    fail(ValueMismatch, repro, f"NumPy returned {_desc(want)}\n  mmarray returned {_desc(got)}{ref}")


def _close(g, w, expect):
    g = g.astype(np.complex128 if g.dtype.kind == "c" else np.float64)
    atol = np.broadcast_to(np.asarray(expect.atol if expect.atol is not None else 0.0, dtype=np.float64), g.shape)
    skip = np.isnan(atol)  # the reference overflowed: not compared
    targets = [w.astype(g.dtype)]
    if expect.ref is not None:
        targets.append(np.asarray(expect.ref).astype(g.dtype))
    ok = skip.copy()
    for t in targets:
        with np.errstate(invalid="ignore", over="ignore"):
            fin = np.isfinite(t) & np.isfinite(g)
            spacing = np.abs(np.spacing(np.abs(t).astype(w.dtype) if w.dtype.kind == "f" else t.real)).astype(np.float64)
            near = np.abs(g - t) <= np.where(fin, atol + 2 * spacing, 0)
            same_special = _eq_mask(g, t) & ~fin
        ok |= np.where(fin, near, same_special)
    return bool(np.all(ok))


# ---------------------------------------------------------------- reference values

EPS = np.finfo(np.float64).eps
K = 4  # multiples of n * eps the engine's order of summation may cost


def _f64(a):
    return np.asarray(a).astype(np.complex128 if np.asarray(a).dtype.kind == "c" else np.float64)


def reassociation_atol(stat, x, axis, keepdims, ddof, skipna):
    """Per-result bound on the difference that summing in another order
    makes, computed in float64 from |x|: K * n * eps * (sum |x| for sums,
    mean |x| for means, var + mean|x| * std + eps * mean|x|**2 scaled by
    n / (n - ddof) for variances, the square root of that for standard
    deviations). NaN where this scale overflows float64 while the data are
    finite: there the order of summation decides between inf, NaN and a
    finite value, and the value is not compared (documented difference)."""
    x = np.abs(_f64(x).real) if np.asarray(x).dtype.kind != "c" else np.abs(_f64(x))
    kw = dict(axis=axis, keepdims=keepdims)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        finite = np.all(np.isfinite(x) | (np.isnan(x) if skipna else False), **kw)
        try:
            n = x.size if axis is None else math.prod(x.shape[a] for a in (axis if isinstance(axis, tuple) else (axis,)))
        except IndexError:  # a 0-d array takes axis 0 and -1
            n = x.size
        n = max(n, 1)
        # the scale of the finite values: where it overflows, the order of
        # summation decides between inf, -inf and NaN even beside infinities
        # in the data (documented difference), so those are not compared
        xf = np.where(np.isfinite(x), x, 0.0)
        finite_scale = np.isfinite(np.sum(xf, **kw) * K * EPS * 4)
        summ = (np.nansum if skipna else np.sum)(x, **kw)
        mean = summ / n
        if stat == "sum":
            scale = summ
        elif stat == "mean":
            scale = mean
        else:
            v = (np.nanvar if skipna else np.var)(x, **kw)
            ddof = float(ddof) if isinstance(ddof, (int, float, np.number)) else 0.0
            scale = (v + mean * np.sqrt(v) + EPS * mean * mean) * n / max(n - ddof, 1e-300)
        atol = K * n * EPS * scale
        if stat == "std":
            atol = np.sqrt(atol) + K * n * EPS * np.sqrt(np.abs(v) * n / max(n - ddof, 1e-300))
        atol = np.where((np.isfinite(atol) | ~finite) & finite_scale, atol, np.nan)
    return np.asarray(atol)


# ---------------------------------------------------------------- the check


def engine_eligible(a):
    """Whether the engine may take this array at all (see _engine._eligible);
    otherwise every answer must be NumPy's own, exactly."""
    return (a.dtype.kind in "biuf" and a.dtype.char not in "gG" and a.dtype.isnative and a.flags.aligned and a.size > 0)


def check(pair, call, expect_fn=None, check_files=True, identity_arg=False, errstate=None):
    """Run `call` on both sides and compare; `expect_fn(want_outcome)` gives
    the `Expect` for NumPy's answer. `errstate`: np.errstate keywords both
    compared calls run under."""
    errstate = errstate or {}
    prefix = f"with np.errstate({', '.join(f'{k}={v!r}' for k, v in errstate.items())}): " if errstate else ""
    repro = f"{pair.repro}\n{prefix}{call.render()}"
    try:
        out_mm = out_np = None
        if call.uses_out():
            # (on a copy: a call with overwrite_input=True rewrites its
            # input, and the compared calls must both see the original)
            probe = outcome(lambda: call.without_out().run(np.array(pair.np)))
            if probe.exc is not None or not isinstance(probe.value, (np.ndarray, np.generic)):
                call = call.without_out()
            else:
                shape, dtype = np.shape(probe.value), np.asarray(probe.value).dtype
                out_np = np.zeros(shape, dtype)
                out_mm = np.zeros(shape, dtype)
                repro = f"{pair.repro}\nout = np.zeros({shape}, {dtype.str!r})\n{prefix}{call.render()}"

        def under_errstate(arr, out):
            with np.errstate(**errstate):
                return call.run(arr, out)

        want = outcome(lambda: under_errstate(pair.np, out_np))
        got = outcome(lambda: under_errstate(pair.mm, out_mm))
        expect = expect_fn(want) if expect_fn else Expect()
        identity = [(pair.mm, pair.np)]
        if out_np is not None:
            identity.append((out_mm, out_np))
        compare(got, want, repro, expect, identity)
        if out_np is not None and want.exc is None:
            got_o, want_o = Outcome(out_mm), Outcome(out_np)
            COMPARISONS[_current_test()] -= 1
            compare(got_o, want_o, repro + "  # the out array", expect, ())
        if check_files:
            pair.check_files(repro)
    except _Logged:
        pass


# ---------------------------------------------------------------- signatures


def positional_params(func):
    """NumPy's positional-or-keyword parameters after the array."""
    sig = inspect.signature(func)
    return [p.name for p in list(sig.parameters.values())[1:] if p.kind is p.POSITIONAL_OR_KEYWORD]


@st.composite
def spread_args(draw, func, kwargs):
    """Some leading NumPy arguments passed positionally, as users do
    (``np.var(a, 0, None, None, 1)``), the rest by keyword."""
    names = positional_params(func)
    defaults = {p.name: p.default for p in inspect.signature(func).parameters.values()}
    # the last named argument that must be positional
    last = max([i for i, n in enumerate(names) if n in kwargs], default=-1)
    npos = draw(st.integers(0, last + 1)) if draw(st.integers(0, 2)) == 0 else 0
    args = []
    rest = dict(kwargs)
    for name in names[:npos]:
        if name in rest:
            args.append(rest.pop(name))
        else:
            d = {"keepdims": False, "where": True}.get(name, defaults[name])
            if d is np._NoValue or d is inspect.Parameter.empty:
                rest = dict(kwargs)  # cannot spell this default: all by keyword
                return (), rest
            args.append(d)
    return tuple(args), rest
