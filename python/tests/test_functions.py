"""rolling_*, downsample, stats and as_linear_operator against NumPy/SciPy."""

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view as swv

import mmarray


@pytest.mark.parametrize("stat", ["sum", "mean", "var", "std", "min", "max"])
def test_rolling_equals_sliding_window_view(tmp_path, stat):
    rng = np.random.default_rng(3)
    data = rng.normal(size=(500, 4)).astype("f4")
    m = mmarray.memmap(tmp_path / "s.f4", dtype="f4", mode="w+", shape=data.shape)
    m[:] = data
    f = getattr(mmarray, f"rolling_{stat}")
    for axis, w in [(0, 50), (1, 3), (-2, 1)]:
        # float32 data: float32 results, as NumPy's, each the float64 value
        # rounded once (within one float32 rounding of the rounded reference)
        got = f(m, w, axis=axis)
        want = getattr(swv(data.astype(np.float64), w, axis=axis), stat)(axis=-1)
        assert got.dtype == getattr(swv(data, w, axis=axis), stat)(axis=-1).dtype == np.float32
        np.testing.assert_allclose(got, want.astype(np.float32), rtol=2**-23, atol=1e-30)
        got64 = f(m, w, axis=axis, dtype=np.float64)
        assert got64.dtype == np.float64
        np.testing.assert_allclose(got64, want, rtol=1e-9, atol=1e-9)
        assert f(m, w, axis=axis, dtype="f2").dtype == np.float16
    want = swv(data[:, 0].astype(np.float64), 7).std(axis=-1, ddof=1)
    np.testing.assert_allclose(mmarray.rolling_std(data[:, 0], 7, ddof=1, dtype="float64"), want, rtol=1e-9)
    with pytest.raises(TypeError, match="float16, float32 or float64"):
        f(data[:, 0], 2, dtype=np.int64)
    with pytest.raises(TypeError, match="float16, float32 or float64"):
        f(data[:, 0], 2, dtype=">f8")
    with pytest.raises(ValueError):
        f(data[:, 0], 0)
    with pytest.raises(ValueError):
        f(data[:, 0], 501)


def test_rolling_float32_is_rounded_once_from_float64():
    # NumPy's float32 window sums lose the 1 next to 1e8 (and overflow past
    # float32's range); the engine's float32 result is the float64 value
    # rounded once
    x = np.array([1e8, 1, -1e8, 1, 3e38, 3e38, -3e38], dtype=np.float32)
    got = mmarray.rolling_sum(x, 3)
    exact = swv(x.astype(np.float64), 3).sum(axis=-1)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, exact.astype(np.float32))
    numpy_f32 = swv(x, 3).sum(axis=-1)
    assert numpy_f32[0] != got[0] == 1.0
    # integers and bool: float64 (NumPy: int64 sums, their own min/max)
    for dt in ("i1", "u8", "?", "i8"):
        assert mmarray.rolling_max(np.ones(4, dt), 2).dtype == np.float64
    # byte-swapped float32 gives native float32, as NumPy's does
    assert mmarray.rolling_mean(x.astype(">f4")[:4], 2).dtype == swv(x.astype(">f4")[:4], 2).mean(axis=-1).dtype


def test_downsample_and_stats():
    x = np.sin(np.linspace(0, 50, 100_000))
    x[12345] = 7.0
    e = mmarray.downsample(x, 1000)
    assert len(e["max"]) == 1000 and e["max"].max() == 7.0 and e["min"].min() == x.min()
    s = mmarray.stats(x, ddof=1)
    assert s["count"] == x.size
    assert s["mean"] == pytest.approx(x.mean(), rel=1e-12)
    assert s["std"] == pytest.approx(x.std(ddof=1), rel=1e-12)
    assert (s["min"], s["max"]) == (x.min(), x.max())


def test_linear_operator_solves_like_numpy(tmp_path):
    from scipy.sparse.linalg import cg, gmres

    n = 300
    rng = np.random.default_rng(4)
    q = rng.normal(size=(n, n))
    dense = q @ q.T / n + np.eye(n) * 2.0  # symmetric positive definite
    m = mmarray.memmap(tmp_path / "A.f8", dtype="f8", mode="w+", shape=(n, n), order="F")
    m[:] = dense
    b = rng.normal(size=n)
    exact = np.linalg.solve(dense, b)
    op = m.as_linear_operator()
    np.testing.assert_allclose(op.matvec(b), dense @ b, rtol=1e-12)
    np.testing.assert_allclose(op.rmatvec(b), dense.T @ b, rtol=1e-12)
    for solver in (cg, gmres):
        x, info = solver(op, b, rtol=1e-10, maxiter=2000)
        assert info == 0
        np.testing.assert_allclose(x, exact, rtol=1e-6, atol=1e-8)


