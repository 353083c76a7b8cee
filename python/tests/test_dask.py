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


def graph_bytes(x):
    """The pickled size of a dask collection's graph (what the client ships
    to the scheduler)."""
    import cloudpickle

    return len(cloudpickle.dumps(dict(x.__dask_graph__())))


def test_to_dask_graph_holds_no_data(client, tmp_path):
    """64 MB of float64 in 8 chunks: the graph is a few hundred bytes per
    chunk (was 64,001,031 bytes: dask.array.from_array copied the whole
    file into the graph), distributed sends it without its large-graph
    warning, and every task computes on an mmarray.memmap view."""
    import warnings

    n = 8_000_000
    path = tmp_path / "big.npy"
    m = mmarray.open_memmap(path, mode="w+", dtype="f8", shape=(n,))
    m[:] = np.arange(n, dtype="f8")
    m.flush()
    del m
    x = mmarray.to_dask(path, chunks=n // 8)
    assert x.npartitions == 8
    assert graph_bytes(x) < 1024 * x.npartitions, graph_bytes(x)
    # growing with the chunks, not the data: 16x the data, the same per chunk
    y = mmarray.to_dask(path, chunks=n // 64)
    assert graph_bytes(y) < 1024 * y.npartitions
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Sending large graph of size ..."
        total, kinds = client.compute([x.sum(), y.map_blocks(lambda b: np.array([type(b) is mmarray.memmap]), chunks=(1,))], sync=True)
    assert total == n * (n - 1) / 2
    assert kinds.all() and len(kinds) == 64


def test_to_dask_layouts(client, tmp_path):
    """C and Fortran order, 'auto' chunks contiguous in the file, views with
    negative and non-unit strides, raw files with an offset."""
    import dask

    data = np.random.default_rng(3).normal(size=(600, 500))
    np.save(tmp_path / "c.npy", data)
    np.save(tmp_path / "f.npy", np.asfortranarray(data))
    with dask.config.set({"array.chunk-size": "256KiB"}):
        c = mmarray.to_dask(tmp_path / "c.npy")
        f = mmarray.to_dask(tmp_path / "f.npy")
    assert c.chunks[1] == (500,) and len(c.chunks[0]) > 1  # whole rows
    assert f.chunks[0] == (600,) and len(f.chunks[1]) > 1  # whole columns
    m = mmarray.load(tmp_path / "c.npy", mmap_mode="r")
    v = m[::-3, 450:7:-2]
    w = mmarray.to_dask(v, chunks=(37, 50))
    (tmp_path / "raw.bin").write_bytes(b"header" * 3 + data.astype(">i4").tobytes())
    r = mmarray.to_dask(tmp_path / "raw.bin", dtype=">i4", shape=(600, 500), offset=18, chunks=(100, 128))
    got = client.compute([c, f, w, r], sync=True)
    for g, want in zip(got, [data, data, np.asarray(v), data.astype(">i4")]):
        np.testing.assert_array_equal(g, want)


def test_to_dask_refuses_a_changed_file(client, tmp_path):
    """A file replaced (a new inode), truncated, or rewritten (a read-only
    array's modification time) after the array was built: the task raises
    OSError(ESTALE) naming the file instead of reading other bytes."""
    import errno
    import os

    path = tmp_path / "a.npy"
    np.save(path, np.arange(1000.0))
    x = mmarray.to_dask(path, chunks=100)
    assert client.compute(x.sum(), sync=True) == 499500.0
    np.save(tmp_path / "b.npy", np.arange(1000.0) * 2)
    os.replace(tmp_path / "b.npy", path)  # replaced by rename
    with pytest.raises(OSError) as e:
        client.compute(x.sum(), sync=True)
    assert e.value.errno == errno.ESTALE and e.value.filename == os.fspath(path) and "inode" in str(e.value)
    y = mmarray.to_dask(path, chunks=100)
    assert client.compute(y.sum(), sync=True) == 999000.0
    with open(path, "r+b") as f:
        f.truncate(4096)
    with pytest.raises(OSError, match="size"):
        client.compute(y.sum(), sync=True)


def test_to_dask_from_paths(client, tmp_path):
    data = np.arange(100_000, dtype="f4").reshape(1000, 100)
    np.save(tmp_path / "a.npy", data)
    x = mmarray.to_dask(tmp_path / "a.npy", chunks=(100, 100))
    assert x.shape == data.shape
    assert client.compute(x.max(), sync=True) == data.max()
    data.tofile(tmp_path / "raw.f4")
    y = mmarray.to_dask(tmp_path / "raw.f4", chunks=(500, 100), dtype="f4", shape=(1000, 100))
    np.testing.assert_array_equal(client.compute(y[::100, 3], sync=True), data[::100, 3])


def test_writes_from_workers_land(client, tmp_path):
    """An mmarray.memmap as a da.store target, and in client.submit,
    client.map and dask.delayed arguments, reaches the workers by reference:
    their writes land in the file. (Was: distributed sent ndarray subclasses
    by value with its own serializer; a 64 MB store target lost a quarter of
    its writes without an error.)"""
    import dask
    import dask.array as da

    n = 8_000_000
    path = tmp_path / "w.npy"
    w = mmarray.open_memmap(path, mode="w+", dtype="f8", shape=(n,))
    w.flush()
    y = da.arange(n, chunks=n // 8, dtype="f8") + 1
    da.store(y, w)
    assert float(mmarray.load(path, mmap_mode="r").sum()) == n * (n + 1) / 2

    def put(a, i, v):
        a[i] = v
        return i

    assert client.submit(put, w, 0, -1.0).result() == 0
    assert client.gather(client.map(put, [w] * 4, [1, 2, 3, 4], [-2.0] * 4)) == [1, 2, 3, 4]
    assert dask.delayed(put)(w, 5, -3.0).compute() == 5
    r = mmarray.load(path, mmap_mode="r")
    assert r[0] == -1.0 and (r[1:5] == -2.0).all() and r[5] == -3.0


SERIALIZE_CHILD = """
import sys
first = sys.argv[2]
if first == "distributed":
    import distributed.protocol
import mmarray
from distributed.protocol import serialize, deserialize
w = mmarray.memmap(sys.argv[1], "f8", "r+", shape=(4_000_000,))
header, frames = serialize(w)
size = sum(len(memoryview(f).cast("B")) for f in frames)
back = deserialize(header, frames)
back[7] = 42.0
print(size, type(back).__name__, w[7])
"""


@pytest.mark.parametrize("first", ["mmarray", "distributed"])
def test_distributed_serializes_memmaps_by_reference(tmp_path, first):
    """What distributed's own serializer makes of a 32 MB memmap: a few
    hundred bytes that map the same file, whichever package was imported
    first."""
    import subprocess
    import sys

    path = tmp_path / "a.f8"
    with open(path, "wb") as f:
        f.truncate(32_000_000)
    p = subprocess.run([sys.executable, "-c", SERIALIZE_CHILD, str(path), first], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    size, kind, seen = p.stdout.split()
    assert int(size) < 1024 and kind == "memmap" and float(seen) == 42.0, p.stdout
