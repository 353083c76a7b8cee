"""mmarray.memmap travels through dask.distributed by reference.

distributed serializes NumPy arrays, subclasses included, with its own
serializer (the raw bytes, sent by value), not with ``__reduce__``: an
``mmarray.memmap`` handed to a worker (a ``da.store`` target, an argument of
``client.submit``) arrived as an in-memory copy, and every write to it was
lost without an error. Registering ``mmarray.memmap`` with distributed's
dispatch sends it as its pickle instead (the path, the layout, the file's
identity: see ``memmap.__reduce__``).

distributed is a heavy import and optional, so the registration waits for
it: done at once if it is already imported, else by a post-import hook on
``distributed.protocol.serialize``. (A hook by hand: importlib has none, and
distributed's own lazy registrations are for libraries it knows.)
"""

import importlib.abc
import importlib.util
import pickle
import sys

_TARGET = "distributed.protocol.serialize"


def _dumps(x):
    # (protocol 5: by reference for a mapped array, by value, in band, for
    # one that pickles by value: mode 'c', or its file is gone)
    return {}, [pickle.dumps(x, protocol=5)]


def _loads(header, frames):
    return pickle.loads(frames[0])


def register(serialize_module):
    """Registers mmarray.memmap with distributed's serializer dispatch."""
    from ._memmap import memmap

    serialize_module.dask_serialize.register(memmap)(_dumps)
    serialize_module.dask_deserialize.register(memmap)(_loads)


class _Loader(importlib.abc.Loader):
    """The module's own loader, then the registration."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        register(module)


class _Hook(importlib.abc.MetaPathFinder):
    """Finds distributed.protocol.serialize through the other finders and
    wraps its loader; removes itself once used."""

    def find_spec(self, fullname, path, target=None):
        if fullname != _TARGET:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
        return spec


def install():
    """Registers now if distributed is imported, else when it is."""
    module = sys.modules.get(_TARGET)
    if module is not None:
        register(module)
    elif not any(isinstance(f, _Hook) for f in sys.meta_path):
        sys.meta_path.insert(0, _Hook())
