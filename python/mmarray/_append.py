"""Arrays that grow: `appender` (rows streamed onto a `.npy` file,
crash-consistently) and `follow` (the rows another process commits), on the
core's `Appender`."""

import os
import time

import numpy as np

from . import _core

__all__ = ["Appender", "appender", "follow"]


def _as_rows(batch, dtype, order, axis, row_shape, ndim, what):
    """`batch` as whole rows of the file: its dtype (cast as NumPy's
    'same_kind' allows: float64 into float32 yes, float into int no), a
    batch one axis short being one row."""
    # (a list or a scalar takes the file's dtype as `a[...] = [1, 2]` does;
    # an array is cast only as far as 'same_kind' allows)
    rows = batch if isinstance(batch, np.ndarray) else np.asarray(batch, dtype=dtype)
    if rows.ndim == ndim - 1:
        rows = np.expand_dims(rows, axis)
    got = tuple(n for i, n in enumerate(rows.shape) if i != axis)
    if rows.ndim != ndim or got != tuple(row_shape):
        raise ValueError(f"{what}: a batch of shape {rows.shape} does not fit rows of shape {tuple(row_shape)} "
                         f"along axis {axis}")
    return rows.astype(dtype, order=order, casting="same_kind", copy=False)


class Appender:
    """Appends rows to a `.npy` file: see `mmarray.appender`."""

    def __init__(self, path, dtype=None, row_shape=None, order=None, *, commit_rows=None, commit_secs=None,
                 manual=False, _raw_offset=None):
        self.path = os.fspath(path)
        descr = None if dtype is None else np.lib.format.dtype_to_descr(np.dtype(dtype))
        if row_shape is not None:
            row_shape = (row_shape,) if isinstance(row_shape, int) else tuple(int(n) for n in row_shape)
        self._w = _core.Appender.open(self.path, descr, None if row_shape is None else list(row_shape), order or "C",
                                      commit_rows, commit_secs, manual, _raw_offset)
        self.dtype = np.dtype(self._w.descr)
        self.order = self._w.order
        self.axis = self._w.axis
        self.row_shape = tuple(self._w.row_shape)
        problems = []
        if dtype is not None and np.dtype(dtype) != self.dtype:
            problems.append(f"dtype {self.dtype.str}, not {np.dtype(dtype).str}")
        if row_shape is not None and row_shape != self.row_shape:
            problems.append(f"rows of shape {self.row_shape}, not {row_shape}")
        if order is not None and order != self.order:
            problems.append(f"{self.order} order, not {order}")
        if problems:
            self._w.close()
            raise ValueError(f"{self.path}: the file has " + " and ".join(problems))

    def write(self, batch):
        """Append `batch`: rows along the growth axis (a batch one axis short
        is one row), cast to the file's dtype as NumPy's ``'same_kind'``
        casting allows. Committed as the appender's policy says."""
        rows = _as_rows(batch, self.dtype, self.order, self.axis, self.row_shape, len(self.row_shape) + 1, self.path)
        if rows.size == 0 and rows.shape[self.axis] > 0:
            raise ValueError(f"{self.path}: rows of shape {self.row_shape} hold no bytes; nothing can be appended")
        self._w.write_bytes(rows.tobytes(order=self.order))

    def commit(self):
        """Make every row written part of the array, durably (the rows are
        fsynced before the header names them); returns the committed rows."""
        return self._w.commit()

    def resize(self, rows):
        """Set the number of rows, committed: zeros added, or rows cut off."""
        return self._w.resize(rows)

    def close(self):
        """Commit, give back the reserved space and release the lock;
        returns the final shape."""
        return tuple(self._w.close())

    @property
    def closed(self):
        return self._w.closed

    @property
    def rows(self):
        """Rows in the file, committed or not."""
        return self._w.rows

    @property
    def committed_rows(self):
        """Rows the header names: what readers see."""
        return self._w.committed_rows

    @property
    def shape(self):
        """The committed shape."""
        return tuple(self._w.shape)

    @property
    def header_rewritten(self):
        """Why the file was rewritten with the data moved (its header had
        no room for a longer shape), or None."""
        return self._w.header_rewritten

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if not self._w.closed:
            self._w.close()
        return False

    def __repr__(self):
        state = "closed" if self.closed else f"{self.rows} rows ({self.committed_rows} committed)"
        return f"<mmarray.Appender {self.path!r}: {state}>"


