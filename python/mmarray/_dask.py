"""dask arrays over mapped files whose graphs hold no data: each task maps
its own chunk of the file on the worker that runs it."""

import atexit
import errno
import math
import os
import stat

import numpy as np

from . import _core
from ._memmap import _hostname, _identity_changes, _mapped_identity, _open_checked, _stat_identity

__all__ = ["store_npy", "to_dask"]

# (a module attribute, so tests can say which files are larger than RAM)
_larger_than_ram = _core.larger_than_ram
_CHANGED = "not the file this dask array was made from; build the array again after changing the file"


def _identity(path, with_mtime=True):
    """What tells this file from another at the same path (see
    `_identity_changes`): the machine that looked, device, inode, size and
    modification time (None: not compared, for files still being written
    through a mapping)."""
    return _stat_identity(os.stat(path), with_mtime)


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
        return f"FileChunks({self.path!r}, dtype={str(self.dtype)!r}, shape={self.shape}, offset={self.offset})"

    def __dask_tokenize__(self):
        return ("mmarray.FileChunks", self.path, self.mode, self.offset, str(self.dtype), self.shape, self.strides, self.identity)

    def __reduce__(self):
        return (FileChunks, (self.path, self.mode, self.offset, self.dtype, self.shape, self.strides, self.identity))

    def check_identity(self):
        """OSError (ESTALE) if the file at the path is not the one this
        array was made from."""
        try:
            now = _identity(self.path)
        except FileNotFoundError as e:
            raise self._gone() from e
        what = _identity_changes(self.identity, now)
        if what:
            raise OSError(errno.ESTALE, f"{self.path}: {_CHANGED} ({', '.join(what)})", self.path)

    def _region(self, index):
        """The shape, byte strides and file position of element [0, ...]
        of `self[index]` (one slice per dimension)."""
        if not isinstance(index, tuple):
            index = (index,)
        if len(index) != self.ndim or not all(isinstance(s, slice) for s in index):
            raise IndexError(f"FileChunks takes one slice per dimension, got {index!r}")
        ranges = [range(*s.indices(n)) for s, n in zip(index, self.shape)]
        shape = tuple(len(r) for r in ranges)
        strides = tuple(r.step * st for r, st in zip(ranges, self.strides))
        first = self.offset + sum(r.start * st for r, st in zip(ranges, self.strides))
        return shape, strides, first

    def __getitem__(self, index):
        from ._memmap import _rebuild, memmap

        shape, strides, first = self._region(index)
        if math.prod(shape) == 0:
            self.check_identity()
            return np.empty(shape, self.dtype).view(memmap)
        # the byte range the chunk touches: its lowest and highest element
        lo = first + sum((n - 1) * s for n, s in zip(shape, strides) if s < 0)
        hi = first + sum((n - 1) * s for n, s in zip(shape, strides) if s > 0) + self.dtype.itemsize
        try:
            # (the identity is checked on the descriptor that is mapped)
            # (only a chunk that is one run of the file drops its pages: the
            # range of a column chunk of a C-order file spans the other
            # chunks of its rows, whose pages would go too)
            whole_run = hi - lo == math.prod(shape) * self.dtype.itemsize
            return _rebuild(self.path, self.mode, lo, hi - lo, self.dtype, shape, strides, first - lo,
                            identity=self.identity, what=_CHANGED, drop_behind=whole_run and self._drop_behind())
        except FileNotFoundError as e:
            raise self._gone() from e

    def _drop_behind(self):
        """Whether a chunk's pages leave the page cache once its mapping
        goes (if the chunk is one contiguous run of the file): for a file
        the engine takes for larger than RAM (read-only chunks; whole chunks
        are then read once per computation, and the rest of the machine's
        cache is kept). Without it, dask's threads reading a 28 GiB file on
        a 24 GiB machine took 2.1x as long: the kernel evicted while
        reading."""
        return self.mode == "r" and _larger_than_ram(self.nbytes)

    def _gone(self):
        return FileNotFoundError(errno.ENOENT, f"{self.path}: the file of this dask array is gone", self.path)

    def __setitem__(self, index, value):
        """Writes `value` into the chunk `index` of the file (a store
        target: ``mode='w'``). With `pwrite`, in the file's contiguous runs,
        not through a mapping: a new file's pages are then never read before
        being overwritten, and only the chunk's own bytes are written, so
        two machines writing neighbouring chunks of one page over a network
        file system cannot undo each other's bytes (a mapping writes back
        whole pages). On another machine than the one that began the store
        (its identity's host), the chunk is durable (`fdatasync`) before
        this returns; on that machine the page cache is shared, and the
        final `fsync` of the whole file covers it (one sync per chunk cost
        a store of 10,000 small chunks most of its time)."""

        if self.mode != "w":
            raise ValueError(f"{self.path}: this dask array's file is read-only (FileChunks mode {self.mode!r})")
        shape, strides, first = self._region(index)
        value = np.broadcast_to(np.asarray(value, dtype=self.dtype), shape)
        if value.size == 0 or self.dtype.itemsize == 0:
            return
        if any(s <= 0 for s in strides):
            raise ValueError("FileChunks writes chunks with positive strides only")
        # the axes from the largest stride to the smallest: the chunk's
        # runs are its innermost axes that the file holds contiguously
        order = sorted(range(len(shape)), key=lambda ax: -strides[ax])
        if self.dtype.names is not None:
            # (assignment copies the fields only: padding bytes are zeros,
            # never leftovers of the memory the chunk was computed in)
            v = np.zeros([shape[ax] for ax in order], self.dtype)
            v[...] = value.transpose(order)
        else:
            v = np.ascontiguousarray(value.transpose(order))
        st = [strides[ax] for ax in order]
        full = [self.shape[ax] for ax in order]
        # axes inner.. form one run of `run` bytes in the file: the last is
        # contiguous, and each one outside it spans its whole axis
        inner, run = len(st), self.dtype.itemsize
        if st and st[-1] == run:
            inner, run = inner - 1, run * v.shape[-1]
            while inner > 0 and v.shape[inner] == full[inner] and st[inner - 1] == st[inner] * full[inner]:
                inner -= 1
                run *= v.shape[inner]
        flat = v.reshape(-1).view(np.uint8).reshape(-1, run)
        try:
            # (the identity is checked on the descriptor written through; it
            # has no modification time: the file is being written)
            fd, _ = _open_checked(self.path, "w", self.identity, "not the file this store began")
        except FileNotFoundError as e:
            raise FileNotFoundError(errno.ENOENT, f"{self.path}: the file being stored is gone (a store_npy computed "
                                    "twice, or its temporary file removed)", self.path) from e
        try:
            outer = v.shape[:inner]
            for k, idx in enumerate(np.ndindex(*outer)):
                at = first + sum(i * s for i, s in zip(idx, st))
                buf = memoryview(flat[k])
                while buf:
                    n = os.pwrite(fd, buf, at)
                    buf, at = buf[n:], at + n
            if self.identity[0] != _hostname():
                os.fdatasync(fd)
        except OSError as e:
            if e.filename is None:
                raise OSError(e.errno, f"{self.path}: cannot write a chunk: {e.strerror}", self.path) from e
            raise
        finally:
            os.close(fd)


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


