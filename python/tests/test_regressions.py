"""Bugs found by users and by the differential harness (issue 10), each
compared with what real NumPy does on the same data."""

import errno
import os

import numpy as np
import pytest

import mmarray


@pytest.fixture
def mm(tmp_path):
    """mm(values, dtype): an mmarray.memmap of a new file holding `values`,
    and a plain ndarray copy for NumPy."""

    def make(values, dtype):
        ref = np.array(values, dtype=dtype)
        path = tmp_path / f"a{len(os.listdir(tmp_path))}.bin"
        m = mmarray.memmap(path, dtype=ref.dtype, mode="w+", shape=ref.shape)
        m[...] = ref
        return m, ref

    return make


def test_quantiles_with_signed_zeros(mm):
    # was 0.5 for q=0.25 and a PanicException for q=0.5
    m, ref = mm([0.0, -0.0, 1.0], "f8")
    for q in (0.0, 0.25, 0.5, 0.75, 1.0, [0.25, 0.5]):
        assert np.array_equal(np.quantile(m, q), np.quantile(ref, q))
    assert np.median(m) == np.median(ref)


def test_quantile_of_many_signed_zeros_finishes(mm):
    # above 2**20 values the bin search found no bin and looped forever
    vals = np.tile(np.array([-0.0, 0.0, 1.0, -0.0], dtype="f4"), 2**18 + 3)
    m, ref = mm(vals, "f4")
    assert np.quantile(m, 0.4) == np.quantile(ref, 0.4)
    assert np.median(m) == np.median(ref)


def test_order_statistics_of_int64_near_the_limits(mm):
    m, ref = mm([2**63 - 2, 2**63 - 1, -(2**63), -(2**63) + 1], "i8")
    assert np.argmax(m) == np.argmax(ref) == 1  # was 0: compared as float64
    assert np.argmin(m) == np.argmin(ref) == 2
    assert m.argmax() == 1
    assert np.quantile(m, 0.5) == np.quantile(ref, 0.5)
    u, uref = mm([2**64 - 1, 2**64 - 2], "u8")
    assert np.argmax(u) == np.argmax(uref) == 0
    assert np.argmin(u) == np.argmin(uref) == 1


@pytest.mark.parametrize("func", [np.quantile, np.percentile, np.nanquantile, np.nanpercentile])
def test_quantiles_of_bool_raise_as_numpy(mm, func):
    m, ref = mm([True, False, True], "?")
    with pytest.raises(TypeError) as want:
        func(ref, 0.5)
    with pytest.raises(TypeError) as got:
        func(m, 0.5)
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize("dtype", ["g", "G"])
def test_long_double_falls_back_to_numpy(mm, dtype):
    m, ref = mm([1.5, 2.5, -3.0], dtype)
    for func in (np.sum, np.mean, np.std, np.var, np.min, np.max, np.argmax, np.median):
        got, want = func(m), func(ref)
        assert got == want and np.asarray(got).dtype == np.asarray(want).dtype, func


def test_inplace_uint64_past_int64(mm):
    m, ref = mm([0, 1, 2], "u8")
    m += 2**63  # was ValueError
    ref += 2**63
    assert np.array_equal(m, ref) and m.dtype == ref.dtype
    i, iref = mm([0, 1], "i8")
    with pytest.raises(OverflowError):
        iref += 2**63
    with pytest.raises(OverflowError):
        i += 2**63
    assert np.array_equal(i, [0, 1])


@pytest.mark.parametrize("lo, hi", [(np.nan, 1.0), (0.0, np.nan), (2.0, 1.0)])
def test_clip_out_with_nan_or_crossed_bounds(mm, lo, hi):
    m, ref = mm([0.5, 2.0, -1.0, np.nan], "f8")
    with np.errstate(invalid="ignore"):
        np.clip(ref, lo, hi, out=ref)
        np.clip(m, lo, hi, out=m)
    assert np.array_equal(m, ref, equal_nan=True)


