"""mmarray: memory-mapped N-dimensional arrays on disk, for data larger than
RAM, with a parallel Rust engine.

``mmarray.memmap`` is a drop-in for ``numpy.memmap``.
"""

from . import _core, _functions
from ._append import Appender, appender, follow
from ._dask import store_npy, to_dask
from ._functions import *  # noqa: F403 (the names in _functions.__all__)
from ._memmap import memmap
from ._npy import load, open_memmap

from . import _hooks

_core.set_threads(None)  # (MMARRAY_THREADS: a bad value fails the import, naming it; unset, no thread starts)

_hooks.install()  # (memmaps travel through dask.distributed by reference; dask keeps their dtypes)

__all__ = sorted(["Appender", "appender", "follow", "load", "memmap", "open_memmap", "store_npy", "to_dask", *_functions.__all__])
__version__ = "0.1.0"
