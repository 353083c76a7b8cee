"""dask arrays over mapped files whose graphs hold no data: each task maps
its own chunk of the file on the worker that runs it."""

import math
import os

import numpy as np

from ._memmap import _hostname, _identity_changes

__all__ = ["to_dask"]


def _identity(path, with_mtime=True):
    """What tells this file from another at the same path (see
    `_identity_changes`): the machine that looked, device, inode, size and
    modification time (None: not compared, for files still being written
    through a mapping)."""
    st = os.stat(path)
    return (_hostname(), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns if with_mtime else None)


class FileChunks:
    """The bytes of an array in a file, for dask: `x[slices]` maps just that
    chunk's byte range (on whichever process asks) and returns it as an
    `mmarray.memmap` view, so NumPy's functions on it run the engine. It
    pickles as the path, the layout and the file's identity (a few hundred
    bytes), never as data; a chunk read from a file that is no longer the
    one the array was made from (replaced, truncated, modified, another
    machine's different copy) raises OSError (ESTALE) instead of reading
    other bytes.

    Not an ndarray and without `copy`, so `dask.array.from_array` neither
    copies it nor inlines it into every task.
    """

    def __init__(self, path, mode, offset, dtype, shape, strides, identity):
        self.path = os.fspath(path)
        self.mode = mode
        self.offset = int(offset)  # the file position of element [0, ..., 0]
        self.dtype = np.dtype(dtype)
        self.shape = tuple(int(n) for n in shape)
        self.strides = tuple(int(s) for s in strides)
        self.identity = tuple(identity)

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return math.prod(self.shape)

    @property
    def nbytes(self):
        return self.size * self.dtype.itemsize

    def __repr__(self):
        return f"FileChunks({self.path!r}, dtype={self.dtype.str!r}, shape={self.shape}, offset={self.offset})"

    def __dask_tokenize__(self):
        return ("mmarray.FileChunks", self.path, self.mode, self.offset, self.dtype.str, self.shape, self.strides, self.identity)

    def __reduce__(self):
        return (FileChunks, (self.path, self.mode, self.offset, self.dtype.str, self.shape, self.strides, self.identity))

    def check_identity(self):
        """OSError (ESTALE) if the file at the path is not the one this
        array was made from."""
        import errno

        try:
            now = _identity(self.path)
        except FileNotFoundError as e:
            raise FileNotFoundError(errno.ENOENT, f"{self.path}: the file of this dask array is gone", self.path) from e
        what = _identity_changes(self.identity, now)
        if what:
            raise OSError(errno.ESTALE, f"{self.path}: not the file this dask array was made from ({', '.join(what)}); "
                          "build the array again after changing the file", self.path)

    def __getitem__(self, index):
        from ._memmap import _rebuild, memmap

        if not isinstance(index, tuple):
            index = (index,)
        if len(index) != self.ndim or not all(isinstance(s, slice) for s in index):
            raise IndexError(f"FileChunks takes one slice per dimension, got {index!r}")
        self.check_identity()
        ranges = [range(*s.indices(n)) for s, n in zip(index, self.shape)]
        shape = tuple(len(r) for r in ranges)
        strides = tuple(r.step * st for r, st in zip(ranges, self.strides))
        first = self.offset + sum(r.start * st for r, st in zip(ranges, self.strides))
        if math.prod(shape) == 0:
            return np.empty(shape, self.dtype).view(memmap)
        # the byte range the chunk touches: its lowest and highest element
        lo = first + sum((n - 1) * s for n, s in zip(shape, strides) if s < 0)
        hi = first + sum((n - 1) * s for n, s in zip(shape, strides) if s > 0) + self.dtype.itemsize
        return _rebuild(self.path, self.mode, lo, hi - lo, self.dtype, shape, strides, first - lo)