def test_rolling_and_stats_refuse_complex_and_bad_windows():
    c = np.array([1 + 2j, 3 + 4j, 5 + 6j])
    for f in (lambda: mmarray.rolling_mean(c, 2), lambda: mmarray.stats(c), lambda: mmarray.mean_of_squares(c)):
        with pytest.raises(TypeError, match="complex"):  # was: imaginary part silently dropped
            f()
    with pytest.raises(TypeError):
        mmarray.rolling_mean(np.arange(5.0), 2.5)  # was accepted as 2
    with pytest.raises(np.exceptions.AxisError, match="axis -3 is out of bounds for array of dimension 2"):
        mmarray.rolling_std(np.ones((3, 4)), 3, axis=-3)  # said "axis -1"
    with pytest.raises(np.exceptions.AxisError, match="axis 2 is out of bounds"):
        mmarray.rolling_std(np.ones((3, 4)), 3, axis=2)


def test_oserrors_carry_errno_and_filename(tmp_path):
    missing = tmp_path / "missing"
    with pytest.raises(FileNotFoundError) as e:
        mmarray.memmap(missing, mode="r")
    assert e.value.errno == errno.ENOENT and e.value.filename == str(missing)
    with pytest.raises(IsADirectoryError) as e:  # was a bare OSError
        mmarray.memmap(tmp_path, mode="r", shape=1)
    assert e.value.errno == errno.EISDIR and e.value.filename == str(tmp_path)


def test_bytes_paths_and_huge_offsets(tmp_path):
    p = tmp_path / "a.f8"
    np.arange(4.0).tofile(p)
    m = mmarray.memmap(os.fsencode(p), dtype="f8", mode="r")  # was TypeError
    assert np.array_equal(m, np.arange(4.0)) and m.filename == os.fsencode(p)
    with pytest.raises(OverflowError):  # said "negative dimensions are not allowed"
        mmarray.memmap(p, dtype="f8", mode="r", offset=2**64)
    with pytest.raises(ValueError, match="offset must be non-negative"):
        mmarray.memmap(p, dtype="f8", mode="r", offset=-8)


def test_load_with_allow_pickle_lifts_the_header_limit(tmp_path):
    p = tmp_path / "big_header.npy"
    dt = np.dtype([(f"field_{i:05d}", "<f8") for i in range(800)])  # a header over 10000 bytes
    np.save(p, np.zeros(3, dtype=dt))
    with pytest.raises(ValueError):
        np.load(p, mmap_mode="r")
    with pytest.raises(ValueError):
        mmarray.load(p, mmap_mode="r")
    want = np.load(p, mmap_mode="r", allow_pickle=True)
    got = mmarray.load(p, mmap_mode="r", allow_pickle=True)  # was refused
    assert got.dtype == want.dtype and got.shape == want.shape


@pytest.mark.parametrize("op, call", [
    ("reduce", lambda m: np.std(m)),
    ("quantile", lambda m: np.quantile(m, 0.5)),
    ("apply", lambda m: m.__iadd__(1.0)),
    ("memmap", lambda m: mmarray.memmap(m.filename, dtype="f8", mode="r")),
])
def test_a_panic_is_a_runtime_error_naming_the_operation(mm, monkeypatch, op, call):
    # MMARRAY_TEST_PANIC forces a panic inside the binding (debug builds,
    # which is what the test command builds); it must not cross into Python
    # as pyo3's PanicException (a BaseException).
    m, _ = mm([1.0, 2.0, 3.0], "f8")
    monkeypatch.setenv("MMARRAY_TEST_PANIC", op)
    with pytest.raises(RuntimeError, match=f"internal error in mmarray.{op}: forced by MMARRAY_TEST_PANIC"):
        call(m)
    monkeypatch.delenv("MMARRAY_TEST_PANIC")
    assert float(np.std(m)) == float(np.std([1.0, 2.0, 3.0]))


@pytest.mark.parametrize("mode", ["rw", "w", "write", "readwrite"])
def test_open_memmap_never_overwrites_for_an_odd_mode(tmp_path, mode):
    # 'rw', 'w', 'write' and 'readwrite' wiped an existing .npy ("w" in mode)
    p = tmp_path / "keep.npy"
    np.save(p, np.arange(5.0))
    before = p.read_bytes()
    if mode == "readwrite":  # the long name of r+, as for memmap
        m = mmarray.open_memmap(p, mode=mode)
        assert np.array_equal(m, np.arange(5.0)) and m.mode == "r+"
        del m
    else:
        with pytest.raises(ValueError, match="mode must be one of"):
            mmarray.open_memmap(p, mode=mode)
    assert p.read_bytes() == before


