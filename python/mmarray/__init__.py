"""mmarray: memory-mapped N-dimensional arrays on disk, for data larger than
RAM, with a parallel Rust engine.

``mmarray.memmap`` is a drop-in for ``numpy.memmap``.
"""

from ._memmap import memmap

__all__ = ["memmap"]
__version__ = "0.1.0"