def appender(path, dtype=None, row_shape=None, order=None, *, commit_rows=None, commit_secs=None, manual=False):
    """Open a `.npy` file to append rows to it, creating it (with no rows)
    if it does not exist.

    Rows run along the first axis (``order='C'``, the default for a new
    file) or the last (``order='F'``); `dtype`, `row_shape` and `order` make
    a new file, and must be the file's if given for an existing one. Each commit makes the rows written durable (fsync), then
    rewrites the header's shape in place, then syncs it: after a crash or a
    kill at any instant the file loads with `numpy.load` at its last
    committed length, and rows written past it are reported by ``mmarray
    info`` and kept or cut by ``mmarray repair``. By default every `write`
    commits; ``commit_rows=N`` commits once N rows are pending,
    ``commit_secs=S`` once S seconds passed, ``manual=True`` only on
    `commit` and `close`. One writer at a time: a second appender on the
    file raises `OSError` (``EBUSY``) naming the first one's process.

    Examples
    --------
    >>> import numpy as np, mmarray, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "stream.npy")
    >>> with mmarray.appender(p, dtype="float32", row_shape=3) as w:
    ...     for k in range(4):
    ...         w.write(np.full((5, 3), k))
    >>> np.load(p).shape
    (20, 3)
    """
    return Appender(path, dtype, row_shape, order, commit_rows=commit_rows, commit_secs=commit_secs, manual=manual)


def follow(path, interval=0.5, idle_exit=None):
    """Yield the rows another process appends to the `.npy` file at `path`:
    first every row it holds, then each batch of newly committed rows, as
    arrays (copies). Stops after `idle_exit` seconds without new rows, or
    never (by default).

    Examples
    --------
    >>> import numpy as np, mmarray, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "log.npy")
    >>> with mmarray.appender(p, dtype="int64") as w:
    ...     w.write(np.arange(3))
    >>> [b.tolist() for b in mmarray.follow(p, interval=0.01, idle_exit=0.05)]
    [[0, 1, 2]]
    """
    from ._npy import _read_header, open_memmap

    path = os.fspath(path)
    seen, shape, ident = 0, None, None
    while True:
        # reopened at each growth (the copies yielded hold no view of it),
        # so following for days keeps one mapping, not one per growth
        a = open_memmap(path, mode="r")
        if a.ndim == 0:
            raise ValueError(f"{path}: a 0-d array has no rows to follow")
        axis = a.ndim - 1 if a._npy_fortran else 0
        if ident is not None and a._mmap.file_id != ident:
            raise ValueError(f"{path}: the file was replaced by another while followed")
        ident = a._mmap.file_id
        if shape is not None and (a.dtype, tuple(n for i, n in enumerate(a.shape) if i != axis)) != shape:
            raise ValueError(f"{path}: the file now holds {a.dtype.str} {a.shape}: it was rewritten, not appended to")
        shape = (a.dtype, tuple(n for i, n in enumerate(a.shape) if i != axis))
        n = a.shape[axis]
        if n < seen:
            raise ValueError(f"{path}: the file now holds {n} rows, fewer than the {seen} already seen")
        if n > seen:
            rows = np.array(np.take(a, np.arange(seen, n), axis=axis))
            seen = n
            del a
            yield rows
        else:
            del a
        idle = time.monotonic()
        while True:
            st = os.stat(path)
            if (st.st_dev, st.st_ino) != ident:
                raise ValueError(f"{path}: the file was replaced by another while followed")
            header = _read_header(path, 10000)[0]
            if header[axis] != seen:
                break
            if idle_exit is not None and time.monotonic() - idle >= idle_exit:
                return
            time.sleep(interval)