def test_quantiles_with_integer_q_and_infinities(mm):
    m, ref = mm([1, 2**63 - 1], "i8")
    for q in (1, [0, 1]):  # NumPy keeps integer results exact for integer q
        got, want = np.quantile(m, q), np.quantile(ref, q)
        assert np.array_equal(got, want) and np.asarray(got).dtype == np.asarray(want).dtype
    f, fref = mm([-np.inf, 1.0, 2.0], "f8")
    with __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("ignore")
        # NumPy: -inf for an integer q (exact), NaN for a float one (-inf + inf·0)
        assert np.quantile(f, 0) == np.quantile(fref, 0) == -np.inf  # was NaN
        assert np.isnan(np.quantile(f, 0.0)) and np.isnan(np.quantile(fref, 0.0))
        g, gref = mm([1.0, np.inf], "f8")
        assert np.array_equal(np.quantile(g, [0, 1]), np.quantile(gref, [0, 1]), equal_nan=True)


def test_out_and_ddof_that_numpy_refuses(mm):
    m, ref = mm(np.arange(12.0).reshape(4, 3), "f8")
    with pytest.raises(ValueError):  # was broadcast silently into every row
        np.sum(ref, axis=0, out=np.empty((5, 3)))
    with pytest.raises(ValueError):
        np.sum(m, axis=0, out=np.empty((5, 3)))
    with pytest.raises(TypeError):
        np.argmax(m, axis=0, out=np.empty(3))
    with pytest.raises(TypeError):
        np.sum(m, axis=True)
    with np.errstate(all="ignore"), __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("ignore")
        assert np.isnan(np.var(m, ddof=np.nan)) and np.isnan(np.var(ref, ddof=np.nan))


def test_histogram_whose_span_overflows_is_numpys_error(mm):
    m, ref = mm([-1.7e308, 1.7e308], "f8")
    with pytest.raises(Exception) as want:
        np.histogram(ref, 1)
    with pytest.raises(type(want.value)):  # was a NaN bin edge
        np.histogram(m, 1)


def _edge_neighbours(dtype, bins, rng_, seed_values):
    """Values on NumPy's bin edges for (bins, range) and 1-2 ulps either
    side, with some ordinary values: where binning in float64 instead of
    the data's type, or a fast path's rounding, puts a value one bin off."""
    x = np.asarray(seed_values, dtype=dtype)
    try:
        e = np.histogram_bin_edges(x, bins, rng_).astype(dtype)
    except ValueError:  # too many bins for the range, in this type
        return x
    up, down = np.nextafter(e, np.inf), np.nextafter(e, -np.inf)
    return np.concatenate([e, up, down, np.nextafter(up, np.inf), np.nextafter(down, -np.inf), x]).astype(dtype)


def _count_engine_histograms(monkeypatch):
    """{"n": how many histograms the engine has computed}, kept up to date."""
    from mmarray import _engine

    calls = {"n": 0}
    real = _engine._core.histogram

    def spy(*args):
        calls["n"] += 1
        return real(*args)

    monkeypatch.setattr(_engine._core, "histogram", spy)
    return calls