def _auto_chunks(shape, strides, itemsize, target):
    """Blocks of at most `target` bytes that are contiguous in the file
    where the layout allows: whole rows of the axes with the smallest
    strides, split along the axis with the largest stride (axis 0 in C
    order, the last in Fortran order)."""
    order = sorted(range(len(shape)), key=lambda ax: abs(strides[ax]))  # innermost first
    chunks = list(shape)
    block = itemsize
    for ax in order:
        n = max(shape[ax], 1)
        if block * n <= target:
            block *= n
            continue
        per = max(1, target // block)
        chunks[ax] = int(per)
        for outer in order[order.index(ax) + 1:]:
            chunks[outer] = 1
        break
    return tuple(chunks)


def to_dask(path_or_array, chunks="auto", **memmap_kwargs):
    """A `dask.array` over a mapped file whose graph holds no data: each
    task maps its own chunk of the file on the worker that runs it, and
    hands it on as an `mmarray.memmap` view (zero-copy; NumPy's reductions
    inside dask's tasks run the engine). The graph grows with the number of
    chunks, not with the data (a few hundred bytes per chunk).

    ``path_or_array`` is an `mmarray.memmap` (or a view of one), or a path:
    a `.npy` file, or a raw file with ``dtype=``, ``shape=``, ``offset=``,
    ``order=`` passed on to `mmarray.memmap` (opened read-only). ``chunks='auto'`` makes blocks of dask's
    ``array.chunk-size`` (128 MiB by default) that are contiguous in the
    file (whole rows, split along axis 0 in C order, along the last axis in
    Fortran order); any dask ``chunks=`` works too.

    On a cluster, the workers must see the file at the same path (a shared
    file system). A chunk read from a file that is no longer the one the
    array was made from (replaced or truncated: its inode or size differ,
    or its device on the same machine; or, for a file opened read-only,
    modified since) raises OSError (errno ESTALE) naming the file. Flush
    writes before computing: tasks map the file afresh.

    >>> import numpy as np, mmarray, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.npy")
    >>> np.save(path, np.arange(12.0).reshape(3, 4))
    >>> x = mmarray.to_dask(path, chunks=(2, 4))
    >>> x.chunks
    ((2, 1), (4,))
    >>> float(x.sum().compute())
    66.0
    """
    import dask
    import dask.array as da
    from dask.utils import parse_bytes

    from ._memmap import memmap
    from ._npy import load

    a = path_or_array
    if isinstance(a, memmap):
        mode = a.mode
    elif isinstance(a, np.ndarray):
        raise TypeError("to_dask takes an mmarray.memmap or a path; wrap an in-memory array with dask.array.from_array")
    else:
        path = os.fspath(a)
        if memmap_kwargs:
            memmap_kwargs.setdefault("mode", "r")
            a = memmap(path, **memmap_kwargs)
        else:
            a = load(path, mmap_mode="r")
        mode = a.mode
    m = a._mmap
    if m is None or a.filename is None:
        raise ValueError("to_dask needs an array mapped from a file")
    a._check_open()
    if mode == "c":
        raise ValueError(f"{a.filename}: a copy-on-write array's changes exist only in this process; "
                         "to_dask maps the file on each worker, so open it in mode 'r' or 'r+'")
    # Tasks map their chunks read-only (a dask array is not written
    # through). A writable array may still be written and flushed before the
    # graph runs (which moves the modification time): its identity leaves
    # the time out.
    first = m.offset + (a.__array_interface__["data"][0] - m.address)
    source = FileChunks(a.filename, "r", first, a.dtype, a.shape, a.strides, _identity(a.filename, with_mtime=mode == "r"))
    if isinstance(chunks, str) and chunks == "auto":
        target = parse_bytes(dask.config.get("array.chunk-size"))
        chunks = _auto_chunks(a.shape, a.strides, a.dtype.itemsize, target)
    # asarray=False keeps the chunks mmarray.memmap views; lock=False: each
    # task maps its own bytes, nothing is shared between threads
    return da.from_array(source, chunks=chunks, asarray=False, fancy=False, lock=False)
