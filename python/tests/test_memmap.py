"""mmarray.memmap: NumPy's behaviour, and the improvements over it."""

import errno
import os
import pickle
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import mmarray


@pytest.fixture
def tmp(tmp_path):
    return tmp_path


def test_same_bytes_as_numpy_both_ways(tmp):
    ours, theirs = tmp / "ours.f8", tmp / "theirs.f8"
    rng = np.random.default_rng(0)
    data = rng.normal(size=(50, 7))
    a = mmarray.memmap(ours, dtype="<f8", mode="w+", shape=(50, 7), offset=13, order="F")
    b = np.memmap(theirs, dtype="<f8", mode="w+", shape=(50, 7), offset=13, order="F")
    a[:] = data
    b[:] = data
    a.flush()
    b.flush()
    assert ours.read_bytes() == theirs.read_bytes()
    back = np.memmap(ours, dtype="<f8", mode="r", shape=(50, 7), offset=13, order="F")
    np.testing.assert_array_equal(back, data)
    mine = mmarray.memmap(theirs, dtype="<f8", mode="r", shape=(50, 7), offset=13, order="F")
    np.testing.assert_array_equal(mine, data)
    assert mine.strides == back.strides


@pytest.mark.parametrize("dtype", ["u1", "<i4", ">i8", "<f4", ">f8", "<c16", "?", "S5", "<M8[s]", [("a", "<i4"), ("b", "<f8")]])
def test_every_numpy_dtype_maps(tmp, dtype):
    # mmarray maps bytes; NumPy's dtype machinery interprets them, so every
    # dtype numpy.memmap takes works, structured and byte-swapped included.
    path = tmp / "d.bin"
    ref = np.zeros(6, dtype=dtype)
    ref.view("u1")[:] = np.arange(ref.nbytes) % 251
    ref.tofile(path)
    m = mmarray.memmap(path, dtype=dtype, mode="r")
    assert m.shape == (6,)
    assert m.tobytes() == ref.tobytes()


def test_modes(tmp):
    path = tmp / "m.u1"
    np.arange(10, dtype="u1").tofile(path)
    r = mmarray.memmap(path, mode="r")
    with pytest.raises(ValueError, match="read-only"):
        r[0] = 1
    c = mmarray.memmap(path, mode="c")
    c[0] = 99
    assert c[0] == 99
    del c
    assert path.read_bytes()[0] == 0, "copy-on-write changes reached the file"
    w = mmarray.memmap(path, mode="r+")
    w[1] = 77
    w.flush(durable=True)
    del w
    assert path.read_bytes()[1] == 77
    g = mmarray.memmap(path, mode="readwrite", shape=20)  # r+ grows the file
    assert path.stat().st_size == 20
    assert g.mode == "r+"
    with pytest.raises(ValueError, match="mode must be one of"):
        mmarray.memmap(path, mode="rw")
    with pytest.raises(ValueError, match="shape must be given"):
        mmarray.memmap(path, mode="w+")


def test_space_is_reserved_not_sparse(tmp):
    size = 8 << 20
    ours = mmarray.memmap(tmp / "ours", mode="w+", shape=size)
    theirs = np.memmap(tmp / "theirs", mode="w+", shape=size)
    assert ours._mmap.preallocation in ("reserved", "sparse")
    if ours._mmap.preallocation == "reserved":
        assert os.stat(tmp / "ours").st_blocks * 512 >= size
    # numpy.memmap leaves a sparse file that crashes on a full disk later
    assert os.stat(tmp / "theirs").st_blocks * 512 < size
    del ours, theirs


def test_full_disk_is_an_oserror_at_creation(tmp):
    mnt = tmp / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True).returncode != 0:
        assert os.geteuid() != 0, "root could not mount a tmpfs"
        pytest.skip("mounting a small file system needs root")
    try:
        with pytest.raises(OSError, match="not enough space"):
            mmarray.memmap(mnt / "big", mode="w+", shape=4 << 20)
        assert not (mnt / "big").exists()
        ok = mmarray.memmap(mnt / "ok", mode="w+", shape=100_000)
        ok[:] = 1
        del ok
    finally:
        subprocess.run(["umount", str(mnt)])


