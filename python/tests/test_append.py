"""Issue 13 from Python: arrays that grow. `memmap.append` grows the array
in place (old views stay valid), `refresh` follows another process's
commits, `mmarray.appender` streams rows crash-consistently under one
writer's lock, `open_memmap(mode='a')`; NumPy reads every file."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import mmarray

DTYPES = ["bool", "i1", "u2", "<i4", ">i8", "<f2", "<f4", ">f8", "<c8", ">c16"]


def _batch(dtype, shape, start):
    k = np.arange(start, start + int(np.prod(shape))).reshape(shape)
    return (k % 2 == 1) if np.dtype(dtype) == bool else (k % 100).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fortran", [False, True])
@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
def test_numpy_reads_every_appended_file(tmp_path, dtype, fortran, version):
    p = tmp_path / "a.npy"
    shape = (3, 2, 0) if fortran else (0, 3, 2)
    np.lib.format.open_memmap(p, mode="w+", dtype=dtype, shape=shape, fortran_order=fortran, version=version).flush()
    axis = 2 if fortran else 0
    want = []
    a = mmarray.open_memmap(p, mode="r+")
    for start, n in [(0, 1), (6, 4), (30, 7)]:
        rows = np.moveaxis(_batch(dtype, (n, 3, 2), start), 0, axis)
        a.append(rows)
        want.append(rows)
    want = np.concatenate(want, axis=axis)
    assert a.shape == want.shape and (a == want).all()
    got = np.load(p)
    assert got.dtype == np.dtype(dtype) and got.shape == want.shape and (got == want).all()
    assert np.isfortran(got) == fortran
    with open(p, "rb") as f:
        assert np.lib.format.read_magic(f) == version
    assert np.load(p, mmap_mode="r").shape == want.shape


def test_append_grows_in_place_and_old_views_stay_valid(tmp_path):
    p = tmp_path / "g.npy"
    a = mmarray.open_memmap(p, mode="w+", dtype="f8", shape=(4, 1000))
    a[:] = 1.0
    view, plain, row = a[1:3], np.asarray(a), a[0]
    for k in range(20):
        a.append(np.full((50, 1000), k, dtype="f8"))
    assert a.shape == (1004, 1000) and a.flags.c_contiguous and a.flags.writeable
    assert view.shape == (2, 1000) and plain.shape == (4, 1000)
    # the old views still read and write the file's bytes
    view[0, 0] = -5.0
    plain[3, 999] = -6.0
    row[:] = 2.0
    assert a[1, 0] == -5.0 and a[3, 999] == -6.0 and (a[0] == 2.0).all()
    assert float(a[1003, 0]) == 19.0
    assert np.sum(a) == pytest.approx(np.sum(np.load(p)))
    a.flush()
    b = np.load(p)
    assert b[1, 0] == -5.0 and b[3, 999] == -6.0 and (b[-50:] == 19).all()
    # a float array into an int file: NumPy's same_kind rule
    i = mmarray.open_memmap(tmp_path / "i.npy", mode="w+", dtype="i4", shape=(1, 2))
    with pytest.raises(TypeError):
        i.append(np.array([[1.5, 2.5]]))
    with pytest.raises(ValueError, match=r"a batch of shape \(1, 3\) does not fit rows of shape \(2,\)"):
        i.append([[1, 2, 3]])
    assert i.shape == (1, 2) and np.load(tmp_path / "i.npy").shape == (1, 2)


def _maps_of(path):
    with open("/proc/self/maps") as f:
        return sum(line.rstrip("\n").endswith(os.fspath(path)) for line in f)


def test_growth_keeps_the_data_address_and_takes_no_descriptors(tmp_path):
    p = tmp_path / "k.npy"
    a = mmarray.open_memmap(p, mode="w+", dtype="<f4", shape=(4, 256))
    r = mmarray.open_memmap(p, mode="r")
    addr = (a.__array_interface__["data"][0], r.__array_interface__["data"][0])
    fds = len(os.listdir("/proc/self/fd"))
    first = np.asarray(r)
    for k in range(500):
        a.append(np.full((1 + k % 7, 256), k, "<f4"))
        assert r.refresh()
        assert (a.__array_interface__["data"][0], r.__array_interface__["data"][0]) == addr
    n = 4 + sum(1 + k % 7 for k in range(500))
    assert a.shape == r.shape == (n, 256) and r[-1, 0] == 499
    assert np.array_equal(np.asarray(r), np.load(p))
    # no mapping or descriptor kept per growth (each kept one before)
    assert len(os.listdir("/proc/self/fd")) == fds
    assert not a.__dict__.get("_grown_from") and not r.__dict__.get("_grown_from")
    assert _maps_of(p) <= 4, _maps_of(p)
    a[0, 0] = 7.0
    assert first[0, 0] == 7.0 and first.shape == (4, 256)
    # past the address space reserved after the mapping (at least 1 GiB):
    # mapped anew, the old mapping kept for the views into it
    with mmarray.appender(p) as w:
        w.resize((1 << 30) // 1024 + 1000)
    assert r.refresh() and r.shape[0] == (1 << 30) // 1024 + 1000
    assert r.__array_interface__["data"][0] != addr[1] and len(r.__dict__["_grown_from"]) == 1
    assert r[0, 0] == 7.0 and r[n - 1, 0] == 499 and r[-1, 255] == 0
    a[1, 1] = 8.0
    assert first[1, 1] == 8.0 and r[1, 1] == 8.0
    # the new mapping reserved as much again: later growth stays in place
    moved = r.__array_interface__["data"][0]
    with mmarray.appender(p) as w:
        w.write(np.full((1000, 256), 3, "<f4"))
    assert r.refresh() and r.__array_interface__["data"][0] == moved and len(r.__dict__["_grown_from"]) == 1
    assert r[-1, 0] == 3


def test_growth_under_an_address_space_limit_reserves_within_it(tmp_path):
    # (ulimit -v counts reserved address space: a reservation takes at most
    # a quarter of what the limit leaves, so growth stays in place there and
    # a growth past it maps anew instead of failing)
    p = str(tmp_path / "v.npy")
    script = textwrap.dedent(f"""
        import resource, numpy as np, mmarray
        a = mmarray.open_memmap({p!r}, mode="w+", dtype="<f4", shape=(4, 1024))
        with open("/proc/self/statm") as f:
            size = int(f.read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (size + (1 << 30), resource.RLIM_INFINITY))
        b = mmarray.open_memmap({p!r}, mode="r+")
        v = np.asarray(b)
        for k in range(3):
            b.append(np.full((1, 1024), k, "<f4"))  # (a page per row)
        small = len(b.__dict__.get("_grown_from", []))
        with mmarray.appender({p!r}) as w:
            w.resize(75007)  # (300 MiB: past the reservation)
        b.refresh()
        print(small, len(b.__dict__.get("_grown_from", [])), b.shape, a.refresh(), a.shape,
              len(a.__dict__.get("_grown_from", [])), int(v[3, 0]))
        """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    # b, opened under the limit: in place, then one move; a, opened before: in place
    assert out.stdout.split() == ["0", "1", "(75007,", "1024)", "True", "(75007,", "1024)", "0", "0"], out.stdout


def test_growth_waits_for_a_flush_in_another_thread_and_close_releases_every_mapping(tmp_path):
    import threading

    p = tmp_path / "t.npy"
    a = mmarray.open_memmap(p, mode="w+", dtype="<f8", shape=(1000, 512))
    stop = threading.Event()

    def flush():
        while not stop.is_set():
            a.flush()

    t = threading.Thread(target=flush)
    t.start()
    try:
        for k in range(100):
            a.append(np.full((10, 512), k, "<f8"))
    finally:
        stop.set()
        t.join()
    assert a.shape == (2000, 512) == np.load(p, mmap_mode="r").shape and a[-1, 0] == 99
    # a move past the reservation keeps the old mapping for old views, and
    # close releases it too
    v = np.asarray(a)
    with mmarray.appender(p) as w:
        w.resize((1 << 30) // 4096 + 5000)
    assert a.refresh() and len(a.__dict__["_grown_from"]) == 1 and _maps_of(p) >= 2
    fds = len(os.listdir("/proc/self/fd"))
    a.close()
    assert _maps_of(p) == 0 and len(os.listdir("/proc/self/fd")) == fds - 2
    v[0, 0] = 5.0  # (zero pages now: no crash, no effect on the file)
    assert np.load(p, mmap_mode="r")[0, 0] == 0.0


@pytest.mark.parametrize("order", ["C", "F"])
def test_a_raw_memmap_appends_where_its_file_ends(tmp_path, order):
    p = tmp_path / "raw.i2"
    with open(p, "wb") as f:
        f.write(b"head" * 4)  # 16 bytes before the array
    a = mmarray.memmap(p, dtype=">i2", mode="r+", offset=16, shape=(3, 4), order=order)
    a[:] = np.arange(12).reshape(3, 4)
    addr, view = a.__array_interface__["data"][0], a[:2]
    axis = 1 if order == "F" else 0
    for k in range(50):
        a.append(np.full((3, 1) if order == "F" else (1, 4), k, ">i2"))
    want_rows = 3 + 50 if order == "C" else 4 + 50
    assert a.shape[axis] == want_rows and a.__array_interface__["data"][0] == addr
    view[0, 0] = -1
    a.flush()
    raw = np.fromfile(p, dtype=">i2", offset=16)
    b = raw.reshape(a.shape, order=order)
    assert b[0, 0] == -1 and np.array_equal(b, a) and b.take(-1, axis=axis).tolist() == [49] * b.shape[1 - axis]
    # np.memmap reads what it wrote, as NumPy would lay it out
    assert np.array_equal(np.memmap(p, dtype=">i2", mode="r", offset=16, shape=a.shape, order=order), a)


def test_what_cannot_grow_says_why(tmp_path):
    p = tmp_path / "r.npy"
    np.save(p, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="mode 'r\\+' or 'w\\+'"):
        mmarray.open_memmap(p, mode="r").append([[1, 2]])
    with pytest.raises(ValueError, match="not a view"):
        mmarray.open_memmap(p, mode="r+")[1:].append([[1, 2]])
    # a raw memmap grows only where its file ends
    raw = mmarray.memmap(tmp_path / "raw.bin", dtype="f8", mode="w+", shape=(2, 2))
    with pytest.raises(ValueError, match="not a view"):
        raw[1:].append([[1, 2]])
    prefix = mmarray.memmap(tmp_path / "raw.bin", dtype="f8", mode="r+", shape=(1, 2))
    with pytest.raises(ValueError, match=r"holds 2 rows of shape \(2,\) from byte 0 on, and this memmap maps 1: "
                                         r"a raw memmap grows only where its file ends"):
        prefix.append([[1, 2]])
    with open(tmp_path / "raw.bin", "ab") as f:
        f.write(b"\0" * 3)
    with pytest.raises(ValueError, match=r"not whole rows of 16 bytes \(3 bytes left over: an append killed midway leaves part of a row.*cut it off to 32 bytes"):
        raw.append([[1, 2]])
    assert raw.shape == (2, 2) and os.path.getsize(tmp_path / "raw.bin") == 35
    with pytest.raises(FileNotFoundError, match="needs dtype and shape"):
        mmarray.open_memmap(tmp_path / "missing.npy", mode="a")
    # an interrupted append's tail: repair first
    with open(p, "ab") as f:
        f.write(b"\0" * 20)
    with pytest.raises(ValueError, match=r"holds 20 bytes \(1 whole rows\) past its header's shape \(2, 2\)"):
        mmarray.open_memmap(p, mode="r+").append([[1, 2]])
    with pytest.raises(ValueError, match="interrupted append"):
        mmarray.appender(p)


WRITER = textwrap.dedent("""
    import sys, time, numpy as np, mmarray
    path, n, every = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    with mmarray.appender(path, dtype="<f4", row_shape=3, commit_rows=every) as w:
        start = w.rows
        print("ready", flush=True)
        for k in range(start, start + n, 97):
            m = min(97, start + n - k)
            r = np.arange(k, k + m, dtype="f4")[:, None] + np.array([0, 0.25, 0.5], "f4")
            w.write(r)
    """)


def _rows(n):
    return np.arange(n, dtype="f4")[:, None] + np.array([0, 0.25, 0.5], "f4")


def test_a_reader_refreshing_during_appends_sees_whole_committed_rows(tmp_path):
    p = str(tmp_path / "s.npy")
    mmarray.appender(p, dtype="<f4", row_shape=3).close()
    r = mmarray.open_memmap(p, mode="r")
    child = subprocess.Popen([sys.executable, "-c", WRITER, p, "300000", "1"], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "ready\n"
    # a second writer while the first holds the lock
    with pytest.raises(OSError) as e:
        mmarray.appender(p)
    assert e.value.errno == 16 and f"process {child.pid} holds its write lock" in str(e.value)
    seen, grew = 0, 0
    while child.poll() is None:
        if r.refresh():
            grew += 1
            assert r.shape[0] >= seen
            seen = r.shape[0]
            assert (r[:seen] == _rows(seen)).all()  # every row whole and exact
    assert child.wait() == 0
    r.refresh()
    assert r.shape == (300000, 3) and (r == _rows(300000)).all()
    assert grew >= 2, grew
    assert [b.shape for b in mmarray.follow(p, interval=0.01, idle_exit=0.05)] == [(300000, 3)]


def test_killed_appenders_leave_files_numpy_loads(tmp_path):
    p = str(tmp_path / "k.npy")
    last = 0
    for trial in range(6):
        child = subprocess.Popen([sys.executable, "-c", WRITER, p, str(10**8), str([1, 50, 5000][trial % 3])],
                                 stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline() == "ready\n"
        time.sleep(0.05 + 0.05 * trial)
        child.send_signal(signal.SIGKILL)
        child.wait()
        a = np.load(p)
        assert a.shape[0] >= last and (a == _rows(a.shape[0])).all()
        size = os.path.getsize(p)
        need = len(open(p, "rb").read(4096).split(b"\n", 1)[0]) + 1 + a.nbytes
        if size > need:
            # the next appender is refused until the tail is adopted or cut
            with pytest.raises(ValueError, match="interrupted append"):
                mmarray.appender(p)
            with open(p, "r+b") as f:
                f.truncate(need)
        last = a.shape[0]
    assert last > 0


def test_a_header_without_growth_room_is_rewritten(tmp_path):
    p = tmp_path / "old.npy"
    # NumPy before 1.9 (and other writers) padded the header to 16 bytes,
    # with no room for a longer shape: here 3 spaces, so (9999,) fits and
    # (100000,) does not
    body = b"{'descr':'<i8','fortran_order':False,'shape':(9,)}"
    pad = -(10 + len(body) + 1) % 16
    head = b"\x93NUMPY\x01\x00" + (len(body) + pad + 1).to_bytes(2, "little") + body + b" " * pad + b"\n"
    assert len(head) % 16 == 0
    p.write_bytes(head + np.arange(9, dtype="<i8").tobytes())
    assert np.load(p).tolist() == list(range(9))
    a = mmarray.open_memmap(p, mode="r+")
    a.append(np.arange(9, 9999, dtype="<i8"))
    assert a.offset == len(head)
    view = a[:5]
    # (100000,) does not fit: the data would move to a new file, away from
    # this array's views, so the array refuses and leaves the file as it was
    with pytest.raises(ValueError, match="has no room for 100000 rows"):
        a.append(np.arange(9999, 100000, dtype="<i8"))
    assert a.shape == (9999,) and np.load(p).shape == (9999,) and os.path.getsize(p) == len(head) + 9999 * 8
    view[0] = -1
    assert np.load(p)[0] == -1
    # an appender rewrites it once, moving the data, and says so
    with mmarray.appender(p) as w:
        w.write(np.arange(9999, 100000, dtype="<i8"))
        assert "had no room for the shape (100000,)" in w.header_rewritten
    b = mmarray.open_memmap(p, mode="r")
    assert b.offset % 64 == 0 and b.offset != len(head)
    want = np.arange(100000)
    want[0] = -1
    assert (np.load(p) == want).all() and (b == want).all()
    assert os.listdir(tmp_path) == ["old.npy"]
    # the old array was left on the old file: it says so instead of growing
    with pytest.raises(ValueError, match="replaced"):
        a.refresh()


def test_appender_policies_and_resize(tmp_path):
    p = tmp_path / "p.npy"
    with mmarray.appender(p, dtype="u1", row_shape=(2, 2), manual=True) as w:
        w.write(np.ones((3, 2, 2), "u1"))
        assert (w.rows, w.committed_rows) == (3, 0)
        assert np.load(p).shape == (0, 2, 2)
        assert w.commit() == 3
        w.write(np.ones((2, 2), "u1"))  # one row
    assert np.load(p).shape == (4, 2, 2)
    with mmarray.appender(p, commit_rows=10) as w:
        for _ in range(9):
            w.write(np.zeros((1, 2, 2), "u1"))
        assert w.committed_rows == 4
        w.write(np.zeros((1, 2, 2), "u1"))
        assert w.committed_rows == 14
        assert w.resize(20) == 20
        assert w.resize(2) == 2
    assert np.load(p).shape == (2, 2, 2)
    with pytest.raises(ValueError, match="the file has dtype uint8, not float32|dtype |u1"):
        mmarray.appender(p, dtype="f4")
    with pytest.raises(ValueError, match="at most one of"):
        mmarray.appender(p, commit_rows=1, manual=True)


def test_growth_waits_for_a_computation_in_another_thread(tmp_path):
    # was an abort: rust-numpy's borrow of the array, keyed by its base,
    # could not be released once append had moved the base
    import threading

    a = mmarray.open_memmap(tmp_path / "t.npy", mode="w+", dtype="f8", shape=(200_000, 4))
    a[:] = 1.0
    sums = []

    def grow():
        for _ in range(100):
            a.append(np.ones((10, 4)))

    t = threading.Thread(target=grow)
    t.start()
    while t.is_alive():
        sums.append(float(np.sum(a)))
    t.join()
    assert a.shape == (201_000, 4) and float(np.sum(a)) == 804_000.0
    assert all(s % 40 == 0 and 800_000 <= s <= 804_000 for s in sums)


def test_follow_keeps_one_mapping_and_fortran_rows_grow_the_last_axis(tmp_path):
    p = str(tmp_path / "f.npy")
    with mmarray.appender(p, dtype="<f4", row_shape=1, order="F") as w:
        w.write(np.ones((1, 1), "f4"))
    r = mmarray.open_memmap(p, mode="r")
    # 300 growths followed under a limit of 64 open files
    script = textwrap.dedent(f"""
        import resource, threading, numpy as np, mmarray
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        def write():
            for k in range(300):
                with mmarray.appender({p!r}) as w:
                    w.write(np.full((1, 1), k, "f4"))
        t = threading.Thread(target=write)
        t.start()
        n = sum(b.shape[1] for b in mmarray.follow({p!r}, interval=0.001, idle_exit=1.0))
        t.join()
        print(n)
        """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.split() == ["301"], out.stderr[-2000:]
    assert r.refresh() and r.shape == (1, 301)
    assert r[0, -1] == 299
    # an unsigned file takes a list of Python ints, as a[...] = [1, 2] does
    u = mmarray.open_memmap(tmp_path / "u.npy", mode="w+", dtype="u2", shape=(0, 2))
    u.append([1, 2])
    assert u.tolist() == [[1, 2]]


def test_two_arrays_of_one_file_append_in_turn(tmp_path):
    p = tmp_path / "two.npy"
    a = mmarray.open_memmap(p, mode="w+", dtype="i4", shape=(1, 2))
    b = mmarray.open_memmap(p, mode="r+")
    a.append([[1, 2]])
    b.append([[3, 4]])  # follows a's rows first
    assert b.tolist() == [[0, 0], [1, 2], [3, 4]]
    assert a.refresh() and a.tolist() == b.tolist()


def test_threads_append_in_turn_and_rewrites_are_refused(tmp_path):
    import threading

    p = tmp_path / "th.npy"
    a = mmarray.open_memmap(p, mode="w+", dtype="i8", shape=(0,))
    b = mmarray.open_memmap(p, mode="r+")
    errors = []

    def add(arr, k):
        try:
            for i in range(50):
                arr.append([k * 1000 + i])
        except Exception as e:  # noqa: BLE001 (collected for the assert)
            errors.append(e)

    ts = [threading.Thread(target=add, args=(x, k)) for k, x in enumerate([a, a, b, b])]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []
    got = np.load(p)
    assert sorted(got.tolist()) == sorted(k * 1000 + i for k in range(4) for i in range(50))
    # mode 'a' on an existing file of another array
    with pytest.raises(ValueError, match="dtype <i8, not <f4"):
        mmarray.open_memmap(p, mode="a", dtype="f4", shape=(0,))
    assert mmarray.open_memmap(p, mode="a", dtype="i8", shape=(0,)).shape == (200,)
    # a file rewritten in place (np.save over it) under an appender
    w = mmarray.appender(p, manual=True)
    w.write([1])
    np.save(p, np.arange(5))
    with pytest.raises(OSError, match="was rewritten by another writer"):
        w.commit()
    with pytest.raises(OSError, match="was rewritten by another writer"):
        w._w.discard()
    with pytest.raises(OSError, match="was rewritten by another writer"):
        w.close()
    assert np.load(p).tolist() == [0, 1, 2, 3, 4]
    assert os.path.getsize(p) == 128 + 40  # the other writer's file, untouched
    # follow: a file replaced under its name is not followed
    gen = mmarray.follow(p, interval=0.01, idle_exit=2)
    assert next(gen).tolist() == [0, 1, 2, 3, 4]
    np.save(tmp_path / "other.npy", np.arange(10))
    os.replace(tmp_path / "other.npy", p)
    with pytest.raises(ValueError, match="replaced by another while followed"):
        next(gen)