@pytest.mark.parametrize("dtype", ["f2", "f4", "f8", "i4", "u1", "i8", "i1", "i2", "u2"])
def test_histograms_are_numpys_bit_for_bit_in_the_engine(mm, monkeypatch, dtype):
    # NumPy bins float16/float32 data in their own type: the engine did in
    # float64 (a value within rounding of an edge fell in the next bin),
    # and left float16/float32 to NumPy's slower code. Now every dtype
    # runs in the engine, counts and edges (their dtype too) NumPy's.
    calls = _count_engine_histograms(monkeypatch)
    gen = np.random.default_rng(14)
    floats = np.dtype(dtype).kind == "f"
    cases = 0
    for bins in [1, 3, 10, 37, 100, 1000, 5000]:
        for rng_ in [None, (-7.3, 11.9), (-20, 30), (1e3, 1e3 + 2.5), (2.0, 2.0)]:
            scale = 40 if floats else 100
            seed = gen.normal(size=3000) * scale + (1e3 if rng_ and rng_[0] == 1e3 else 0)
            if not floats:
                seed = np.clip(np.round(seed), *(np.iinfo(dtype).min, np.iinfo(dtype).max))
            x = _edge_neighbours(dtype, bins, rng_, seed) if floats else seed.astype(dtype)
            m, ref = mm(x, dtype)
            before = calls["n"]
            try:
                c2, e2 = np.histogram(ref, bins, rng_)
            except ValueError as want:
                with pytest.raises(ValueError, match=str(want)):
                    np.histogram(m, bins, rng_)
                continue
            finally:
                cases += 1
            c, e = np.histogram(m, bins, rng_)
            assert calls["n"] == before + 1, (bins, rng_)
            np.testing.assert_array_equal(c, c2, err_msg=f"{dtype} bins={bins} range={rng_}")
            np.testing.assert_array_equal(e, e2)
            assert (c.dtype, e.dtype) == (c2.dtype, e2.dtype)
    assert cases == 35


def test_a_histogram_range_that_rounds_apart_is_numpys_error(mm):
    # float32 steps by 8 around 1e8: NumPy's own index of 1e8 + 8 is past
    # its edges (IndexError); the engine refuses the range and NumPy's code
    # gives its error
    m, ref = mm([1e8 - 8, 1e8 + 8], "f4")
    with pytest.raises(IndexError):
        np.histogram(ref, 2, (1e8 - 4.1, 1e8 + 4.1))
    with pytest.raises(IndexError):
        np.histogram(m, 2, (1e8 - 4.1, 1e8 + 4.1))


@pytest.mark.parametrize("dtype", ["i8", "u8"])
def test_a_histogram_of_int64_beyond_2_53_with_integer_bounds_is_numpys(mm, dtype):
    # NumPy compares int64 data with a Python int bound exactly; in float64
    # 2**53 + 1 is 2**53, which the engine counted (found by the review)
    m, ref = mm([2**53 + 1, 5, 2**53], dtype)
    for rng_ in [(0, 2**53), (0, 2.0**53), (0, 2**53 - 1)]:
        c, e = np.histogram(m, 1, rng_)
        c2, e2 = np.histogram(ref, 1, rng_)
        np.testing.assert_array_equal(c, c2, err_msg=str(rng_))
        np.testing.assert_array_equal(e, e2)
    if dtype == "i8":
        m, ref = mm([-(2**53) - 1, 5], dtype)
        np.testing.assert_array_equal(np.histogram(m, 2, (-(2**53), 10))[0], np.histogram(ref, 2, (-(2**53), 10))[0])


@pytest.mark.parametrize("dtype", ["f2", "f4", "f8"])
def test_in_place_arithmetic_and_clip_keep_nan_bits_as_numpy(mm, dtype):
    # float16 results lost NaN payloads (0x7e00 for every NaN), and clip
    # made every NaN +nan, where NumPy keeps sign and payload (its clip
    # leaves a NaN alone, a signalling one too)
    bits = {"f2": [0x7E01, 0xFD00, 0xFFFF, 0x7C01, 0x3C00],
            "f4": [0x7FC00001, 0xFFC12345, 0x7F800001, 0xFF800001, 0x3F800000],
            "f8": [0x7FF8000000000001, 0xFFF8000000012345, 0x7FF0000000000001, 0xFFF0000000000001, 0x3FF0000000000000]}[dtype]
    u = np.dtype(dtype.replace("f", "u"))
    for op in ["mul", "add", "div", "clip"]:
        m, ref = mm(np.array(bits, dtype=u).view(dtype), dtype)
        with np.errstate(invalid="ignore"):
            if op == "mul":
                m *= 1.5
                ref *= 1.5
            elif op == "add":
                m += 2
                ref += 2
            elif op == "div":
                m /= 3
                ref /= 3
            else:
                np.clip(m, -1, 1, out=m)
                np.clip(ref, -1, 1, out=ref)
        got, want = np.asarray(m).view(u), ref.view(u)
        # (a signalling NaN through arithmetic: NumPy's loops and x86 quiet
        # it alike; the float16 ones first convert to float32)
        assert [hex(v) for v in got] == [hex(v) for v in want], (dtype, op)


