"""mmarray.open_memmap and mmarray.load against NumPy's."""

import numpy as np
import pytest

import mmarray


@pytest.mark.parametrize("dtype", ["<f8", ">i4", "u1", "<c8", [("x", "<f4"), ("n", "S3")]])
@pytest.mark.parametrize("fortran", [False, True])
def test_open_memmap_matches_numpy_bytes(tmp_path, dtype, fortran):
    ours, theirs = tmp_path / "o.npy", tmp_path / "t.npy"
    a = mmarray.open_memmap(ours, mode="w+", dtype=dtype, shape=(4, 5), fortran_order=fortran)
    b = np.lib.format.open_memmap(theirs, mode="w+", dtype=dtype, shape=(4, 5), fortran_order=fortran)
    assert isinstance(a, mmarray.memmap)
    for arr in (a, b):  # every byte set, through a C-contiguous view
        (arr.T if fortran else arr).view("u1")[...] = 7
    a.flush()
    b.flush()
    del a, b
    assert ours.read_bytes() == theirs.read_bytes()
    r = mmarray.open_memmap(theirs, mode="r")
    n = np.load(theirs, mmap_mode="r")
    assert r.dtype == n.dtype and r.shape == n.shape and r.strides == n.strides
    assert r.tobytes() == n.tobytes()


def test_load_modes_and_never_destroys(tmp_path):
    p = tmp_path / "keep.npy"
    np.save(p, np.arange(10.0))
    before = p.read_bytes()
    m = mmarray.load(p, mmap_mode="w+")  # NumPy's would truncate the file
    assert m.mode == "r+" and m[9] == 9.0
    del m
    assert p.read_bytes() == before
    r = mmarray.load(p, mmap_mode="r")
    assert type(r) is mmarray.memmap and r.sum() == 45.0
    c = mmarray.load(p, mmap_mode="c")
    c[0] = 100
    del c
    assert p.read_bytes() == before
    assert type(mmarray.load(p)) is np.ndarray  # no mmap_mode: NumPy's load


def test_bad_npy_files(tmp_path):
    p = tmp_path / "short.npy"
    np.save(p, np.arange(10.0))
    data = p.read_bytes()
    p.write_bytes(data[:-8])
    with pytest.raises(ValueError, match="truncated .npy"):
        mmarray.open_memmap(p, mode="r+")
    assert p.read_bytes() == data[:-8], "a truncated file was extended"
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"not an npy file at all")
    with pytest.raises(ValueError):
        mmarray.open_memmap(bad, mode="r")
    obj = tmp_path / "obj.npy"
    np.save(obj, np.array([None, 1], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="Python objects"):
        mmarray.load(obj, mmap_mode="r")
    with pytest.raises(FileNotFoundError):
        mmarray.load(tmp_path / "missing.npy", mmap_mode="r")
