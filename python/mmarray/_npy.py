"""`.npy` files: `open_memmap` and `load`, as NumPy's, on mmarray.memmap."""

import errno
import io
import math
import os

import numpy as np
from numpy.lib import format as _format

from . import _core
from ._memmap import _close_older, memmap

try:  # NumPy 2 keeps the header writer open_memmap uses here
    from numpy.lib._format_impl import _read_array_header, _write_array_header
except ImportError:  # NumPy 1.x
    from numpy.lib.format import _read_array_header, _write_array_header

__all__ = ["load", "open_memmap"]

_MAX_HEADER_SIZE = 10000


def _read_header(path, max_header_size):
    with open(path, "rb") as fp:
        version = _format.read_magic(fp)
        shape, fortran_order, dtype = _read_array_header(fp, version, max_header_size=max_header_size)
        return shape, fortran_order, dtype, fp.tell()


def _header(dtype, shape, fortran_order, version):
    """The `.npy` header (magic, version, dict, padding) NumPy writes for an
    array of `dtype` and `shape` in that order (`version` None: the oldest
    that holds it)."""
    header = {"descr": _format.dtype_to_descr(dtype), "fortran_order": fortran_order, "shape": tuple(shape)}
    buf = io.BytesIO()
    _write_array_header(buf, header, version)
    return buf.getvalue()


def open_memmap(filename, mode="r+", dtype=None, shape=None, fortran_order=False, version=None, *,
                max_header_size=_MAX_HEADER_SIZE):
    """Open a `.npy` file as a memory-mapped array: NumPy's
    `numpy.lib.format.open_memmap`, on `mmarray.memmap`.

    ``mode='w+'`` creates (or overwrites) the file with a header for
    ``dtype``, ``shape`` and ``fortran_order``, reserving its space on disk;
    the other modes read the header of an existing file. A file shorter than
    its header says is an error (NumPy would extend it in ``r+``).
    ``mode='a'`` (not in NumPy) opens a file to grow it: an existing file as
    ``'r+'``, else a new one of ``dtype`` and ``shape``; the array's
    ``append`` then adds rows (see `mmarray.memmap.append`).

    Examples
    --------
    >>> import mmarray, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "a.npy")
    >>> a = mmarray.open_memmap(p, mode="w+", dtype="float32", shape=(2, 3))
    >>> a[:] = 1.5
    >>> del a
    >>> float(mmarray.open_memmap(p, mode="r").sum())
    9.0
    """
    if hasattr(filename, "read"):
        raise ValueError("Filename must be a string or a path-like object.  Memmap cannot use existing file handles.")
    path = os.fspath(filename)
    # The mode is checked before the file is touched: NumPy's `"w" in mode`
    # test would overwrite an existing file for 'rw', 'readwrite' or 'w'.
    mode = {"readonly": "r", "copyonwrite": "c", "readwrite": "r+"}.get(mode, mode)
    if mode not in ("r", "c", "r+", "w+", "a"):
        raise ValueError(f"mode must be one of ['r', 'c', 'r+', 'w+', 'a', 'readonly', 'copyonwrite', 'readwrite'] (got {mode!r})")
    if mode == "a":
        # open to append: the existing file as 'r+', else a new one as 'w+'
        # (made whole or not at all; another process making it first wins)
        if not os.path.exists(path):
            if dtype is None or shape is None:
                raise FileNotFoundError(errno.ENOENT, "mode 'a' creates a missing file, which needs dtype and shape", path)
            dtype = np.dtype(dtype)
            if dtype.hasobject:
                raise ValueError("Array can't be memory-mapped: Python objects in dtype.")
            head = _header(dtype, tuple(shape), fortran_order, version)
            try:
                _core.create_file(os.path.realpath(path), len(head) + math.prod(shape) * dtype.itemsize, head, False)
            except FileExistsError:
                pass
        elif dtype is not None or shape is not None:
            # an existing file must be the array asked for (but its length
            # along the growth axis, which appends change)
            have, have_f, have_dtype, _ = _read_header(path, max_header_size)
            axis = len(have) - 1 if have_f else 0
            problems = []
            if dtype is not None and np.dtype(dtype) != have_dtype:
                problems.append(f"dtype {have_dtype.str}, not {np.dtype(dtype).str}")
            if shape is not None and (len(shape) != len(have) or any(
                    n != m for i, (n, m) in enumerate(zip(shape, have)) if i != axis)):
                problems.append(f"shape {tuple(have)}, whose rows are not those of {tuple(shape)}")
            if bool(fortran_order) != have_f and len(have) > 1:
                problems.append("Fortran order" if have_f else "C order")
            if problems:
                raise ValueError(f"{path}: mode 'a' opens the existing file, which has " + " and ".join(problems))
        mode = "r+"
    if mode == "w+":
        dtype = np.dtype(dtype)
        if dtype.hasobject:
            raise ValueError("Array can't be memory-mapped: Python objects in dtype.")
        shape = tuple(shape)
        head = _header(dtype, shape, fortran_order, version)
        order = "F" if fortran_order else "C"
        nbytes = math.prod(shape) * dtype.itemsize
        # The whole file (header, reserved zeros) is made beside the target
        # and named once durable, replacing an older file atomically: a kill
        # leaves the old file or the new one, never zeros without a header.
        # (Through a link, the file it names is replaced, as NumPy writes
        # through it.)
        target = os.path.realpath(path)
        _close_older({"path": target})  # (as memmap's w+: this process's older arrays of it are closed first)
        _core.create_file(target, len(head) + nbytes, head, True)
        m = memmap(target, dtype=dtype, mode="r+", offset=len(head), shape=shape, order=order)
        m.mode = "w+"
        m.filename = os.path.abspath(path)
        m._npy_path = target
        m._npy_fortran = bool(fortran_order)
        return m
    shape, fortran_order, dtype, offset = _read_header(path, max_header_size)
    if dtype.hasobject:
        raise ValueError("Array can't be memory-mapped: Python objects in dtype.")
    need = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    size = os.path.getsize(path)
    if size < need:
        raise ValueError(
            f"{path}: truncated .npy file: the header says shape {shape} of {dtype.str} "
            f"({need} bytes with the {offset}-byte header), but the file has {size} bytes"
        )
    m = memmap(path, dtype=dtype, shape=shape, order="F" if fortran_order else "C", mode=mode, offset=offset)
    m._npy_path = os.path.realpath(path)  # (the whole file: `append` and `refresh` may grow it)
    m._npy_fortran = bool(fortran_order)
    return m


