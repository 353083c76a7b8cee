"""mmarray: memory-mapped N-dimensional arrays on disk, for data larger than
RAM, with a parallel Rust engine.

``mmarray.memmap`` is a drop-in for ``numpy.memmap``.
"""

from ._functions import (
    as_linear_operator,
    downsample,
    mean_of_squares,
    rolling_max,
    rolling_mean,
    rolling_min,
    rolling_std,
    rolling_sum,
    rolling_var,
    stats,
    sum_of_squares,
    to_dask,
)
from ._memmap import memmap
from ._npy import load, open_memmap

__all__ = [
    "as_linear_operator",
    "downsample",
    "load",
    "mean_of_squares",
    "memmap",
    "open_memmap",
    "rolling_max",
    "rolling_mean",
    "rolling_min",
    "rolling_std",
    "rolling_sum",
    "rolling_var",
    "stats",
    "sum_of_squares",
    "to_dask",
]
__version__ = "0.1.0"
