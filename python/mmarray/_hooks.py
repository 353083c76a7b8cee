"""mmarray.memmap's registrations with dask and distributed, made when
those packages are imported (both are optional and heavy: mmarray never
imports them itself).

- distributed serializes NumPy arrays, subclasses included, with its own
  serializer (the raw bytes, sent by value), not with ``__reduce__``: an
  ``mmarray.memmap`` handed to a worker (a ``da.store`` target, an argument
  of ``client.submit``) arrived as an in-memory copy, and every write to it
  was lost without an error. Registered with distributed's dispatch, it
  travels as its pickle instead (the path, the layout, the file's identity:
  see ``memmap.__reduce__``).
- dask assembles a computed array from ``mmarray.memmap`` chunks (what
  ``to_dask`` hands its tasks) with ``np.concatenate``, which makes byte
  orders native and drops a structured dtype's padding: a '>i2' dask array
  computed to int16. Registered with dask's ``concatenate_lookup``, the
  chunks keep their common dtype, as dask's own assembly of ndarrays does.

Each registration is made at once if its module is already imported, else
by a post-import hook on it. (A hook by hand: importlib has none, and
distributed's own lazy registrations are for libraries it knows.)
"""

import importlib.abc
import importlib.util
import pickle
import sys


def _dumps(x):
    if x._mmap is None or x.filename is None:
        # not backed by a file (a result assembled from chunks): by value,
        # zero-copy, with distributed's own ndarray serializer
        import numpy as np
        from distributed.protocol.numpy import serialize_numpy_ndarray

        header, frames = serialize_numpy_ndarray(np.asarray(x))
        return {"ndarray": header}, frames
    # (protocol 5: by reference for a mapped array; by value, in band, for
    # one that pickles by value: mode 'c', or a read-only array whose file
    # is gone)
    return {}, [pickle.dumps(x, protocol=5)]


def _loads(header, frames):
    if "ndarray" in header:
        from distributed.protocol.numpy import deserialize_numpy_ndarray

        return deserialize_numpy_ndarray(header["ndarray"], frames)
    return pickle.loads(frames[0])


def _register_distributed(serialize_module):
    from ._memmap import memmap

    serialize_module.dask_serialize.register(memmap)(_dumps)
    serialize_module.dask_deserialize.register(memmap)(_loads)


def _concatenate(arrays, axis=0, **kwargs):
    """np.concatenate of dask chunks, keeping their dtype when they share
    one (byte order, padding) as dask's assembly of ndarrays does. dask
    joins N-d chunks one axis at a time, dispatching on the pieces' type:
    a piece whose dtype np.concatenate would change stays an
    `mmarray.memmap` (not backed by a file, as NumPy's memmap makes for
    derived arrays), so the next join comes here too."""
    import numpy as np

    from ._memmap import memmap

    arrays = [np.asarray(a) for a in arrays]
    dtypes = {a.dtype for a in arrays}
    if len(dtypes) != 1 or "dtype" in kwargs:
        return np.concatenate(arrays, axis=axis, **kwargs)
    dtype = dtypes.pop()
    out = np.concatenate(arrays, axis=axis, dtype=dtype, **kwargs)
    return out.view(memmap) if np.result_type(dtype) != dtype else out


def _register_dask_array(dispatch_module):
    from ._memmap import memmap

    dispatch_module.concatenate_lookup.register(memmap)(_concatenate)


#: module name -> what registers mmarray with it once it is imported
REGISTRATIONS = {
    "distributed.protocol.serialize": _register_distributed,
    "dask.array.dispatch": _register_dask_array,
}


class _Loader(importlib.abc.Loader):
    """The module's own loader, then the registration."""

    def __init__(self, loader, register):
        self.loader = loader
        self.register = register

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        self.register(module)

    def __getattr__(self, name):  # (get_source, is_package, ...: the module's own loader)
        return getattr(self.loader, name)


class _Hook(importlib.abc.MetaPathFinder):
    """Finds the modules of `pending` through the other finders and wraps
    their loaders; removes itself once all are done."""

    def __init__(self, pending):
        self.pending = dict(pending)

    def find_spec(self, fullname, path, target=None):
        register = self.pending.pop(fullname, None)
        if register is None:
            return None
        # the other finders find it (this one steps aside meanwhile)
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            if self.pending:
                sys.meta_path.insert(0, self)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader, register)
        return spec


def install():
    """Registers with what is imported now, and with the rest when it is."""
    pending = {}
    for name, register in REGISTRATIONS.items():
        module = sys.modules.get(name)
        if module is not None:
            register(module)
        else:
            pending[name] = register
    if pending and not any(isinstance(f, _Hook) for f in sys.meta_path):
        sys.meta_path.insert(0, _Hook(pending))