def _is_npy(path):
    """Whether the file at `path` begins with the .npy magic (OSError if it
    cannot be read)."""
    with open(os.fspath(path), "rb") as fp:
        return fp.read(len(_format.MAGIC_PREFIX)) == _format.MAGIC_PREFIX


def load(file, mmap_mode=None, allow_pickle=False, fix_imports=True, encoding="ASCII", *, max_header_size=_MAX_HEADER_SIZE):
    """`numpy.load`, with `.npy` files memory-mapped by mmarray when
    `mmap_mode` is given.

    Unlike NumPy, ``mmap_mode='w+'`` on an existing `.npy` file does not
    truncate it (NumPy's destroys the data): it opens it for reading and
    writing, as ``'r+'``.
    """
    if mmap_mode is not None and not hasattr(file, "read"):
        if _is_npy(file):
            mode = "r+" if mmap_mode in ("w+", "write") else mmap_mode
            if allow_pickle:
                # as np.load: the header-size limit guards untrusted files,
                # and allow_pickle=True says the file is trusted
                max_header_size = 2**64
            return open_memmap(file, mode=mode, max_header_size=max_header_size)
    return np.load(file, mmap_mode=mmap_mode, allow_pickle=allow_pickle, fix_imports=fix_imports,
                   encoding=encoding, max_header_size=max_header_size)