@pytest.mark.parametrize("dtype", ["f2", "f4", "f8"])
def test_a_sum_mean_or_variance_of_nan_data_is_the_datas_nan(mm, dtype):
    # NumPy carries the data's NaN through its sums: np.inf - np.inf is
    # -nan on x86, and np.sum, mean, var and std of data holding it are
    # -nan; the engine gave +nan (found by the review)
    u = np.dtype(dtype.replace("f", "u"))
    neg_nan = {"f2": 0xFE00, "f4": 0xFFC00000, "f8": 0xFFF8000000000000}[dtype]
    for bits in [neg_nan, neg_nan ^ (1 << (8 * u.itemsize - 1)) | 5]:
        values = np.arange(1, 5001, dtype=dtype)
        values.view(u)[3001] = bits
        m, ref = mm(values, dtype)
        for f in [np.sum, np.mean, np.var, np.std]:
            got, want = f(m), f(ref)
            assert got.dtype == want.dtype
            assert hex(np.asarray(got).view(u)) == hex(np.asarray(want).view(u)), (dtype, f.__name__, hex(bits))


def test_a_large_float32_histogram_is_numpys(mm):
    # 6 Mi values over many blocks and both threads, a third of them on an
    # edge or next to one: the fast pass's tolerance and its exact
    # fallbacks, at size
    gen = np.random.default_rng(3)
    seed = (gen.random(4 << 20) * 200 - 100).astype("f4")
    for bins, rng_ in [(100, None), (37, (-60.5, 80.25)), (4096, (-100, 100))]:
        x = _edge_neighbours("f4", bins, rng_, seed)
        x = np.concatenate([x, np.repeat(x[: bins + 1], 400)])  # runs on the edges
        m, ref = mm(x, "f4")
        c, e = np.histogram(m, bins, rng_)
        c2, e2 = np.histogram(ref, bins, rng_)
        np.testing.assert_array_equal(c, c2, err_msg=f"bins={bins} range={rng_}")
        np.testing.assert_array_equal(e, e2)


def test_histograms_of_small_types_counted_per_value_are_numpys(mm, monkeypatch):
    # float16 and 8-bit integers are counted per value (a table of 2^16
    # or 2^8 counts), each value binned once, the data's
    # range read from the table (where there are at least twice as many
    # values as keys): every float16 bit pattern (NaNs, both infinities,
    # subnormals, both zeros), every int8/uint16 value, runs
    calls = _count_engine_histograms(monkeypatch)
    every = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    finite = every[np.isfinite(every)]
    small = finite[np.abs(finite) < 1000]
    gen = np.random.default_rng(16)
    cases = [
        (np.tile(every, 2), "f2", [(7, (-3.5, 1e4)), (100, (-30000.0, 30000.0)), (1, (0.0, 0.0))]),
        (every[:1000], "f2", [(7, (-3.5, 1e4))]),  # fewer values than keys: binned one by one
        (np.concatenate([finite, np.repeat(finite[:50], 3000)]), "f2", [(10, None), (33, (-1.5, 2.25))]),
        (np.concatenate([small, np.repeat(small[-50:], 3000)]), "f2", [(10, None), (1000, None), (33, (-1.5, 2.25))]),
        (gen.standard_normal(3 << 20).astype("f2"), "f2", [(100, None), (64, (-1, 1))]),
        (np.arange(-128, 128, dtype=np.int8).repeat(5), "i1", [(7, None), (300, None), (3, (-200, 100))]),
        (np.tile(np.arange(1 << 16, dtype=np.uint16), 2), "u2", [(100, None), (9, (10, 60000.5))]),
        (gen.integers(-32768, 32768, size=2 << 20).astype("i2"), "i2", [(50, None), (1, None)]),
    ]
    for x, dtype, params in cases:
        m, ref = mm(x, dtype)
        for bins, rng_ in params:
            before = calls["n"]
            try:
                c2, e2 = np.histogram(ref, bins, rng_)
            except ValueError as want:  # the span of all finite float16 overflows
                with pytest.raises(ValueError, match=str(want)):
                    np.histogram(m, bins, rng_)
                continue
            c, e = np.histogram(m, bins, rng_)
            np.testing.assert_array_equal(c, c2, err_msg=f"{dtype} bins={bins} range={rng_}")
            np.testing.assert_array_equal(e, e2, err_msg=f"{dtype} bins={bins} range={rng_}")
            assert np.signbit(e).tolist() == np.signbit(e2).tolist() and e.dtype == e2.dtype
            assert calls["n"] == before + 1, (dtype, bins, rng_)
    # data holding NaN or an infinity has no range of its own: NumPy's error
    for bad in [np.float16(np.nan), np.uint16(0xFE01).view(np.float16), np.float16(-np.inf)]:
        m, ref = mm(np.tile(np.array([1.0, bad, 2.0], "f2"), 50_000), "f2")  # (table-sized)
        with pytest.raises(ValueError) as want:
            np.histogram(ref, 3)
        with pytest.raises(ValueError, match=str(want.value).split(" of ")[0]):
            np.histogram(m, 3)