def _readable_npy(path):
    """Whether `path` is a readable .npy file (an unreadable one is left to
    the opening below to report)."""
    from ._npy import _is_npy

    try:
        return _is_npy(path)
    except OSError:
        return False


def to_dask(path_or_array, chunks="auto", **memmap_kwargs):
    """A `dask.array` over a mapped file whose graph holds no data: each
    task maps its own chunk of the file on the worker that runs it, and
    hands it on as an `mmarray.memmap` view (zero-copy; NumPy's reductions
    inside dask's tasks run the engine). The graph grows with the number of
    chunks, not with the data (a few hundred bytes per chunk).

    ``path_or_array`` is an `mmarray.memmap` (or a view of one), or a path:
    a `.npy` file, or a raw file with ``dtype=``, ``shape=``, ``offset=``,
    ``order=`` passed on to `mmarray.memmap` (opened read-only). A `.npy`
    file without ``dtype=`` is read by its header (``mode=`` may be given);
    ``shape=``, ``offset=`` or ``order=`` without ``dtype=`` on one is a
    TypeError. ``chunks='auto'`` makes blocks of dask's
    ``array.chunk-size`` (128 MiB by default) that are contiguous in the
    file (whole rows, split along axis 0 in C order, along the last axis in
    Fortran order); any dask ``chunks=`` works too.

    ``dask.array.asarray(m)`` of an `mmarray.memmap` calls this too
    (`memmap.to_dask_array`). ``dask.array.from_array(m)`` cannot avoid
    copying: it calls ``m.copy()`` on any array first, reading the whole
    file into the client's memory and shipping it in the graph; use
    ``to_dask`` or ``asarray`` instead.

    On a cluster, the workers must see the file at the same path: a shared
    file system, or, for a read-only array, node-local copies that keep the
    file's size and modification time (``cp -p``, ``rsync -t``). A chunk
    read from a file that is no longer the one the array was made from
    (replaced or truncated: its size differs, or its inode, or its device
    on the same machine; or, for a file opened read-only, its modification
    time) raises OSError (errno ESTALE) naming the file. Flush writes
    before computing: tasks map the file afresh. See docs/scale-out.md.

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
        if "dtype" not in memmap_kwargs and _readable_npy(path):
            # (a .npy file's header gives its dtype, shape and order: without
            # a dtype it is opened as .npy, never as raw bytes of uint8)
            raw = sorted(set(memmap_kwargs) - {"mode"})
            if raw:
                raise TypeError(f"{path}: a .npy file's header gives its layout; {', '.join(raw)} describe a raw "
                                "file (pass dtype= too to read this file as raw bytes)")
            a = load(path, mmap_mode=memmap_kwargs.get("mode", "r"))
        elif memmap_kwargs:
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
    try:
        identity = _identity(a.filename, with_mtime=mode == "r")
    except FileNotFoundError:
        identity = None
    mapped = _mapped_identity(m)
    if mapped is None or identity is None or identity[1:3] != mapped:
        raise OSError(errno.ESTALE, f"{a.filename}: the path no longer names the file this array maps (replaced or "
                      "deleted since it was opened); open it again", a.filename)
    source = FileChunks(a.filename, "r", first, a.dtype, a.shape, a.strides, identity)
    if isinstance(chunks, str) and chunks == "auto":
        target = parse_bytes(dask.config.get("array.chunk-size"))
        chunks = _auto_chunks(a.shape, a.strides, a.dtype.itemsize, target)
    # asarray=False keeps the chunks mmarray.memmap views; lock=False: each
    # task maps its own bytes, nothing is shared between threads
    return da.from_array(source, chunks=chunks, asarray=False, fancy=False, lock=False)


def store_npy(x, path, *, fortran_order=False, version=None, overwrite=True, compute=True, **store_kwargs):
    """Writes any dask array into one new `.npy` file, in parallel: the
    scale-out counterpart of `numpy.save` (and named as it names files:
    ``.npy`` is appended to a path without it). The header is written once,
    by the caller, which reserves the whole file's space first; each task
    writes its chunk's bytes into the file on the worker that computed it
    (`pwrite`; a worker on another machine makes them durable with
    `fdatasync` before its task ends); and the file gets its name only once
    every chunk is in and the whole is durable (`fsync`). A failure or a
    kill at any instant leaves the old file at ``path`` (or no file) and
    never a partial one; a task rerun after its worker died writes the same
    bytes again, so the result is still exact. The graph holds no data: the
    target travels as its path and layout (a few hundred bytes per chunk).

    ``x`` is a dask array, or anything `dask.array.asarray` takes (an
    `mmarray.memmap` goes through `memmap.to_dask_array`, without a copy).
    ``fortran_order`` picks the file's order, ``version`` the `.npy` format
    version (None: the oldest that holds the header). With
    ``overwrite=False`` an existing ``path`` is an error
    (`FileExistsError`), checked before any work and again when naming.
    ``compute=False`` returns a `dask.delayed` whose computation stores and
    names the file; its file already exists under a hidden temporary name
    until then, and is removed when this process exits if it was never
    named (a computation that failed or never ran). Other keywords go to
    `dask.array.store` (``scheduler=``, ``lock=``, ...).

    On a cluster every worker must see ``path``'s directory at the same
    path (a shared file system): the file is made there under a hidden name
    (``.NAME.mmarray-PID-N-WHERE.tmp``) that the workers write through.

    Errors, all before any chunk is computed: ``ValueError`` for a dask
    array with unknown chunk sizes (call ``x.compute_chunk_sizes()``), an
    object dtype or an unknown ``version``; ``TypeError`` for store options
    that make no sense here (``return_stored``, ``regions``); ``OSError``
    naming the file when the directory cannot hold it (``ENOSPC`` if the
    disk cannot take its size), ``IsADirectoryError`` when ``path`` is a
    directory and ``EINVAL`` when it is a FIFO, device or socket. An error
    of a task ends the store (the temporary file is then removed).

    >>> import dask.array as da, numpy as np, mmarray, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "x.npy")
    >>> x = da.arange(12, chunks=5).reshape(3, 4) * 2
    >>> mmarray.store_npy(x, path)
    >>> np.load(path)
    array([[ 0,  2,  4,  6],
           [ 8, 10, 12, 14],
           [16, 18, 20, 22]])
    """
    import dask
    import dask.array as da

    from . import _core
    from ._memmap import memmap
    from ._npy import _header

    if isinstance(x, memmap):
        x = x.to_dask_array()
    elif not isinstance(x, da.Array):
        x = da.asarray(x)
    unsupported = {"return_stored", "regions", "targets", "load_stored"} & set(store_kwargs)
    if unsupported:
        raise TypeError(f"store_npy does not take {', '.join(sorted(unsupported))} (it stores the whole array into one new file)")
    store_kwargs.setdefault("lock", False)  # (each task writes its own bytes)
    if any(math.isnan(n) for n in x.shape):
        raise ValueError(f"store_npy needs the array's chunk sizes (its shape is {x.shape}): call x.compute_chunk_sizes() first")
    dtype = x.dtype
    if dtype.hasobject:
        raise ValueError("store_npy cannot write Python objects (an object dtype) into a mapped .npy file; use numpy.save")
    if version is not None:
        version = tuple(version) if isinstance(version, (tuple, list)) else version
        if version not in ((1, 0), (2, 0), (3, 0)):
            raise ValueError(f"we only support format version (1,0), (2,0), and (3,0), not {version}")
    # the name as numpy.save makes it: ".npy" appended unless already there
    name = os.fsdecode(path)
    if not name.endswith(".npy"):
        name += ".npy"
    shape = tuple(int(n) for n in x.shape)
    head = _header(dtype, shape, bool(fortran_order), version)
    nbytes = math.prod(shape) * dtype.itemsize
    if len(head) + nbytes >= 2**63:
        raise OSError(errno.EFBIG, f"an array of {nbytes} bytes is larger than any file can be", name)
    # (through a link, the file it names is replaced, as np.save writes through it)
    target = os.path.realpath(name)
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "is a directory (store_npy writes a new file)", name)
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise OSError(errno.EINVAL, "is not a regular file (store_npy never replaces a FIFO, device or socket)", name)
    if not overwrite and os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, "already exists (store_npy with overwrite=False)", name)
    temporary = os.fspath(_core.temporary_name(target))
    try:
        _core.create_file(temporary, len(head) + nbytes, head, False)
    except OSError as e:  # (named by the user's path, not the temporary one)
        raise type(e)(e.errno, f"{e.strerror} (while making the file under a temporary name beside it)", name) from e
    _PENDING[temporary] = os.getpid()
    try:
        strides = _file_strides(shape, dtype.itemsize, fortran_order)
        sink = FileChunks(temporary, "w", len(head), dtype, shape, strides, _identity(temporary, with_mtime=False))
        if not compute:
            stored = da.store(x, sink, compute=False, **store_kwargs)
            return dask.delayed(_publish, pure=False)(stored, temporary, target, overwrite)
        da.store(x, sink, compute=True, **store_kwargs)
    except BaseException:
        _remove(temporary)
        raise
    _publish(None, temporary, target, overwrite)


#: Temporary files of `store_npy` not yet named (a computation that failed,
#: or one never computed, with compute=False) -> the process that made
#: them, which removes them when it exits (not a child forked from it).
_PENDING = {}


@atexit.register
def _remove_pending():
    for t, pid in list(_PENDING.items()):
        if pid == os.getpid():
            _remove(t)


def _remove(path):
    _PENDING.pop(path, None)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _file_strides(shape, itemsize, fortran_order):
    """Byte strides of a contiguous array of `shape` in C or Fortran order."""
    strides, step = [0] * len(shape), itemsize
    for ax in (range(len(shape)) if fortran_order else reversed(range(len(shape)))):
        strides[ax] = step
        step *= max(shape[ax], 1)
    return tuple(strides)


def _publish(_stored, temporary, target, replace):
    """The last task of `store_npy`: the whole file durable, then named."""
    from . import _core

    if not os.path.exists(temporary):
        raise FileNotFoundError(errno.ENOENT, f"{target}: this store_npy was computed already (its file is named), or its "
                                f"temporary file {temporary} was removed: call store_npy again", target)
    try:
        _core.publish_file(temporary, target, replace)
    finally:
        _PENDING.pop(temporary, None)
