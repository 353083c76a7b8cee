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
    """256 MB of float64 in 8 chunks: the graph is a few hundred bytes per
    chunk (was 64,001,031 bytes: dask.array.from_array copied the whole
    file into the graph), distributed sends it without its large-graph
    warning, and every task computes on an mmarray.memmap view."""
    import warnings

    import dask.array as da

    n = 32_000_000  # 256 MB
    path = tmp_path / "big.npy"
    m = mmarray.open_memmap(path, mode="w+", dtype="f8", shape=(n,))
    for i in range(0, n, 4_000_000):
        m[i:i + 4_000_000] = np.arange(i, i + 4_000_000, dtype="f8")
    m.flush()
    del m
    x = mmarray.to_dask(path, chunks=n // 8)
    assert x.npartitions == 8
    assert graph_bytes(x) < 1024 * x.npartitions, graph_bytes(x)
    assert graph_bytes(x.sum()) < 64 * 1024  # the whole computation's graph
    # growing with the chunks, not the data: 16x the data, the same per chunk
    y = mmarray.to_dask(path, chunks=n // 64)
    assert graph_bytes(y) < 1024 * y.npartitions
    # dask.array.asarray of a memmap takes the same road (to_dask_array)
    z = da.asarray(mmarray.load(path, mmap_mode="r"))
    assert graph_bytes(z) < 1024 * z.npartitions and z.npartitions == 2  # ("auto": 128 MiB chunks)
    assert client.compute(z[::1000].sum(), sync=True) == sum(range(0, n, 1000))
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


@pytest.mark.parametrize("dtype", ["?", "i1", ">u2", "<i8", "f2", ">f8", "c8", "S5", "M8[s]", [("a", "<i4"), ("b", ">f8", (2,))]])
def test_to_dask_every_dtype(client, tmp_path, dtype):
    """Every kind of dtype (byte orders, strings, dates, structured with
    subarrays), both orders, computed on the workers: the values equal
    NumPy's, and the chunks handed to tasks and the assembled result keep
    the dtype (was: the result of more than one chunk came back with byte
    orders made native, as np.concatenate makes them)."""
    raw = np.arange(-300, 300).reshape(20, 30)
    d = np.zeros(raw.shape, dtype)
    if d.dtype.names:
        d["a"], d["b"] = raw, (raw / 7)[..., None]
    elif d.dtype.kind == "S":
        d[...] = raw.astype("S5")
    elif d.dtype.kind == "M":
        d[...] = raw.astype("M8[s]")
    else:
        d[...] = raw.astype(dtype) if d.dtype.kind != "b" else raw % 3 == 0
    for order in "CF":
        np.save(tmp_path / "a.npy", np.asarray(d, order=order))
        x = mmarray.to_dask(tmp_path / "a.npy", chunks=(7, 11))
        assert x.dtype == d.dtype
        got, kept = client.compute([x, x.map_blocks(lambda b: np.array([[b.dtype == d.dtype]]), chunks=(1, 1))], sync=True)
        assert kept.all() and kept.size == 9
        assert got.dtype == d.dtype
        np.testing.assert_array_equal(got, d)


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


def test_to_dask_on_another_machine(tmp_path):
    """What a worker on another machine accepts (its identity of the file
    names another host): for a read-only array, a copy with its own inode
    and device but the same size and modification time (a node-local copy
    made by cp -p or rsync -t); not one whose time or size differ. For a
    writable array (no time recorded), only the same inode: writes need the
    one shared file."""
    import errno
    import os

    from mmarray._dask import FileChunks

    path = tmp_path / "a.npy"
    np.save(path, np.arange(1000.0))
    st = os.stat(path)
    args = (path, "r", 128, "f8", (1000,), (8,))
    copy = FileChunks(*args, ("elsewhere", st.st_dev + 1, st.st_ino + 1, st.st_size, st.st_mtime_ns))
    np.testing.assert_array_equal(copy[10:20], np.arange(10.0, 20.0))
    for ident, what in [(("elsewhere", 0, st.st_ino + 1, st.st_size, st.st_mtime_ns + 1), "modification time"),
                        (("elsewhere", 0, st.st_ino + 1, st.st_size + 8, st.st_mtime_ns), "size"),
                        (("elsewhere", 0, st.st_ino + 1, st.st_size, None), "inode"),
                        ((mmarray._memmap._hostname(), st.st_dev, st.st_ino + 1, st.st_size, st.st_mtime_ns), "inode")]:
        with pytest.raises(OSError, match=what) as e:
            FileChunks(*args, ident)[10:20]
        assert e.value.errno == errno.ESTALE
    # a writable array's identity on another machine: the same inode
    np.testing.assert_array_equal(FileChunks(*args, ("elsewhere", 0, st.st_ino, st.st_size, None))[:3], [0.0, 1.0, 2.0])


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


def test_store_npy_writes_what_numpy_reads(client, tmp_path):
    """store_npy from the workers: 64 MB of float64 in uneven chunks that
    are not contiguous in the file, both orders, and several dtypes; each
    file opens with numpy.load and equals the dask array. The store's graph
    holds no data."""
    import dask.array as da

    x = da.random.default_rng(5).normal(size=(4000, 2000), chunks=(700, 600))
    want = x.compute()
    mmarray.store_npy(x, tmp_path / "c.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "c.npy"), want)
    mmarray.store_npy(x, tmp_path / "f.npy", fortran_order=True)
    f = np.load(tmp_path / "f.npy")
    assert f.flags.f_contiguous
    np.testing.assert_array_equal(f, want)
    stored = mmarray.store_npy(x[:, :5] * 3, tmp_path / "g.npy", compute=False)
    # the store's tasks (what the sink adds to the source's graph): the path
    # and layout, under 1 KiB per chunk
    assert graph_bytes(stored) - graph_bytes(x[:, :5] * 3) < 1024 * 6
    stored.compute()
    np.testing.assert_array_equal(np.load(tmp_path / "g.npy"), want[:, :5] * 3)
    small = np.arange(-600, 600).reshape(30, 40)
    for dtype in ["<i2", ">f4", "c16", "?", "u1", [("a", "<i4"), ("b", ">f8")]]:
        d = np.zeros(small.shape, dtype)
        if d.dtype.names:
            d["a"], d["b"] = small, small / 7
        else:
            d[...] = small.astype(dtype)
        for fortran in (False, True):
            mmarray.store_npy(da.from_array(d, chunks=(7, 9)), tmp_path / "s.npy", fortran_order=fortran)
            back = np.load(tmp_path / "s.npy")
            assert back.dtype == d.dtype and back.flags.f_contiguous == fortran
            np.testing.assert_array_equal(back, d)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npy", "f.npy", "g.npy", "s.npy"]


def test_store_npy_survives_a_killed_worker(tmp_path):
    """A worker killed (SIGKILL) in the middle of a store: its nanny
    restarts it, the lost tasks run again and write the same bytes, and the
    file is exact."""
    import os
    import signal

    import dask.array as da
    from distributed import Client, LocalCluster

    marker = tmp_path / "killed"

    def kill_once(b, block_info=None):
        if block_info[0]["chunk-location"][0] == 5 and not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return b * 2

    x = da.arange(8_000_000, chunks=500_000, dtype="f8")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as c:
            mmarray.store_npy(x.map_blocks(kill_once, dtype="f8"), tmp_path / "o.npy")
            pids = set(c.run(os.getpid).values())
    assert marker.exists() and int(marker.read_text()) not in pids  # (a worker died)
    got = np.load(tmp_path / "o.npy", mmap_mode="r")
    np.testing.assert_array_equal(got, np.arange(8_000_000, dtype="f8") * 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["killed", "o.npy"]


def test_store_npy_is_whole_or_nothing(tmp_path):
    """A failed task leaves the old file as it was and no temporary; the
    refusals come before any work and name the file."""
    import errno
    import os

    import dask.array as da

    path = tmp_path / "o.npy"
    np.save(path, np.arange(5))
    before = path.read_bytes()

    def fail_late(b, block_info=None):
        if block_info[0]["chunk-location"][0] == 7:
            raise RuntimeError("block 7 failed")
        return b

    x = da.arange(10_000, chunks=1000)
    with pytest.raises(RuntimeError, match="block 7"):
        mmarray.store_npy(x.map_blocks(fail_late, dtype=x.dtype), path, scheduler="threads")
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["o.npy"]
    with pytest.raises(FileExistsError) as e:
        mmarray.store_npy(x, path, overwrite=False)
    assert e.value.filename == os.fspath(path) and path.read_bytes() == before
    (tmp_path / "d.npy").mkdir()
    with pytest.raises(IsADirectoryError) as e:
        mmarray.store_npy(x, tmp_path / "d.npy")
    assert e.value.errno == errno.EISDIR
    (tmp_path / "d.npy").rmdir()
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        mmarray.store_npy(x[x > 5], tmp_path / "u.npy")
    with pytest.raises(ValueError, match="object"):
        mmarray.store_npy(da.from_array(np.array([1, "a"], dtype=object), chunks=1), tmp_path / "u.npy")
    assert os.listdir(tmp_path) == ["o.npy"]
    # through a link, the file it names is replaced (as np.save writes through it)
    os.symlink("o.npy", tmp_path / "l.npy")
    mmarray.store_npy(x, tmp_path / "l.npy")
    assert (tmp_path / "l.npy").is_symlink()
    np.testing.assert_array_equal(np.load(path), np.arange(10_000))


STORE_CHILD = """
import sys, time
import dask.array as da
import mmarray

def slow(b):
    time.sleep(0.05)
    return b

x = da.arange(50_000_000, chunks=100_000, dtype="f8").map_blocks(slow, dtype="f8")
mmarray.store_npy(x, sys.argv[1], scheduler="threads")
"""


def test_store_npy_killed_leaves_the_old_file(tmp_path):
    """kill -9 of the storing process while the workers write: the old file
    is whole, the temporary is left for the next store of that name, which
    removes it (its process is dead)."""
    import subprocess
    import sys
    import time

    import dask.array as da

    path = tmp_path / "o.npy"
    np.save(path, np.arange(5))
    before = path.read_bytes()
    p = subprocess.Popen([sys.executable, "-c", STORE_CHILD, str(path)])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            tmp = [q for q in tmp_path.iterdir() if q.name.startswith(".o.npy.mmarray-")]
            if tmp and tmp[0].stat().st_size > 0:
                break
            time.sleep(0.05)
        time.sleep(0.5)  # (some chunks written)
    finally:
        p.kill()
        p.wait()
    assert tmp and path.read_bytes() == before
    mmarray.store_npy(da.arange(3), path)
    assert sorted(q.name for q in tmp_path.iterdir()) == ["o.npy"]
    np.testing.assert_array_equal(np.load(path), np.arange(3))


CLIENT_RSS_CHILD = """
import sys
import numpy as np
import mmarray
from distributed import Client, LocalCluster

path, how = sys.argv[1], sys.argv[2]
with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as c:
    if how == "to_dask":
        x = mmarray.to_dask(path)
    else:  # the road users take without mmarray: dask over NumPy's memmap
        import dask.array as da
        x = da.from_array(np.load(path, mmap_mode="r"))
    total, top = c.compute([x.sum(), x.max()], sync=True)
# (VmHWM, this process's own peak: ru_maxrss would carry the pytest
# process's peak over, since Linux keeps it across the fork and exec)
peak = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(total, top, peak)
"""


def test_client_memory_stays_small_for_a_file_larger_than_a_gib(tmp_path):
    """The client process (not its workers) while building and computing
    to_dask of a 1.25 GiB file: peak RSS under 256 MiB (about 95 MiB here).
    Dask over NumPy's memmap (dask.array.from_array copies the array first)
    holds the whole file: 1.4 GiB, and about a minute to ship it to the
    workers, so that side runs only with MMARRAY_HYPOTHESIS_PROFILE=long
    (bench/run --dask measures it at 8 GiB)."""
    import os
    import subprocess
    import sys

    n = 160 * 2**20  # float64: 1.25 GiB
    path = tmp_path / "big.npy"
    m = mmarray.open_memmap(path, mode="w+", dtype="f8", shape=(n,))
    marks = np.arange(0, n, 2**22)  # one value per 32 MiB, the rest zeros
    m[marks] = np.arange(1, len(marks) + 1)
    m.flush()
    del m
    rss = {}
    long = os.environ.get("MMARRAY_HYPOTHESIS_PROFILE") == "long"
    for how in ["to_dask", "numpy"] if long else ["to_dask"]:
        p = subprocess.run([sys.executable, "-c", CLIENT_RSS_CHILD, str(path), how], capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stderr[-3000:]
        total, top, rss[how] = p.stdout.split()
        assert float(total) == len(marks) * (len(marks) + 1) / 2 and float(top) == len(marks)
    assert int(rss["to_dask"]) < 256 * 2**20, rss
    if long:
        assert int(rss["numpy"]) > n * 8, rss  # (what the test would see without to_dask)


def test_store_npy_arguments(tmp_path):
    """What numpy.save does with names (".npy" appended), what a FIFO or a
    bad version gets (errors before any chunk is computed), store options
    passed on or refused, inputs dask.array.asarray takes, and padding bytes
    of structured dtypes (zeros, never leftovers of memory)."""
    import errno
    import os
    import threading

    import dask.array as da

    x = da.arange(10, chunks=3)
    mmarray.store_npy(x, tmp_path / "plain")
    np.testing.assert_array_equal(np.load(tmp_path / "plain.npy"), np.arange(10))
    ran = []

    def mark(b):
        ran.append(b.size)
        return b

    y = x.map_blocks(mark, dtype=x.dtype)
    os.mkfifo(tmp_path / "fifo.npy")
    with pytest.raises(OSError) as e:
        mmarray.store_npy(y, tmp_path / "fifo.npy", scheduler="threads")
    assert e.value.errno == errno.EINVAL and e.value.filename == os.fspath(tmp_path / "fifo.npy")
    with pytest.raises(ValueError, match="version"):
        mmarray.store_npy(y, tmp_path / "v.npy", version=(4, 0))
    with pytest.raises(TypeError, match="return_stored"):
        mmarray.store_npy(y, tmp_path / "v.npy", return_stored=True)
    assert not any(ran)
    mmarray.store_npy(x, tmp_path / "v.npy", version=[3, 0], lock=threading.Lock(), scheduler="threads")
    assert np.lib.format.read_magic(open(tmp_path / "v.npy", "rb")) == (3, 0)
    np.save(tmp_path / "c.npy", np.arange(6.0))
    c = mmarray.load(tmp_path / "c.npy", mmap_mode="c")
    c[0] = -1.0  # (copy-on-write: its changes are in this process only)
    mmarray.store_npy(c, tmp_path / "from_c.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "from_c.npy"), [-1.0, 1, 2, 3, 4, 5])
    padded = np.dtype({"names": ["x", "y"], "formats": ["u1", "<f4"], "offsets": [0, 4], "itemsize": 12})
    junk = np.frombuffer(bytes(range(1, 121)), dtype=padded)  # padding bytes not zero
    mmarray.store_npy(da.from_array(junk, chunks=3), tmp_path / "p.npy")
    back = np.load(tmp_path / "p.npy")
    assert back.dtype == padded and (back["x"] == junk["x"]).all() and (back["y"] == junk["y"]).all()
    clean = np.zeros(10, padded)
    clean[...] = junk
    assert back.tobytes() == clean.tobytes()  # (padding: zeros)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npy", "fifo.npy", "from_c.npy", "p.npy", "plain.npy", "v.npy"]


LEFT_CHILD = """
import sys
import dask.array as da
import mmarray

def fail(b, block_info=None):
    if block_info[0]["chunk-location"][0] == 2:
        raise RuntimeError("block 2")
    return b

d = mmarray.store_npy(da.arange(10, chunks=3).map_blocks(fail, dtype=int), sys.argv[1], compute=False)
try:
    d.compute()
except RuntimeError:
    pass
never = mmarray.store_npy(da.arange(10, chunks=3), sys.argv[2], compute=False)
import os
print(len([n for n in os.listdir(sys.argv[3]) if ".mmarray-" in n]))
"""


def test_store_npy_deferred(tmp_path):
    """compute=False: computed once it names the file; computed again it
    says so; a failed or never-run computation leaves its temporary only
    until the process exits."""
    import subprocess
    import sys

    import dask.array as da

    d = mmarray.store_npy(da.arange(10, chunks=3), tmp_path / "once.npy", compute=False)
    assert not (tmp_path / "once.npy").exists()
    d.compute(scheduler="threads")
    np.testing.assert_array_equal(np.load(tmp_path / "once.npy"), np.arange(10))
    with pytest.raises(FileNotFoundError, match="computed twice|computed already"):
        d.compute(scheduler="threads")
    p = subprocess.run([sys.executable, "-c", LEFT_CHILD, str(tmp_path / "f.npy"), str(tmp_path / "n.npy"), str(tmp_path)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["2"]  # (both temporaries while it ran)
    assert sorted(q.name for q in tmp_path.iterdir()) == ["once.npy"]  # (removed at its exit)


def test_sinks_on_another_machine_sync_each_chunk(tmp_path, monkeypatch):
    """A store's chunk written by a worker on another machine than the one
    that began the store is fdatasync'ed before its task ends; on the same
    machine the final fsync covers it (one sync per chunk made a store of
    many small chunks slow)."""
    import os

    from mmarray._dask import FileChunks

    path = tmp_path / "t.bin"
    path.write_bytes(bytes(80))
    st = os.stat(path)
    synced = []
    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (synced.append(fd), real(fd)))
    here = FileChunks(path, "w", 0, "f8", (10,), (8,), (mmarray._memmap._hostname(), st.st_dev, st.st_ino, 80, None))
    here[0:5] = np.arange(5.0)
    assert synced == []
    there = FileChunks(path, "w", 0, "f8", (10,), (8,), ("elsewhere", 0, st.st_ino, 80, None))
    there[5:10] = np.arange(5.0, 10.0)
    assert len(synced) == 1
    np.testing.assert_array_equal(np.fromfile(path), np.arange(10.0))


def test_a_replaced_file_never_gives_its_bytes(tmp_path):
    """The path of a memmap replaced by a rename: to_dask, da.asarray and
    store_npy of the array refuse (ESTALE) instead of reading the other
    file (was: they read it); and a chunk read that races renames maps
    only the file the dask array was made from or raises ESTALE (was: 5
    wrong sums in 4,000 with the check before the open)."""
    import errno
    import os
    import threading
    import time

    import dask.array as da

    p = tmp_path / "a.npy"
    np.save(p, np.arange(10.0))
    m = mmarray.load(p, mmap_mode="r")
    np.save(tmp_path / "b.npy", np.arange(10.0) * 100)
    os.replace(tmp_path / "b.npy", p)
    for make in (mmarray.to_dask, da.asarray, lambda a: mmarray.store_npy(a, tmp_path / "out.npy")):
        with pytest.raises(OSError) as e:
            make(m)
        assert e.value.errno == errno.ESTALE and e.value.filename == os.fspath(p)
    assert float(m.sum()) == 45.0
    # the race: the path flips between two files while chunks are read
    a, b, x, tmp = (tmp_path / n for n in ("A.npy", "B.npy", "x.npy", "tmp"))
    np.save(a, np.zeros(512))
    np.save(b, np.ones(512))
    os.link(a, x)
    arr = mmarray.to_dask(x, chunks=-1)
    stop = threading.Event()

    def flip():
        while not stop.is_set():
            for src in (b, a):
                if tmp.exists():
                    tmp.unlink()
                os.link(src, tmp)
                os.replace(tmp, x)

    t = threading.Thread(target=flip)
    t.start()
    wrong = seen = 0
    deadline = time.monotonic() + 2
    try:
        while time.monotonic() < deadline:
            try:
                wrong += float(arr.sum().compute(scheduler="sync")) != 0.0
                seen += 1
            except OSError as e:
                assert e.errno == errno.ESTALE
    finally:
        stop.set()
        t.join()
    assert wrong == 0 and seen > 0


def test_a_writable_target_whose_file_is_gone_is_refused(client, tmp_path):
    """A writable memmap whose file was replaced or deleted cannot reach
    the workers by reference; sending it by value would lose every write
    without an error (was: submit wrote into a copy, da.store stored
    nothing). Now the send fails, naming the file."""
    import os
    import pickle

    import dask.array as da

    def put(a, i, v):
        a[i] = v
        return i

    p = tmp_path / "out.f8"
    m = mmarray.memmap(p, dtype="f8", mode="w+", shape=(10,))
    np.zeros(10).tofile(tmp_path / "new.f8")
    os.replace(tmp_path / "new.f8", p)
    # (distributed wraps the serializer's error in its own, whose text and
    # chain vary with where it was raised: the refusal itself is pickle's)
    with pytest.raises(Exception):
        client.submit(put, m, 0, 1.0).result()
    with pytest.raises(OSError, match="writable") as e:
        pickle.dumps(m)
    assert e.value.filename == os.fspath(p)
    assert (np.fromfile(p) == 0).all()
    q = tmp_path / "gone.f8"
    g = mmarray.memmap(q, dtype="f8", mode="w+", shape=(10,))
    os.unlink(q)
    with pytest.raises(Exception):
        da.store(da.ones(10, chunks=5) * 7, g, lock=False)
    with pytest.raises(OSError, match="writable"):
        pickle.dumps(g)


def test_a_rename_while_opening_is_not_filed_under_the_new_file(tmp_path, monkeypatch):
    """The path replaced between mapping it and recording which file it is:
    the array is filed under the file it maps (the descriptor's identity),
    so to_dask and pickling refuse instead of reaching the new file (was:
    to_dask read it, and a pickle's writes landed in it)."""
    import errno
    import os
    import pickle
    import types

    from mmarray import _memmap

    p, q = tmp_path / "a.npy", tmp_path / "b.npy"
    np.save(p, np.ones(4))
    np.save(q, np.full(4, 2.0))
    real = _memmap._core

    class Racing:
        @staticmethod
        def open(*args, **kwargs):
            m = real.Mapping.open(*args, **kwargs)
            os.rename(q, p)  # (another process, at the worst instant)
            return m

    monkeypatch.setattr(_memmap, "_core", types.SimpleNamespace(Mapping=Racing))
    m = mmarray.load(p, mmap_mode="r+")
    monkeypatch.setattr(_memmap, "_core", real)
    assert (np.asarray(m) == 1.0).all()
    for attempt in (mmarray.to_dask, pickle.dumps):
        with pytest.raises(OSError) as e:
            attempt(m)
        assert e.value.errno == errno.ESTALE
    assert (np.load(p) == 2.0).all()


def test_results_not_backed_by_a_file_travel_as_ndarrays(tmp_path):
    """A memmap that is not backed by a file (a result assembled from
    chunks) goes through distributed's serializer as its ndarray frames,
    zero-copy, keeping its dtype (was: an in-band pickle of a copy, 10x
    slower and 2.5x its size in memory)."""
    from distributed.protocol import deserialize, serialize

    r = np.arange(1_000_000, dtype=">f8").view(mmarray.memmap)
    header, frames = serialize(r)
    assert "ndarray" in header["sub-header"] and len(frames) == 1
    assert np.shares_memory(np.frombuffer(frames[0], dtype="u1"), r.view("u1"))  # (zero-copy)
    back = deserialize(header, frames)
    assert back.dtype == np.dtype(">f8") and (back == np.arange(1_000_000)).all()


FORK_CHILD = """
import os, sys
import dask.array as da
import mmarray

d = mmarray.store_npy(da.arange(10, chunks=3), sys.argv[1], compute=False)
pid = os.fork()
if pid == 0:
    sys.exit(0)  # (the child exits through its atexit handlers)
os.waitpid(pid, 0)
d.compute(scheduler="sync")
"""


def test_a_forked_child_leaves_the_parents_pending_store(tmp_path):
    """compute=False's temporary belongs to the process that made it: a
    child forked from it that exits normally leaves it (was: the child's
    exit removed it, and the parent's compute failed)."""
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-c", FORK_CHILD, str(tmp_path / "x.npy")], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "x.npy"), np.arange(10))


def test_files_no_longer_mapped_are_forgotten(tmp_path):
    """The table of mapped files drops files no longer mapped (was: 20,000
    files opened and dropped kept 20,000 entries, and each pickle scanned
    them all)."""
    from mmarray import _memmap

    for i in range(600):
        a = mmarray.memmap(tmp_path / f"{i}.bin", dtype="u1", mode="w+", shape=(8,))
        del a
    assert len(_memmap._LIVE) < 300



def cached_bytes(path):
    """How many of the file's bytes are in the page cache (mincore over a
    fresh private mapping, which reads nothing)."""
    import ctypes
    import mmap

    libc = ctypes.CDLL(None, use_errno=True)
    size = path.stat().st_size
    pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
    vec = (ctypes.c_ubyte * pages)()
    with open(path, "rb") as f, mmap.mmap(f.fileno(), size, access=mmap.ACCESS_COPY) as m:
        start = ctypes.c_char.from_buffer(m)
        ok = libc.mincore(ctypes.c_void_p(ctypes.addressof(start)), ctypes.c_size_t(size), vec)
        del start  # (the buffer is released before the map closes)
    assert ok == 0, ctypes.get_errno()
    return sum(b & 1 for b in vec) * mmap.PAGESIZE


@pytest.mark.parametrize("larger", [False, True])
def test_chunks_of_a_file_larger_than_ram_leave_the_page_cache(tmp_path, monkeypatch, larger):
    # The rule (the engine's: a file of >= 1 GiB over half of MemAvailable)
    # is the core's, tested there; here it is forced, on a 64 MiB file.
    import os

    import dask

    from mmarray import _dask

    monkeypatch.setattr(_dask, "_larger_than_ram", lambda nbytes: larger)
    path = tmp_path / "big.npy"
    data = np.arange(32 << 20, dtype="f4") % 1000  # 128 MiB
    np.save(path, data)
    os.sync()  # (dirty pages are never dropped: written back first)
    path.read_bytes()  # cached whole
    assert cached_bytes(path) >= 128 << 20
    x = mmarray.to_dask(path, chunks=4 << 20)  # 16 MiB chunks
    assert x.npartitions == 8
    with dask.config.set(scheduler="threads"):
        total = float(x.sum(dtype="f8").compute())
    assert total == float(data.sum(dtype="f8"))
    import gc

    gc.collect()
    left = cached_bytes(path)
    if larger:
        # Only a chunk's own pages go: a large page-cache folio across a
        # boundary between two chunks (the .npy header shifts them off
        # 2 MiB boundaries) stays, at most one per boundary.
        try:
            folio = int(open("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size").read())
        except OSError:
            folio = 2 << 20
        assert left <= 9 * folio, left
    else:
        assert left >= 128 << 20


def test_only_contiguous_chunks_drop_their_pages(tmp_path, monkeypatch):
    # Column chunks of a C-order file: each chunk's byte range spans the
    # other chunks of its rows, so none drops anything (dropping the range
    # would take its neighbours' pages too).
    import gc
    import os

    import dask

    from mmarray import _dask

    monkeypatch.setattr(_dask, "_larger_than_ram", lambda nbytes: True)
    path = tmp_path / "cols.npy"
    data = np.arange(4096 * 4096, dtype="f8").reshape(4096, 4096)  # 128 MiB
    np.save(path, data)
    os.sync()
    path.read_bytes()
    x = mmarray.to_dask(path, chunks=(1024, 256))
    with dask.config.set(scheduler="synchronous"):
        assert float(x[:1024, :256].sum().compute()) == float(data[:1024, :256].sum())
    gc.collect()
    assert cached_bytes(path) >= 128 << 20


def test_a_npy_path_with_a_mode_is_still_a_npy_file(tmp_path):
    path = tmp_path / "o.npy"
    data = np.arange(12, dtype="f4").reshape(3, 4)
    np.save(path, data)
    for mode in ["r", "r+"]:
        x = mmarray.to_dask(path, mode=mode)
        assert (x.shape, x.dtype) == ((3, 4), np.float32)
        np.testing.assert_array_equal(x.compute(scheduler="sync"), data)
    with pytest.raises(TypeError, match="o.npy: a .npy file's header gives its layout; offset, shape describe a raw"):
        mmarray.to_dask(path, shape=(5,), offset=8)
    # with a dtype, its bytes as a raw file (as mmarray.memmap reads them)
    raw = mmarray.to_dask(path, dtype="u1", mode="r")
    assert raw.shape == (path.stat().st_size,)