def test_a_float16_histogram_range_past_float16_warns_as_numpy(mm):
    # the check whether an integer bound is exact in float16 cast 65535 to
    # float16 itself: two "overflow encountered in cast" more than NumPy's
    import warnings

    m, ref = mm([1.0, 2.0, 3.0], "f2")
    got = []
    for x in (ref, m):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            c, e = np.histogram(x, 4, range=(0, 65535))
        got.append(([str(x.message) for x in w], c.tolist(), e.tolist()))
    assert got[1] == got[0]


def test_bool_data_holding_other_bytes_is_numpys(tmp_path):
    # NumPy reads any non-zero byte of bool data as true; the engine viewed
    # it as Rust bools (undefined behaviour for such bytes): np.mean of a
    # memmap over [2, 2, 0, 1, 255] was 52.0, NumPy's 0.8. Now the engine
    # checks bool data first and leaves such data to NumPy's code.
    p = tmp_path / "b.bin"
    raw = np.zeros(300_000, np.uint8)
    raw[::7] = 1
    raw[123_456] = 2
    raw[-1] = 255
    raw.tofile(p)
    m = mmarray.memmap(p, dtype=bool, mode="r")
    ref = np.memmap(p, dtype=bool, mode="r")
    for view in [lambda a: a, lambda a: a[::3], lambda a: a[123_000:124_000].reshape(10, 100).T]:
        for f in [np.mean, np.std, np.var, np.max, np.min, np.argmax, np.argmin,
                  lambda a: a.mean(), lambda a: a.max(), lambda a: a.sum(dtype=np.float64)]:
            with np.errstate(all="ignore"):
                np.testing.assert_array_equal(f(view(m)), f(view(ref)))
    # called directly, the engine's error names the byte and its place
    with pytest.raises(ValueError, match="bool data holds the byte 2 at element 123456, not 0 or 1"):
        mmarray.stats(m)
    with pytest.raises(ValueError, match="byte 255 at element 176542"):
        mmarray.stats(m[123_457:])
    # the element is counted in logical order, for views of every kind
    with pytest.raises(ValueError, match="byte 2 at element 456, "):
        mmarray.stats(m[123_000:][::-1][::-1])
    with pytest.raises(ValueError, match="byte 2 at element 564, ") as err:
        mmarray.stats(m[123_000:124_000].reshape(10, 100).T)  # 123_456 is row 4, column 56: (56, 4) of the transpose
    # it crosses a process boundary as itself (a worker's error)
    import pickle
    again = pickle.loads(pickle.dumps(err.value))
    assert type(again) is type(err.value) and isinstance(again, ValueError) and str(again) == str(err.value)
    # valid bool data still runs in the engine
    q = tmp_path / "ok.bin"
    (raw > 1).tofile(q)
    ok = mmarray.memmap(q, dtype=bool, mode="r")
    assert mmarray.stats(ok)["mean"] == pytest.approx(2 / 300_000)