def test_mean_and_sum_of_squares_without_a_temporary(tmp_path):
    import tracemalloc

    rng = np.random.default_rng(5)
    data = rng.normal(size=(6, 20, 30, 40)).astype("f4")  # (steps, x, y, z)
    v = mmarray.memmap(tmp_path / "v.f4", dtype="f4", mode="w+", shape=data.shape)
    v[:] = data
    ref = data.astype(np.float64) ** 2
    tracemalloc.start()
    energy = 0.5 * mmarray.mean_of_squares(v, axis=(1, 2, 3))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < data.nbytes // 8, f"{peak} bytes allocated for a {data.nbytes}-byte array"
    np.testing.assert_allclose(energy, 0.5 * ref.mean(axis=(1, 2, 3)), rtol=1e-12)
    assert energy.dtype == np.float64 and energy.shape == (6,)
    assert mmarray.mean_of_squares(v) == pytest.approx(ref.mean(), rel=1e-12)
    np.testing.assert_allclose(mmarray.sum_of_squares(v, axis=-1, keepdims=True), ref.sum(axis=-1, keepdims=True), rtol=1e-12)
    # strided views and integers
    sl = v[::2, 3:, ::-3, 5]
    np.testing.assert_allclose(mmarray.mean_of_squares(sl, axis=0), ref[::2, 3:, ::-3, 5].mean(axis=0), rtol=1e-12)
    ints = np.arange(-50, 50, dtype=np.int16).reshape(10, 10)
    np.testing.assert_array_equal(mmarray.sum_of_squares(ints, axis=1), (ints.astype(np.int64) ** 2).sum(axis=1))
    with pytest.raises(ValueError, match="axis 4"):
        mmarray.mean_of_squares(v, axis=4)
    with pytest.raises(ValueError, match="empty"):
        mmarray.mean_of_squares(np.zeros((0, 3)))


def test_public_names_are_exported_and_stubbed():
    import pathlib
    import re

    stub = (pathlib.Path(mmarray.__file__).parent / "__init__.pyi").read_text()
    for name in mmarray.__all__:
        assert callable(getattr(mmarray, name)), name
        assert re.search(rf"^(def|class) {name}\b", stub, re.M), f"{name} missing from __init__.pyi"


def test_threads_setting_bounds_the_engine(tmp_path):
    # In a child process (the setting is process-wide): MMARRAY_THREADS at
    # import, then set_threads; the engine's threads are named mmarray-N.
    import subprocess
    import sys

    code = r"""
import glob, time
import numpy as np
import mmarray

def engine_threads(expect):
    for _ in range(200):  # (a replaced pool's threads exit on their own)
        names = sorted(open(f).read().strip() for f in glob.glob('/proc/self/task/*/comm'))
        mine = [n for n in names if n.startswith('mmarray-')]
        if len(mine) == expect:
            return mine
        time.sleep(0.01)
    raise AssertionError(names)

m = mmarray.memmap(PATH, dtype='f8', mode='w+', shape=(1_000_000,))
m[:] = np.random.default_rng(1).normal(size=m.shape)
assert mmarray.get_threads() == 2
want = float(np.std(m)), float(np.quantile(m, 0.3))
assert engine_threads(2) == ['mmarray-0', 'mmarray-1']
assert mmarray.set_threads(3) == 2 and mmarray.get_threads() == 3
got = float(np.std(m)), float(np.quantile(m, 0.3))
assert engine_threads(3) == ['mmarray-0', 'mmarray-1', 'mmarray-2']
assert mmarray.set_threads(1) == 3
got1 = float(np.std(m)), float(np.quantile(m, 0.3))
engine_threads(1)
assert np.isclose(got[0], want[0], rtol=1e-12) and np.isclose(got1[0], want[0], rtol=1e-12), (want, got, got1)
assert got[1] == got1[1] == want[1]
assert mmarray.set_threads(0) == 1 and mmarray.get_threads() == __import__('os').cpu_count()
for bad, exc in [(-1, ValueError), (1.5, TypeError), (True, TypeError), ('2', TypeError)]:
    try:
        mmarray.set_threads(bad)
    except exc:
        pass
    else:
        raise AssertionError(bad)
assert mmarray.set_threads(None) == __import__('os').cpu_count() and mmarray.get_threads() == 2  # the variable again
print('ok')
""".replace("PATH", repr(str(tmp_path / "t.f8")))
    env = dict(__import__("os").environ, MMARRAY_THREADS="2")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stdout + out.stderr
    env["MMARRAY_THREADS"] = "many"
    out = subprocess.run([sys.executable, "-c", "import mmarray"], env=env, capture_output=True, text=True)
    assert out.returncode != 0 and 'ValueError: MMARRAY_THREADS="many" is not a thread count' in out.stderr, out.stderr
