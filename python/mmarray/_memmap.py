"""`mmarray.memmap`: `numpy.memmap` on a Rust mapping."""

import errno
import operator
import os
import weakref

import numpy as np

from . import _core, _engine

__all__ = ["memmap"]

_VALID_MODES = ["r", "c", "r+", "w+"]
_MODE_EQUIVALENTS = {"readonly": "r", "copyonwrite": "c", "readwrite": "r+", "write": "w+"}


# NumPy functions run on ndarray views when the engine declines them (see
# memmap.__array_function__)
_NUMPY_ON_VIEWS = frozenset([np.nanmin, np.nanmax, np.median, np.nanmedian, np.quantile, np.nanquantile, np.percentile, np.nanpercentile])


# appends of this process, one at a time (see memmap.append)
_APPEND_LOCK = __import__("threading").RLock()


class memmap(np.memmap):
    """A memory-mapped array in a file on disk: `numpy.memmap`, drop-in.

    Same signature, semantics and errors as `numpy.memmap` (it is a
    subclass of it, and so of `numpy.ndarray`), with these differences, all
    improvements:

    - space is reserved on disk when the file is created or grown, so a full
      disk is an ``OSError`` here, not a crash on some later write;
    - ``flush(durable=True)`` also fsyncs, ``madvise(...)`` gives access
      hints;
    - a file that an mmarray array of another process maps is never
      truncated (``w+`` raises ``OSError`` instead of crashing the other
      reader); in this process, ``w+`` closes the older arrays of the file
      first (they raise ``ValueError`` from then on, and never crash; they
      stay closed if the new ``w+`` then fails, for a full disk say);
    - a file truncated by another process while mapped gives ``OSError``
      (errno ``EIO``), not a ``SIGBUS`` crash.

    Examples
    --------
    >>> import numpy as np, mmarray, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "data.f32")
    >>> a = mmarray.memmap(path, dtype="float32", mode="w+", shape=(3, 4))
    >>> a[:] = np.arange(12).reshape(3, 4)
    >>> a.flush()
    >>> b = mmarray.memmap(path, dtype="float32", mode="r", shape=(3, 4))
    >>> float(b[2, 3])
    11.0
    """

    def __new__(subtype, filename, dtype=np.uint8, mode="r+", offset=0, shape=None, order="C"):
        try:
            mode = _MODE_EQUIVALENTS[mode]
        except KeyError:
            if mode not in _VALID_MODES:
                all_modes = _VALID_MODES + list(_MODE_EQUIVALENTS.keys())
                raise ValueError(f"mode must be one of {all_modes!r} (got {mode!r})") from None
        if mode == "w+" and shape is None:
            raise ValueError("shape must be given if mode == 'w+'")
        descr = np.dtype(dtype)
        itemsize = descr.itemsize

        fileobj = filename if hasattr(filename, "read") else None
        if fileobj is not None:
            if hasattr(fileobj, "flush"):
                fileobj.flush()
            fd = fileobj.fileno()
            flen = os.fstat(fd).st_size
            name = getattr(fileobj, "name", None)
            where = {"fd": fd, "label": name if isinstance(name, str) else None}
        else:
            path = os.fsdecode(os.fspath(filename))  # str, bytes or path-like, as NumPy's open()
            flen = os.stat(path).st_size if mode != "w+" and os.path.exists(path) else 0
            where = {"path": path}
        offset = operator.index(offset)
        if offset < 0:
            raise ValueError(f"offset must be non-negative, got {offset}")
        if offset >= 2**63:
            # what NumPy's mmap.mmap says of an offset past a C ssize_t
            raise OverflowError(f"offset {offset} is too large (at most {2**63 - 1})")

        if shape is None:
            nbytes = flen - offset
            if nbytes % itemsize:
                raise ValueError("Size of available data is not a multiple of the data-type size.")
            shape = (nbytes // itemsize,)
        else:
            if not isinstance(shape, (tuple, list)):
                try:
                    shape = [operator.index(shape)]
                except TypeError:
                    pass
            shape = tuple(shape)
        size = 1
        for k in shape:
            size *= int(k)
        if size < 0:
            raise ValueError("negative dimensions are not allowed")
        if mode in ("r", "c") and flen == 0 and (fileobj is not None or os.path.exists(where["path"])):
            raise ValueError("cannot mmap an empty file")
        need = int(offset) + size * itemsize
        if mode in ("r", "c") and 0 < flen < need:
            # (the mapping is of bytes: say it with the caller's dtype and shape)
            name = where.get("path") or where.get("label") or "<file>"
            raise ValueError(f"{name}: file has {flen} bytes, but offset {int(offset)} + shape {shape} of "
                             f"'{descr.str}' needs {need} (NumPy: mmap length is greater than file size)")

        if mode == "w+":
            # As NumPy lets a notebook cell re-run `w+` on a file this
            # process maps: the older arrays of this file here are closed
            # first (they read zeros and raise ValueError from then on), so
            # the overwrite is not refused as "mapped by another array".
            # Arrays of other processes still make it refuse.
            _close_older(where)
        mapping = _core.Mapping.open(mode, int(offset), size * itemsize, **where)
        _remember(mapping)
        self = np.ndarray.__new__(subtype, shape, dtype=descr, buffer=mapping, offset=0, order=order)
        self._mmap = mapping
        self.offset = offset
        self.mode = mode
        if isinstance(filename, os.PathLike):
            self.filename = filename.resolve()
        elif fileobj is not None:
            name = getattr(fileobj, "name", None)
            self.filename = os.path.abspath(name) if isinstance(name, str) else None
        else:
            self.filename = os.path.abspath(filename)
        return self

    def _check_open(self, quick=False):
        """ValueError once closed; OSError(EIO) once another process
        truncated the file under the mapping (the lost pages read as zeros,
        no SIGBUS), so no result is built on them. `quick` (element access)
        checks for a fault only, not the file's length, which a cut inside
        the last page changes without one: reductions, copies, flush and
        close see that."""
        m = self.__dict__.get("_mmap")
        if m is not None:
            m.check(not quick, self.filename)

    def close(self):
        """Flush and release the file now (NumPy's memmap has no way to).

        Afterwards the file can be deleted or overwritten and its lock is
        gone; indexing, NumPy functions, reductions, ``tolist``,
        ``tobytes``, ``flush`` and pickling on this array (or any view of
        it) raise ``ValueError``, and so does a computation another thread
        was running on it. The memory is not freed while plain NumPy arrays
        still use it (``np.asarray(a)``, ``a.view(np.ndarray)``): it becomes
        private zero pages, which such arrays read as zeros and write to
        without effect; they never crash. (Python's ``mmap.close`` raises
        ``BufferError`` in that case instead.)
        """
        if self._mmap is not None:
            self._mmap.close()
        for old in self.__dict__.get("_grown_from", ()):  # (kept for views after the mapping moved)
            old.close()

    @property
    def closed(self):
        """Whether `close()` was called on this array or a view of it."""
        m = self.__dict__.get("_mmap")
        return m is not None and m.closed

    def __repr__(self):
        if self.closed:
            return f"<closed mmarray.memmap of {self.filename}>"
        try:
            text = super().__repr__()
            self._check_open()  # (zeros read from pages lost to a truncation)
            return text
        except OSError as e:  # (a repr never raises: say what is wrong)
            return f"<mmarray.memmap of {self.filename}: {e.strerror}>"

    def __str__(self):
        if self.closed:
            return self.__repr__()
        try:
            text = super().__str__()
            self._check_open()
            return text
        except OSError:
            return self.__repr__()

    def __setitem__(self, index, value):
        self._check_open(quick=True)
        np.ndarray.__setitem__(self, index, value)
        self._check_open(quick=True)  # (a write to pages lost to a truncation reached no file)

    def __array_wrap__(self, arr, context=None, return_scalar=False):
        # As numpy.memmap: results of ufuncs and reductions are plain arrays
        # or scalars, except for subclasses, which keep their type.
        arr = np.ndarray.__array_wrap__(self, arr, context, return_scalar)
        if self is arr or type(self) is not memmap:
            return arr
        if return_scalar:
            return arr[()]
        return arr.view(np.ndarray)

    def __getitem__(self, index):
        self._check_open(quick=True)
        res = np.ndarray.__getitem__(self, index)
        self._check_open(quick=True)  # (zeros read from pages lost to a truncation)
        if type(res) is memmap and res._mmap is None:
            return res.view(type=np.ndarray)
        return res

    def __array_function__(self, func, types, args, kwargs):
        for arg in args:
            if isinstance(arg, memmap):
                arg._check_open()
        # Subclasses keep numpy.memmap's behaviour (their results stay of
        # their class), so only mmarray.memmap itself takes the engine.
        impl = _engine.HANDLED.get(func) if type(self) is memmap else None
        if impl is not None:
            result = impl(*args, **kwargs)
            if result is not _engine.FALLBACK:
                return result
        if func in _NUMPY_ON_VIEWS and type(self) is memmap:
            # NumPy's own code, run on plain ndarray views of the same bytes:
            # - nanmin/nanmax: NumPy gives numpy.memmap (by exact type) its
            #   ndarray path, and subclasses another one (which ignores
            #   `initial` for all-NaN slices);
            # - the order statistics the engine declined: NumPy's median
            #   ends in np.mean of the middle values (overwrite_input=True
            #   makes them a view of this array), and the engine's mean may
            #   round those differently in the last digit, where a median is
            #   exact; nanmedian's warnings follow the same path.
            views = tuple(x.view(np.ndarray) if type(x) is memmap else x for x in args)
            named = {k: (v.view(np.ndarray) if type(v) is memmap and k != "out" else v) for k, v in kwargs.items()}
            result = func(*views, **named)
        else:
            result = super().__array_function__(func, types, args, kwargs)
        for arg in args:  # NumPy's own code read zeros from pages lost to a truncation
            if isinstance(arg, memmap):
                arg._check_open()
        return result

    def _engine_method(self, name, *args, **kwargs):
        self._check_open()
        impl = _engine.HANDLED[_engine.METHODS[name]]
        result = impl(self, *args, **kwargs) if type(self) is memmap else _engine.FALLBACK
        if result is _engine.FALLBACK:
            result = getattr(np.ndarray, name)(self, *args, **kwargs)
            self._check_open()
        return result

    def sum(self, *args, **kwargs):
        return self._engine_method("sum", *args, **kwargs)

    def mean(self, *args, **kwargs):
        return self._engine_method("mean", *args, **kwargs)

    def var(self, *args, **kwargs):
        return self._engine_method("var", *args, **kwargs)

    def std(self, *args, **kwargs):
        return self._engine_method("std", *args, **kwargs)

    def min(self, *args, **kwargs):
        return self._engine_method("min", *args, **kwargs)

    def max(self, *args, **kwargs):
        return self._engine_method("max", *args, **kwargs)

    def argmin(self, *args, **kwargs):
        return self._engine_method("argmin", *args, **kwargs)

    def argmax(self, *args, **kwargs):
        return self._engine_method("argmax", *args, **kwargs)

    # NumPy's own methods that read or write the data: checked before and
    # after (ValueError once closed, OSError once the file was truncated,
    # including by another thread or process while they ran), so none of
    # them hands out zeros taken for data or writes nowhere in silence.
    def _checked(name):
        method = getattr(np.ndarray, name)

        def call(self, *args, **kwargs):
            self._check_open()
            try:
                result = method(self, *args, **kwargs)
            except Exception:
                # (a truncation can surface as another error first: write(2)
                # of lost pages fails with EFAULT inside tofile)
                self._check_open()
                raise
            self._check_open()
            return result

        call.__name__ = name
        call.__doc__ = f"As ``ndarray.{name}``; ``ValueError`` on a closed array, ``OSError`` on one whose file was truncated."
        return call

    for _name in ("tolist", "tobytes", "copy", "astype", "item", "tofile", "sort", "fill", "__copy__", "__deepcopy__", "byteswap",
                  "all", "any", "argpartition", "argsort", "choose", "compress", "conj", "conjugate", "cumprod", "cumsum", "dot",
                  "dump", "dumps", "nonzero", "partition", "prod", "put", "repeat", "round", "searchsorted", "take", "trace",
                  "__format__", "__bool__", "__float__", "__int__", "__complex__", "__index__", "__contains__"):
        locals()[_name] = _checked(_name)
    del _name, _checked

    @property
    def flat(self):
        """As ``ndarray.flat``; ``ValueError`` on a closed array, ``OSError``
        on one whose file was truncated (checked when the iterator is made:
        its own reads are NumPy's)."""
        self._check_open()
        return np.ndarray.flat.__get__(self)

    @flat.setter
    def flat(self, value):
        self._check_open()
        np.ndarray.flat.__set__(self, value)
        self._check_open()

    def _inplace(self, op, other, numpy_op):
        self._check_open()
        if type(self) is not memmap or _engine.inplace(self, op, other) is _engine.FALLBACK:
            result = numpy_op(self, other)
            self._check_open()
            return result
        return self

    def __iadd__(self, other):
        return self._inplace("add", other, np.ndarray.__iadd__)

    def __isub__(self, other):
        return self._inplace("sub", other, np.ndarray.__isub__)

    def __imul__(self, other):
        return self._inplace("mul", other, np.ndarray.__imul__)

    def __itruediv__(self, other):
        return self._inplace("div", other, np.ndarray.__itruediv__)

    def as_linear_operator(self):
        """This 2-D matrix as a `scipy.sparse.linalg.LinearOperator` whose
        products run the parallel engine (see `mmarray.as_linear_operator`)."""
        from ._functions import as_linear_operator

        return as_linear_operator(self)

    def to_dask_array(self, chunks="auto"):
        """This array as a dask array whose graph holds no data
        (`mmarray.to_dask`): what ``dask.array.asarray(a)`` and
        ``asanyarray`` call, so they neither copy the file into the client
        nor ship it in the graph. (``dask.array.from_array(a)`` copies the
        whole array first, ``x.copy()``, whatever the array: use
        ``asarray`` or `mmarray.to_dask`.) An array in mode 'c' has changes
        that exist only in this process: it becomes a dask array of an
        in-memory copy, as ``from_array`` makes.

        >>> import dask.array as da, numpy as np, mmarray, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "a.npy")
        >>> np.save(path, np.arange(10.0))
        >>> x = da.asarray(mmarray.load(path, mmap_mode="r"))
        >>> float(x.sum().compute()), len(x.dask) < 5
        (45.0, True)
        """
        import dask.array as da

        from ._dask import to_dask

        self._check_open()
        if self.mode == "c" or self._mmap is None or self.filename is None:
            return da.from_array(np.array(self), chunks=chunks)
        return to_dask(self, chunks=chunks)

    def __reduce__(self):
        """See `__reduce_ex__` (protocol 2)."""
        return self.__reduce_ex__(2)

    def __reduce_ex__(self, protocol):
        """Pickle by reference: the file, mode, dtype, shape, strides and
        offset, not the data, so the pickle stays small for any size and
        the receiving process maps the same bytes. Arrays in mode 'c' (whose
        changes exist only in this process) and arrays not backed by a
        mapping pickle by value, as plain ndarrays; so does a read-only
        array whose path no longer names its file (replaced by a rename, or
        deleted). A writable one refuses (OSError, ESTALE): its receiver
        would write into a copy, and every write would be lost."""
        self._check_open()
        m = self._mmap
        mapped = _mapped_identity(m)
        gone = m is not None and self.filename is not None and (mapped is None or _identity({"path": self.filename}) != mapped)
        if gone and self.mode in ("r+", "w+"):
            raise OSError(errno.ESTALE, f"{self.filename}: cannot pickle this writable array by reference: its path no "
                          "longer names the file it maps (replaced or deleted), and a copy would lose every write "
                          "made through it; pickle np.array(a) for a copy", os.fspath(self.filename))
        if m is None or self.mode == "c" or self.filename is None or gone:
            # (the receiver could not map these bytes)
            by_value = np.array(self)
            self._check_open()  # (the copy read zeros if the file was truncated or closed meanwhile)
            # (as the protocol asks: NumPy's protocol-5 form keeps a
            # non-native byte order that its older form makes native)
            return by_value.__reduce_ex__(protocol)
        data = self.__array_interface__["data"][0]
        view_offset = data - m.address
        # Reopening in 'w+' would truncate the file: the receiver opens 'r+'.
        mode = "r+" if self.mode == "w+" else self.mode
        identity = (_hostname(), *mapped)
        args = (os.fspath(self.filename), mode, m.offset, m.nbytes, self.dtype, self.shape, self.strides, view_offset, type(self), identity)
        return (_rebuild, args)

    def _npy_file(self, what):
        """The path of the `.npy` file this array is the whole of (as
        `open_memmap` made it), or ValueError saying why `what` cannot grow it."""
        path = self.__dict__.get("_npy_path")
        if path is None or self.base is not self._mmap:
            raise ValueError(f"{what} grows the array open_memmap (or mmarray.load) returned for a .npy file, "
                             f"not a raw memmap or a view")
        self._check_open()
        return path

    def _raw_file(self, what):
        """The path and row order of the raw file this memmap is the whole
        mapping of, or ValueError saying why `what` cannot grow it."""
        if self.base is not self._mmap:
            raise ValueError(f"{what} grows a memmap, or the array open_memmap returned, not a view")
        self._check_open()
        if self.filename is None or self.ndim == 0:
            raise ValueError(f"{what} needs a memmap of a named file with at least one axis")
        return os.fspath(self.filename), "F" if self.flags.f_contiguous and not self.flags.c_contiguous else "C"

    def _regrow(self, path, shape, offset, mode):
        """Make this array cover `shape` at `offset` of `path`: in place (the
        mapping grows into the address space reserved after it, so the data
        keeps its address), or, past that reservation, from a new mapping
        (with a reservation twice as large). The old mapping then stays
        alive with this array: views taken before (and plain ndarrays of
        them) still point into it, and read and write the same file bytes."""
        import time

        nbytes = int(np.prod(shape, dtype=np.int64)) * self.dtype.itemsize
        st = os.stat(path)
        if (st.st_dev, st.st_ino) != self._mmap.file_id:
            raise ValueError(f"{path}: the file was replaced by another; reopen it")
        old = self._mmap
        grown = False
        if int(offset) == old.offset:
            while True:
                try:
                    grown = old.grow(nbytes)
                    break
                except BufferError:
                    # another thread flushes (or closes) the mapping: its
                    # length cannot change until that call ends
                    time.sleep(0.001)
        if grown:
            new = old
        else:
            new = _core.Mapping.open(mode, int(offset), nbytes, path=path)
            if new.file_id != old.file_id:
                new.close()
                raise ValueError(f"{path}: the file was replaced by another; reopen it")
            _remember(new)
        while True:
            try:
                _core.regrow(self, new, list(shape))
                break
            except BufferError:
                # an engine call in another thread computes on this array:
                # its shape (and data) cannot change until that call ends
                time.sleep(0.001)
        if new is not old:
            self.__dict__.setdefault("_grown_from", []).append(old)
            self._mmap = new
            self.offset = int(offset)

    def append(self, rows):
        """Append `rows` to the file and grow this array over them (NumPy's
        memmap cannot grow): the `.npy` file `open_memmap` or `mmarray.load`
        opened, or the raw file of a memmap that ends where its file ends
        (rows are written at the file's end and fsynced; its length is their
        only record).

        Rows run along the first axis of a C-order file, the last of a
        Fortran-order one; a batch one axis short is one row; values are cast
        as NumPy's ``'same_kind'`` casting allows. The rows are made durable
        before the header names them (see `mmarray.appender`), under the
        file's write lock. The array's shape grows in place; views taken
        before keep their shape and stay valid. The mapping grows in place,
        into address space reserved after it (as much again as the data, at
        least 1 GiB); only past that is the file mapped anew, the previous
        mapping (and its descriptor) kept for as long as the array lives,
        for those views. A header written without NumPy's growth
        padding that cannot name the new length in its own bytes is
        refused here (the data would move to a new file, away from this
        array's views): `mmarray.appender` rewrites it once.

        Examples
        --------
        >>> import numpy as np, mmarray, tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "a.npy")
        >>> a = mmarray.open_memmap(p, mode="w+", dtype="int32", shape=(2, 2))
        >>> v = a[:1]
        >>> a.append([[5, 6], [7, 8]])
        >>> a.shape, v.shape, a[3].tolist()
        ((4, 2), (1, 2), [7, 8])
        >>> np.load(p).shape
        (4, 2)
        """
        if self.mode not in ("r+", "w+"):
            raise ValueError(f"append needs an array opened with mode 'r+' or 'w+', not {self.mode!r}")
        if "_npy_path" not in self.__dict__:
            return self._append_raw(rows)
        path = self._npy_file("append")
        from ._append import Appender

        # (threads of this process append one at a time; another process
        # holding the file's lock is an OSError, EBUSY)
        with _APPEND_LOCK, Appender(path, manual=True) as w:
            if w.shape != self.shape:
                self.refresh()  # (another array or process appended meanwhile: follow it first)
            if w.dtype != self.dtype or w.shape != self.shape:
                raise ValueError(f"{path}: its header says {w.dtype.str} {w.shape}, not this array's "
                                 f"{self.dtype.str} {self.shape}: the file was rewritten; reopen it")
            w.write(rows)
            if not w._w.header_fits(w.rows):
                # Growing would move the data into a new file, leaving this
                # array's views on the old one: refused, the rows cut again
                want = w.rows
                w._w.discard()
                raise ValueError(f"{path}: its header has no room for {want} rows (it was written without "
                                 f"NumPy's growth padding), so the data would move to a new file and this "
                                 f"array's views would be left on the old one: append once with "
                                 f"mmarray.appender (which rewrites it) and reopen")
            w.commit()
            offset = w._w.offset
            shape = w.close()
        self._regrow(path, shape, offset, "r+")

    def _append_raw(self, rows):
        """`append` to a raw file: rows written where the file ends (which
        must be where this array ends) and fsynced; the file's length is
        the only record of them."""
        path, order = self._raw_file("append")
        from ._append import Appender

        axis = self.ndim - 1 if order == "F" else 0
        row_shape = [n for i, n in enumerate(self.shape) if i != axis]
        with _APPEND_LOCK, Appender(path, self.dtype, row_shape, order, manual=True, _raw_offset=self.offset) as w:
            if w.shape != self.shape:
                raise ValueError(f"{path}: holds {w.shape[axis]} rows of shape {tuple(row_shape)} from byte "
                                 f"{self.offset} on, and this memmap maps {self.shape[axis]}: a raw memmap grows "
                                 f"only where its file ends")
            w.write(rows)
            w.commit()
            shape = w.close()
        self._regrow(path, shape, self.offset, "r+")

    def refresh(self):
        """See the rows a writer (an `mmarray.appender` or ``append`` in
        this or another process) committed since this array was opened:
        re-read the header and, if its shape grew along the growth axis,
        grow this array over the new rows. Returns whether it grew. The
        header only ever names rows already durable on disk, so what the
        array shows is whole rows. A growth while another thread computes
        on the array waits for that computation. As with ``append``, the
        mapping grows in place while the address space reserved after it
        holds the rows (as much again as the data, at least 1 GiB). A file replaced (renamed over) or
        rewritten by another is an error: reopen it."""
        path = self._npy_file("refresh")
        if self.mode == "c":
            raise ValueError("refresh would drop a copy-on-write array's changes (mode 'c')")
        from ._npy import _read_header

        shape, fortran, dtype, offset = _read_header(path, 10000)
        order_ok = fortran == self.__dict__.get("_npy_fortran", False)
        axis = self.ndim - 1 if fortran else 0
        st = os.stat(path)
        if (st.st_dev, st.st_ino) != self._mmap.file_id:
            raise ValueError(f"{path}: the file was replaced by another since this array was opened; reopen it")
        if tuple(shape) == self.shape and offset == self.offset:
            return False
        same_rows = (len(shape) == self.ndim and self.ndim > 0
                     and all(n == m for i, (n, m) in enumerate(zip(shape, self.shape)) if i != axis))
        if not (dtype == self.dtype and same_rows and shape[axis] >= self.shape[axis] and offset == self.offset
                and order_ok):
            raise ValueError(f"{path}: the header now says {dtype.str} {tuple(shape)} at offset {offset}, not this "
                             f"array's {self.dtype.str} {self.shape} at offset {self.offset} grown by rows: "
                             f"the file was rewritten; reopen it")
        need = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        size = os.path.getsize(path)
        if size < need:
            raise ValueError(f"{path}: the header says {tuple(shape)} ({need} bytes), but the file has {size}")
        self._regrow(path, tuple(shape), offset, "r" if self.mode == "r" else "r+")
        return True

    def flush(self, durable=False):
        """Write changes back to the file (as `numpy.memmap.flush`).

        With ``durable=True``, also fsync the file, so the data survives a
        power cut.
        """
        if self._mmap is not None:
            self._mmap.flush(durable)

    def lock(self, wait=True, timeout=None):
        """Take the file's exclusive advisory lock, as a context manager::

            with a.lock():
                a[100:200] += 1     # no other locking writer interleaves

        For writers whose read-modify-write passes must not interleave (two
        ``a += 1`` at once over the same region lose updates). Every other
        handle that asks for the lock waits, in this process or another
        (``mmarray apply`` does); readers, and writers that do not ask, are
        not held back. Workers writing disjoint regions need no lock.
        Released on leaving the ``with`` block, by ``release()``, or when
        the process ends however it ends.

        ``wait=False`` raises ``BlockingIOError`` (errno ``EAGAIN``) if
        another handle holds the lock; ``timeout`` (seconds) raises
        ``TimeoutError`` when it expires.
        """
        if self._mmap is None:
            raise ValueError("this array is not backed by a mapping")
        self._check_open()
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.001
        while True:
            held = self._mmap.try_lock()
            if held is not None:
                return held
            if not wait:
                raise BlockingIOError(errno.EAGAIN, "another writer holds the file's lock", self.filename)
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(errno.ETIMEDOUT, f"the file's lock was not free within {timeout} s", self.filename)
            time.sleep(pause)  # (without the GIL: other threads go on)
            pause = min(pause * 2, 0.05)

    def madvise(self, advice):
        """Tell the kernel how the file will be read: ``'normal'``,
        ``'sequential'``, ``'random'`` or ``'willneed'``.

        Random access to a large file is many times faster with ``'random'``
        (no read-ahead of megabytes around every page touched). A pass front
        to back needs no advice: on Linux 6.x, ``'sequential'`` made a cold
        pass slower and left the file cached in small pages, which every
        later mapping of it then faulted in about 1.7x slower (measured).
        """
        if self._mmap is None:
            raise ValueError("this array is not backed by a mapping")
        self._check_open()
        self._mmap.madvise(advice)


#: (st_dev, st_ino) -> the live mappings of that file made in this process
_LIVE = {}


def _identity(where):
    try:
        st = os.fstat(where["fd"]) if where.get("fd") is not None else os.stat(where["path"])
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _remember(mapping):
    """Files this process maps, by (device, inode) of the descriptor each
    mapping holds (not a stat of the path: a rename between the open and
    the stat would file the mapping under another file)."""
    key = mapping.file_id
    if key is not None:
        if len(_LIVE) > 256 and key not in _LIVE:
            for k in [k for k, live in _LIVE.items() if not live]:  # (files no longer mapped)
                del _LIVE[k]
        _LIVE.setdefault(key, weakref.WeakSet()).add(mapping)


def _close_older(where):
    key = _identity(where)
    for m in list(_LIVE.pop(key, ())) if key is not None else ():
        try:
            m.close()
        except OSError:
            pass  # (released all the same: a truncation it suffered is moot)


def _hostname():
    import socket

    return socket.gethostname()


#: The parts of a file's identity, in the order pickles and dask arrays keep them
_IDENTITY = ("machine", "device", "inode", "size", "modification time (ns)")


def _identity_changes(was, now):
    """How the identity `now` of the file at a path differs from `was`
    (tuples in the order of `_IDENTITY`, as long as both have): the device
    only counts on the same machine (an NFS client numbers its mounts
    itself), the modification time only where it was recorded. On another
    machine, where the modification time was recorded (a read-only array),
    the inode does not count either: a node-local copy of the file (made
    with its time, by ``cp -p`` or ``rsync -t``) has its own, and the same
    size and time to the nanosecond tell it is the same data; a file
    replaced on a shared file system has a new time."""
    changes = []
    elsewhere = len(was) > 0 and len(now) > 0 and was[0] != now[0]
    for i, (name, a, b) in enumerate(zip(_IDENTITY, was, now)):
        if i == 0 or (i == 1 and elsewhere) or (i == 4 and a is None):
            continue
        if i == 2 and elsewhere and len(was) > 4 and was[4] is not None:
            continue
        if a != b:
            changes.append(f"{name} {a} -> {b}")
    return changes


def _mapped_identity(mapping):
    """(device, inode) of the file `mapping` maps, or None (no mapping, or
    closed)."""
    return None if mapping is None else mapping.file_id


def _stat_identity(st, with_mtime=True):
    """The identity (in the order of `_IDENTITY`) of the file `st` is the
    `os.stat` result of, seen from this machine; the modification time None
    (not compared) for files still being written."""
    return (_hostname(), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns if with_mtime else None)


_OPEN_FLAGS = {"r+": os.O_RDWR, "w": os.O_WRONLY}  # (else read-only: 'r', 'c')


def _open_checked(filename, mode, identity, what):
    """A descriptor of `filename` and its `os.fstat`, opened for a mapping
    in `mode` (or for writing, 'w'); with `identity` (a tuple in the order
    of `_IDENTITY`), OSError (ESTALE) "FILENAME: WHAT (changes)" if the file
    opened differs. Checked on the descriptor itself, so a rename racing the
    open cannot slip another file in."""
    fd = os.open(filename, _OPEN_FLAGS.get(mode, os.O_RDONLY) | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if identity is not None:
            changes = _identity_changes(identity, _stat_identity(st)[:len(identity)])
            if changes:
                raise OSError(errno.ESTALE, f"{filename}: {what} ({', '.join(changes)})", filename)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def _rebuild(filename, mode, offset, nbytes, dtype, shape, strides, view_offset, cls=memmap, identity=None,
             what="not the file this array was pickled from: it was replaced since, or this machine sees another copy",
             drop_behind=False):
    """Unpickles a memmap pickled by reference: maps the same byte range of
    the same file and rebuilds the same view on it. OSError (ESTALE) if the
    path names another file than the one pickled (its inode differs, or its
    device on the same machine): replaced by a rename meanwhile, or another
    machine's copy; or if the file is now too short for the bytes pickled
    (truncated since: `r+` would silently grow it with zeros). With
    `drop_behind`, the range's pages leave the page cache when the mapping
    goes (a dask chunk of a file larger than RAM)."""
    fd, st = _open_checked(filename, mode, identity, what)
    try:
        size = st.st_size
        if identity is not None and size < offset + nbytes:
            raise OSError(errno.ESTALE, f"{filename}: {what} (truncated to {size} bytes, the array needs "
                          f"{offset + nbytes})", filename)
        mapping = _core.Mapping.open(mode, offset, nbytes, fd=fd, label=filename, drop_behind=drop_behind)
        _remember(mapping)
    finally:
        os.close(fd)
    self = np.ndarray.__new__(cls, shape, dtype=dtype, buffer=mapping, offset=view_offset, strides=strides)
    self._mmap = mapping
    self.offset = offset
    self.mode = mode
    self.filename = filename
    return self
