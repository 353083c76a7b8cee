"""dask.distributed workers compute on mmarray files, each task reading its
own chunk from the file."""

import pickle

import numpy as np
import pytest

import mmarray


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as c:
            yield c


def test_distributed_reductions_equal_numpy(client, tmp_path):
    import dask.array as da

    data = np.random.default_rng(7).normal(size=(2000, 300)).astype("f8")
    m = mmarray.memmap(tmp_path / "d.f8", dtype="f8", mode="w+", shape=data.shape)
    m[:] = data
    m.flush()
    r = mmarray.memmap(tmp_path / "d.f8", dtype="f8", mode="r", shape=data.shape)
    x = da.from_array(r, chunks=(250, 300))
    mean, std, total = client.compute([x.mean(), x.std(), x.sum(axis=0)], sync=True)
    assert mean == pytest.approx(data.mean(), rel=1e-12)
    assert std == pytest.approx(data.std(), rel=1e-12)
    np.testing.assert_allclose(total, data.sum(axis=0), rtol=1e-12)
    # the graph ships the array by reference, not its 4.8 MB of data
    assert len(pickle.dumps(r)) < 1024


def test_to_dask_from_paths(client, tmp_path):
    data = np.arange(100_000, dtype="f4").reshape(1000, 100)
    np.save(tmp_path / "a.npy", data)
    x = mmarray.to_dask(tmp_path / "a.npy", chunks=(100, 100))
    assert x.shape == data.shape
    assert client.compute(x.max(), sync=True) == data.max()
    data.tofile(tmp_path / "raw.f4")
    y = mmarray.to_dask(tmp_path / "raw.f4", chunks=(500, 100), dtype="f4", shape=(1000, 100))
    np.testing.assert_array_equal(client.compute(y[::100, 3], sync=True), data[::100, 3])
