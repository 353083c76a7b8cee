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
        got = f(m, w, axis=axis)
        want = getattr(swv(data.astype(np.float64), w, axis=axis), stat)(axis=-1)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(mmarray.rolling_std(data[:, 0], 7, ddof=1), swv(data[:, 0].astype(np.float64), 7).std(axis=-1, ddof=1), rtol=1e-9)
    with pytest.raises(ValueError):
        f(data[:, 0], 0)
    with pytest.raises(ValueError):
        f(data[:, 0], 501)


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
