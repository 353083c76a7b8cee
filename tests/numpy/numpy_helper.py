"""NumPy side of mmarray's compatibility tests.

    python numpy_helper.py gen DIR    write arrays with NumPy, plus DIR/manifest.json
    python numpy_helper.py check DIR  verify arrays mmarray wrote (DIR/manifest.json)

Every array holds `formula(dtype, shape)`, computed identically by the Rust
tests: element with C-order flat index i is
  bool: i % 3 == 0;  signed ints: (i * 37) % 200 - 100;  unsigned: (i * 37) % 251;
  floats: i * 0.25 - 3;  complex: i * 0.5 - 1j * i.
"""
import json
import os
import sys

import numpy as np

try:  # where NumPy 2 keeps the header writer open_memmap uses
    from numpy.lib import _format_impl
except ImportError:  # NumPy 1.x
    from numpy.lib import format as _format_impl

KINDS = ["b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16"]
SHAPES = [(7,), (3, 4), (2, 3, 5), (0, 3), ()]


def formula(dtype, shape):
    dtype = np.dtype(dtype)
    i = np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.int64).reshape(shape)
    k = dtype.kind
    if k == "b":
        v = i % 3 == 0
    elif k == "i":
        v = (i * 37) % 200 - 100
    elif k == "u":
        v = (i * 37) % 251
    elif k == "f":
        v = i * 0.25 - 3
    else:
        v = i * 0.5 - 1j * i
    return np.asarray(v).astype(dtype)  # a 0-d array, not a scalar (scalars lose byte order)


def gen(d):
    entries = []

    n = 0
    for kind in KINDS:
        for order_char in ["<", ">"]:
            descr = ("|" if kind in ("b1", "i1", "u1") else order_char) + kind
            for shape in SHAPES:
                for fortran in [False, True]:
                    if fortran and len(shape) < 2:
                        continue
                    base = formula(descr, shape)
                    arr = np.asfortranarray(base) if fortran else np.ascontiguousarray(base)
                    for version in [(1, 0), (2, 0), (3, 0)]:
                        name = f"np{n}.npy"
                        n += 1
                        with open(os.path.join(d, name), "wb") as f:
                            np.lib.format.write_array(f, arr, version=version)
                        m = np.load(os.path.join(d, name), mmap_mode="r")
                        header_fortran = bool(arr.flags.f_contiguous and not arr.flags.c_contiguous)
                        entries.append(dict(name=name, kind="npy", descr=m.dtype.str, shape=list(m.shape),
                                            fortran=header_fortran, offset=int(m.offset), version=f"{version[0]}.{version[1]}"))
                    # open_memmap (numpy's way to create a mapped .npy)
                    name = f"np{n}.npy"
                    n += 1
                    mm = np.lib.format.open_memmap(os.path.join(d, name), mode="w+", dtype=arr.dtype,
                                                   shape=arr.shape, fortran_order=fortran)
                    mm[...] = base
                    mm.flush()
                    entries.append(dict(name=name, kind="npy", descr=mm.dtype.str, shape=list(mm.shape),
                                        fortran=fortran, offset=int(mm.offset), version="1.0"))
                    del mm
                    # raw np.memmap at an odd offset after a header-like prefix
                    if shape and np.prod(shape) > 0:
                        name = f"np{n}.raw"
                        n += 1
                        offset = 13
                        with open(os.path.join(d, name), "wb") as f:
                            f.write(b"HEADER-PREFIX"[:offset])
                        mm = np.memmap(os.path.join(d, name), dtype=arr.dtype, mode="r+", offset=offset,
                                       shape=arr.shape, order="F" if fortran else "C")
                        mm[...] = base
                        mm.flush()
                        entries.append(dict(name=name, kind="raw", descr=mm.dtype.str, shape=list(mm.shape),
                                            fortran=fortran, offset=offset, version=None))
                        del mm
    # np.save's own default path, which is what most users call
    for kind in KINDS:
        name = f"save_{kind}.npy"
        np.save(os.path.join(d, name), formula(kind, (4, 5)))
        entries.append(dict(name=name, kind="npy", descr=np.dtype(kind).str, shape=[4, 5], fortran=False,
                            offset=128, version="1.0"))
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump(entries, f)
    print(len(entries))


def check(d):
    with open(os.path.join(d, "manifest.json")) as f:
        entries = json.load(f)
    failures = []
    for e in entries:
        path = os.path.join(d, e["name"])
        order = "F" if e["fortran"] else "C"
        if e["kind"] == "npy":
            arr = np.load(path, mmap_mode="r")
            with open(path, "rb") as f:
                version = np.lib.format.read_magic(f)
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                if version == (3, 0):
                    read = lambda f: _format_impl._read_array_header(f, version=(3, 0))  # noqa: E731
                _, fortran_order, _ = read(f)
            if e.get("version") and version != tuple(int(x) for x in e["version"].split(".")):
                failures.append(f"{e['name']}: version {version}, expected {e['version']}")
            if fortran_order != e["fortran"]:
                failures.append(f"{e['name']}: fortran_order {fortran_order}, expected {e['fortran']}")
            # np.load (not mmap) must agree too
            full = np.load(path)
        else:
            arr = np.memmap(path, dtype=e["descr"], mode="r", offset=e["offset"], shape=tuple(e["shape"]), order=order)
            full = np.array(arr)
        expected = formula(e["descr"], tuple(e["shape"]))
        if arr.dtype.str != e["descr"]:
            failures.append(f"{e['name']}: dtype {arr.dtype.str}, expected {e['descr']}")
        if list(arr.shape) != e["shape"]:
            failures.append(f"{e['name']}: shape {arr.shape}, expected {e['shape']}")
        if not np.array_equal(np.asarray(arr), expected) or not np.array_equal(full, expected):
            failures.append(f"{e['name']}: values differ")
        if e.get("numpy_bytes_equal"):
            # the header bytes must be exactly what np.save writes
            ref = os.path.join(d, "ref_" + e["name"])
            # open_memmap's own path: the header from the explicit
            # fortran_order (write_array would say False for empty arrays).
            with open(ref, "wb") as f:
                header = {"descr": np.lib.format.dtype_to_descr(expected.dtype),
                          "fortran_order": e["fortran"], "shape": tuple(e["shape"])}
                _format_impl._write_array_header(f, header, tuple(int(x) for x in e["version"].split(".")))
                f.write(expected.tobytes(order=order))
            if open(ref, "rb").read() != open(path, "rb").read():
                a, b = open(ref, "rb").read(), open(path, "rb").read()
                failures.append(f"{e['name']}: bytes differ from NumPy's write_array:\n  numpy   {a[:160]!r}\n  mmarray {b[:160]!r}")
    if failures:
        print("\n".join(failures))
        sys.exit(1)
    print(f"ok {len(entries)}")


if __name__ == "__main__":
    {"gen": gen, "check": check}[sys.argv[1]](sys.argv[2])