def test_documented_differences_hold(mm):
    # README: partial sums that overflow in NumPy's order may not here
    m, ref = mm([1.5e308, 1.5e308, -1.5e308], "f8")
    with np.errstate(over="ignore"):
        assert np.sum(ref) == np.inf
    assert np.sum(m) == 1.5e308
    # float32 means accumulate in float64: exact here, NumPy's pairwise
    # float32 sum is not
    vals = np.full(2**20, 0.1, dtype="f4")
    big, bigref = mm(vals, "f4")
    exact = float(np.float32(0.1))
    assert abs(float(np.mean(big)) - exact) <= abs(float(np.mean(bigref)) - exact)
    # -0.0 and 0.0 as a min compare equal to NumPy's, whatever the sign
    z, zref = mm([0.0, -0.0], "f8")
    assert np.min(z) == np.min(zref) and np.max(z) == np.max(zref)


def test_count_arguments_are_checked():
    x = np.arange(10.0)
    with pytest.raises(TypeError):
        mmarray.rolling_mean(x, True)  # was a window of 1
    with pytest.raises(ValueError, match="window must be between 1 and 10, got 18446744073709551616"):
        mmarray.rolling_mean(x, 2**64)  # was OverflowError
    with pytest.raises(TypeError):
        mmarray.rolling_var(x, 2, ddof="1")  # was accepted
    with pytest.raises(ValueError, match="n_bins must be between 1 and"):
        mmarray.downsample(x, -1)  # was OverflowError
    assert np.array_equal(mmarray.rolling_mean(x, 10), [4.5])


def _warned(f, x):
    import warnings

    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        r = f(x)
    return r, sorted(str(i.message) for i in w)


def test_floating_point_warnings_where_the_result_shows_them(mm):
    # found by the long differential profile: np.var without degrees of
    # freedom warned "Degrees of freedom" only, not NumPy's division by zero;
    # a mean where +inf and -inf meet gave NaN without NumPy's warning
    cases = [
        ([455], "i2", lambda x: x.var(ddof=2)),
        ([1.0, 2.0], "f8", lambda x: np.std(x, ddof=2)),
        ([1.0, 2.0], "f8", lambda x: np.var(x, ddof=3, keepdims=True)),
        ([[1.0, 2.0]], "f8", lambda x: np.var(x, axis=1, ddof=2)),
        ([7, 7], "u8", lambda x: np.nanstd(x, ddof=2)),  # (nan-variants of ints are np.std)
        ([1.0, np.inf, -np.inf], "f8", np.mean),
        ([1.0, np.inf, -np.inf], "f8", np.sum),
        ([np.nan, np.inf, -np.inf], "f8", np.nanmean),
        ([np.nan, np.inf, -np.inf], "f8", np.mean),  # (NaN data: no warning)
        ([1.0, 2.0], "f8", lambda x: np.nanvar(x, ddof=2)),  # (NumPy ignores it here)
    ]
    for values, dtype, f in cases:
        m, ref = mm(values, dtype)
        (got, gw), (want, ww) = _warned(f, m), _warned(f, ref)
        assert gw == ww, (values, dtype, gw, ww)
        assert np.array_equal(got, want, equal_nan=True)
        with np.errstate(all="raise"):
            try:
                f(ref)
            except FloatingPointError as e:
                with pytest.raises(FloatingPointError, match=str(e)):
                    f(m)


def test_nanargmax_of_a_misaligned_memmap_keeps_numpys_shape(tmp_path):
    # NumPy's nanargmax calls np.argmax(..., keepdims=np._NoValue), which
    # the engine read as keepdims=True: shape (1, 1, 1) instead of a scalar
    base = np.array([[[-1e308], [-7e-171], [-2e101]]])
    m = mmarray.memmap(tmp_path / "m.bin", dtype="f8", mode="w+", shape=base.shape, offset=1)
    m[...] = base
    assert np.nanargmax(m) == np.nanargmax(base) and np.ndim(np.nanargmax(m)) == 0
    assert np.nanargmax(m, np.int64(-3)).shape == np.nanargmax(base, -3).shape == (3, 1)


