import os
from typing import IO, Any, Literal

import numpy as np
import numpy.typing as npt

__version__: str

_Mode = Literal["r", "c", "r+", "w+", "readonly", "copyonwrite", "readwrite", "write"]

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
        shape: int | tuple[int, ...] | None = ...,
        order: Literal["C", "F"] = ...,
    ) -> memmap: ...
    def flush(self, durable: bool = ...) -> None: ...
    def madvise(self, advice: Literal["normal", "sequential", "random", "willneed"]) -> None: ...