def test_errors_have_numpys_types(tmp):
    with pytest.raises(FileNotFoundError):
        mmarray.memmap(tmp / "missing", mode="r")
    with pytest.raises(FileNotFoundError):
        mmarray.memmap(tmp / "missing", mode="r+")
    assert not (tmp / "missing").exists()
    (tmp / "odd").write_bytes(b"x" * 10)
    with pytest.raises(ValueError, match="multiple of the data-type size"):
        mmarray.memmap(tmp / "odd", dtype="f8", mode="r")
    with pytest.raises(ValueError):
        mmarray.memmap(tmp / "odd", dtype="f8", mode="r", shape=(5,))
    with pytest.raises(OSError):
        mmarray.memmap(tmp, mode="r", shape=1)
    assert (tmp / "odd").read_bytes() == b"x" * 10


def test_overwriting_a_file_another_process_maps_raises_instead_of_crashing(tmp):
    import subprocess
    import sys

    path = tmp / "shared"
    a = mmarray.memmap(path, dtype="f8", mode="w+", shape=1000)
    a[:] = 1.0
    a.flush()
    del a
    reader = subprocess.Popen(
        [sys.executable, "-c", "import mmarray, sys; a = mmarray.memmap(sys.argv[1], dtype='f8', mode='r');"
         "print('mapped', flush=True); sys.stdin.readline(); print(a.sum())", str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert reader.stdout.readline() == "mapped\n"
    with pytest.raises(OSError, match="mapped by another array") as e:
        mmarray.memmap(path, dtype="f8", mode="w+", shape=10)
    assert e.value.errno == errno.EBUSY
    out, _ = reader.communicate("go\n", timeout=60)
    assert out.strip() == "1000.0" and reader.returncode == 0
    mmarray.memmap(path, dtype="f8", mode="w+", shape=10)


def test_w_plus_again_in_this_process_closes_the_older_arrays(tmp):
    # a notebook cell run twice: NumPy allows it; mmarray used to refuse
    # with "is mapped by another array"
    path = tmp / "cell"
    a = mmarray.memmap(path, dtype="f8", mode="w+", shape=(10,))
    a[:] = 5
    view = a[2:4]
    b = mmarray.memmap(path, dtype="f8", mode="w+", shape=(10,))
    assert b.sum() == 0 and a.closed and view.closed
    with pytest.raises(ValueError, match="closed"):
        view.sum()
    np.asarray(view).view(np.ndarray)[0] = 1  # writes nowhere, never crashes
    b[:] = 2
    b.flush()
    assert np.fromfile(path).tolist() == [2.0] * 10
    c = mmarray.open_memmap(tmp / "cell.npy", mode="w+", dtype="f4", shape=(3,))
    d = mmarray.open_memmap(tmp / "cell.npy", mode="w+", dtype="f4", shape=(4,))
    assert c.closed and d.shape == (4,) and np.load(tmp / "cell.npy").shape == (4,)


def test_madvise_and_flush(tmp):
    a = mmarray.memmap(tmp / "h", dtype="f4", mode="w+", shape=(100, 100))
    for advice in ["normal", "sequential", "random", "willneed"]:
        a.madvise(advice)
    with pytest.raises(ValueError, match="advice must be"):
        a.madvise("dontneed")
    a[5:10] = 3
    a[5:10].flush()  # a view flushes the whole mapping, as numpy's does
    a.flush(durable=True)
    assert np.fromfile(tmp / "h", dtype="f4").reshape(100, 100)[7, 3] == 3


def test_file_objects_named_and_unnamed(tmp):
    with tempfile.TemporaryFile() as f:
        m = mmarray.memmap(f, dtype="i2", mode="w+", shape=(4,))
        m[:] = [1, 2, 3, 4]
        m.flush()
        f.seek(0)
        assert np.frombuffer(f.read(), dtype="i2").tolist() == [1, 2, 3, 4]
        assert m.filename is None
    with open(tmp / "named", "wb+") as f:
        m = mmarray.memmap(f, dtype="u1", mode="w+", shape=3)
        assert m.filename == str(tmp / "named")


def test_views_stay_mapped_and_copies_do_not(tmp):
    a = mmarray.memmap(tmp / "v", dtype="f4", mode="w+", shape=(10, 10))
    v = a[2:5, ::2]
    assert type(v) is mmarray.memmap and v._mmap is a._mmap
    v[:] = 7
    assert a[3, 4] == 7
    assert type(a + 1) is np.ndarray
    assert type(a[[1, 2]]) is np.ndarray
    assert isinstance(a.sum(), np.floating)


def _add_one_to_quarter(args):
    """Worker: adds 1 to its quarter of a shared file (pickled by reference)."""
    arr, q = args
    n = arr.shape[0] // 4
    arr[q * n:(q + 1) * n] += 1
    arr.flush()
    return q


def test_pickles_by_reference(tmp):
    path = tmp / "big.f4"
    a = mmarray.memmap(path, dtype="f4", mode="w+", shape=(4096, 1024))  # 16 MiB
    a[:] = 2.0
    blob = pickle.dumps(a)
    assert len(blob) < 1024, f"pickle of {len(blob)} bytes"
    b = pickle.loads(blob)
    assert type(b) is mmarray.memmap and b.mode == "r+" and b.shape == a.shape
    b[0, 0] = 5
    assert a[0, 0] == 5, "the unpickled array maps the same bytes"
    view = a[100:200:3, ::-2]
    v = pickle.loads(pickle.dumps(view))
    np.testing.assert_array_equal(v, view)
    assert v.strides == view.strides
    v[1, 1] = -1
    assert view[1, 1] == -1
    # copy-on-write arrays pickle by value
    c = mmarray.memmap(path, dtype="f4", mode="c", shape=(4096, 1024))
    c[0, 0] = 99
    cv = pickle.loads(pickle.dumps(c[:2]))
    assert type(cv) is np.ndarray and cv[0, 0] == 99


def test_four_processes_write_disjoint_quarters(tmp):
    import multiprocessing

    path = tmp / "shared.f8"
    a = mmarray.memmap(path, dtype="f8", mode="w+", shape=(400_000,))
    a[:] = np.arange(400_000)
    a.flush()
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        assert sorted(pool.map(_add_one_to_quarter, [(a, q) for q in range(4)])) == [0, 1, 2, 3]
    check = np.fromfile(path, dtype="f8")
    np.testing.assert_array_equal(check, np.arange(400_000) + 1)


def test_close_releases_the_file_and_later_access_raises(tmp):
    path = tmp / "c.f8"
    a = mmarray.memmap(path, dtype="f8", mode="w+", shape=(1000,))
    a[:] = 3.0
    view = a[10:20]
    a.close()
    assert a.closed and view.closed
    for action in [lambda: a[0], lambda: view[0], lambda: a.sum(), lambda: np.mean(a), lambda: a.flush(),
                   lambda: pickle.dumps(a), lambda: a.__setitem__(0, 1.0)]:
        with pytest.raises(ValueError, match="closed memmap"):
            action()
    assert "closed" in repr(a)
    assert np.fromfile(path, dtype="f8").sum() == 3000.0, "close flushed first"
    # the lock is released: the file can be overwritten while `a` exists
    b = mmarray.memmap(path, dtype="f8", mode="w+", shape=(10,))
    b[:] = 1
    a.close()  # twice is fine
    # and paths that bypass Python read zeros instead of crashing
    assert np.asarray(a).tobytes() == bytes(8000)


def _column_sum(args):
    arr, j = args
    return float(arr[:, j].sum())


def test_concurrent_futures_process_pool_gets_the_mapping(tmp):
    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing

    a = mmarray.memmap(tmp / "cf.f8", dtype="f8", mode="w+", shape=(1000, 8))
    a[:] = np.arange(8.0)
    a.flush()
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as ex:
        sums = list(ex.map(_column_sum, [(a, j) for j in range(8)]))
    assert sums == [1000.0 * j for j in range(8)]


def _quarter_in_worker(arr, q):
    """joblib task: adds 1 to quarter q in place and reports what it got."""
    n = arr.shape[0] // 4
    arr[q * n:(q + 1) * n] += 1
    arr.flush()
    return type(arr).__module__ + "." + type(arr).__name__, float(np.sum(arr[q * n:(q + 1) * n]))


def test_joblib_workers_map_the_file(tmp):
    import joblib

    path = tmp / "jl.f8"
    a = mmarray.memmap(path, dtype="f8", mode="w+", shape=(400_000,))  # 3.2 MiB: above joblib's 1 MiB auto-memmap
    a[:] = 1.0
    a.flush()
    # loky (processes) pickles the argument: by reference, to an mmarray.memmap
    # mapping the same file, so the in-place writes land in it
    out = joblib.Parallel(n_jobs=2, backend="loky")(joblib.delayed(_quarter_in_worker)(a, q) for q in range(4))
    assert [t for t, _ in out] == ["mmarray._memmap.memmap"] * 4
    assert [s for _, s in out] == [200_000.0] * 4
    np.testing.assert_array_equal(np.fromfile(path, dtype="f8"), np.full(400_000, 2.0))
    # a slice goes by reference too
    out = joblib.Parallel(n_jobs=2)(joblib.delayed(_quarter_in_worker)(a[:200_000], q) for q in range(4))
    assert [s for _, s in out] == [150_000.0] * 4
    assert a[:200_000].sum() == 600_000.0 and a[200_000:].sum() == 400_000.0