def test_w_plus_on_a_directory_and_a_short_file_say_so_as_numpy(tmp_path):
    # w+ on a directory was an OSError without errno; a file too short for
    # the shape named '|u1' and a byte count instead of the caller's dtype
    with pytest.raises(IsADirectoryError) as e:
        mmarray.memmap(tmp_path, dtype="f8", mode="w+", shape=(3,))
    assert e.value.errno == errno.EISDIR and os.path.samefile(e.value.filename, tmp_path)
    f = tmp_path / "short.bin"
    f.write_bytes(b"\0" * 16)
    with pytest.raises(ValueError, match=r"file has 16 bytes, but offset 0 \+ shape \(10,\) of '<i4' needs 40"):
        mmarray.memmap(f, dtype="i4", mode="r", shape=(10,))
    with pytest.raises(ValueError):
        np.memmap(f, dtype="i4", mode="r", shape=(10,))  # NumPy refuses too


@pytest.mark.parametrize("layout", ["random", "misleading", "nan"])
def test_quantiles_of_arrays_past_the_sampling_size_are_exact(mm, layout):
    # From 2**24 values the engine's first pass bins finely only around
    # where a sample (256 runs of 1024 values, evenly spread) puts each
    # quantile (issue 14). Exact as NumPy's in every case: ordinary data,
    # data whose sampled runs are unlike the rest (every rank then lies
    # outside the sample's brackets), and NaNs (nanquantile/nanmedian).
    n = 2**24 + 5
    rng = np.random.default_rng(24)
    vals = rng.standard_normal(n, dtype=np.float32)
    if layout == "misleading":
        step = n // 256
        for i in range(256):
            vals[i * step:i * step + 1024] = 7.0
    elif layout == "nan":
        vals[::97] = np.nan
        vals[5::101] = -0.0
    m, ref = mm(vals, "f4")
    qs = [0.0, 0.001, 0.25, 0.5, 0.75, 0.999, 1.0]
    if layout == "nan":
        assert np.array_equal(np.nanquantile(m, qs), np.nanquantile(ref, qs))
        assert np.nanmedian(m) == np.nanmedian(ref)
        assert np.isnan(np.median(m))
    else:
        assert np.array_equal(np.quantile(m, qs), np.quantile(ref, qs))
        assert np.median(m) == np.median(ref)
        assert np.quantile(m, 0.5) == np.quantile(ref, 0.5)


@pytest.mark.parametrize("dtype", ["f2", "f4", "f8"])
def test_a_nan_answer_is_the_datas_nan(mm, dtype):
    # np.median / np.quantile of data holding NaN answer with the data's
    # NaN (the last value of NumPy's partition): x86 arithmetic makes NaNs
    # negative (np.inf - np.inf is -nan), and the engine answered +nan
    # (found by the hostile review of session 18). Compared bit for bit.
    negative = np.float64(np.inf) - np.float64(np.inf)
    assert np.signbit(negative)
    payload = np.uint64(0x7FF8_0000_0000_0123).view(np.float64)
    for nan in (negative, payload, np.nan):
        m, ref = mm([1.0, nan, 2.5, 7.0, -3.0, nan], dtype)
        for f in (np.median, lambda a: np.quantile(a, 0.3), lambda a: np.quantile(a, [0.3, 0.9]), lambda a: np.percentile(a, [1, 50])):
            got, want = f(m), f(ref)
            assert type(got) is type(want)
            assert np.asarray(got).tobytes() == np.asarray(want).tobytes(), (nan, np.asarray(got).tobytes().hex(), np.asarray(want).tobytes().hex())
        # an all-NaN slice: nanmedian's answer is NumPy's own np.nan
        m, ref = mm([nan, nan], dtype)
        with pytest.warns(RuntimeWarning):
            got = np.nanmedian(m)
        with pytest.warns(RuntimeWarning):
            want = np.nanmedian(ref)
        assert np.asarray(got).tobytes() == np.asarray(want).tobytes()
        # (and nanquantile's is np.nan, whatever the data's NaN)
        with pytest.warns(RuntimeWarning):
            got = np.nanquantile(m, [0.5])
        with pytest.warns(RuntimeWarning):
            want = np.nanquantile(ref, [0.5])
        assert np.asarray(got).tobytes() == np.asarray(want).tobytes()
