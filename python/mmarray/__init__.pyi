import os
from typing import IO, Any, Literal

import numpy as np
import numpy.typing as npt

__version__: str

_Mode = Literal["r", "c", "r+", "w+", "readonly", "copyonwrite", "readwrite", "write"]
_Advice = Literal["normal", "sequential", "random", "willneed"]

class memmap(np.memmap[Any, Any]):
    filename: str | os.PathLike[str] | None
    offset: int
    mode: str
    def __new__(
        subtype,
        filename: str | os.PathLike[str] | IO[Any],
        dtype: npt.DTypeLike = ...,
        mode: _Mode = ...,
        offset: int = ...,
        shape: int | tuple[int, ...] | list[int] | None = ...,
        order: Literal["C", "F"] = ...,
    ) -> memmap: ...
    def flush(self, durable: bool = ...) -> None: ...
    def madvise(self, advice: _Advice) -> None: ...
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...
    def as_linear_operator(self) -> Any: ...

def open_memmap(
    filename: str | os.PathLike[str],
    mode: _Mode = ...,
    dtype: npt.DTypeLike | None = ...,
    shape: tuple[int, ...] | None = ...,
    fortran_order: bool = ...,
    version: tuple[int, int] | None = ...,
    *,
    max_header_size: int = ...,
) -> memmap: ...
def load(
    file: str | os.PathLike[str] | IO[Any],
    mmap_mode: _Mode | None = ...,
    allow_pickle: bool = ...,
    fix_imports: bool = ...,
    encoding: str = ...,
    *,
    max_header_size: int = ...,
) -> Any: ...
def rolling_sum(a: npt.ArrayLike, window: int, axis: int = ..., ddof: float = ...) -> npt.NDArray[np.float64]: ...
def rolling_mean(a: npt.ArrayLike, window: int, axis: int = ..., ddof: float = ...) -> npt.NDArray[np.float64]: ...
def rolling_var(a: npt.ArrayLike, window: int, axis: int = ..., ddof: float = ...) -> npt.NDArray[np.float64]: ...
def rolling_std(a: npt.ArrayLike, window: int, axis: int = ..., ddof: float = ...) -> npt.NDArray[np.float64]: ...
def rolling_min(a: npt.ArrayLike, window: int, axis: int = ..., ddof: float = ...) -> npt.NDArray[np.float64]: ...
def rolling_max(a: npt.ArrayLike, window: int, axis: int = ..., ddof: float = ...) -> npt.NDArray[np.float64]: ...
def downsample(a: npt.ArrayLike, n_bins: int) -> dict[str, npt.NDArray[Any]]: ...
def stats(a: npt.ArrayLike, ddof: float = ..., skipna: bool = ...) -> dict[str, float]: ...
def as_linear_operator(a: npt.ArrayLike) -> Any: ...
def to_dask(path_or_array: str | os.PathLike[str] | np.ndarray, chunks: Any = ..., **memmap_kwargs: Any) -> Any: ...
