"""`.npy` files, the same bytes for the same array on every run.

Always format version 1.0 and C order (numpy would pick the version by the header's
size and write a Fortran-ordered array as such: a reader then gets another layout for the
same values), never pickles. `write_npy` makes the file appear whole (temporary name,
renamed); `write_npy_new` writes a new file inside a folder that is itself being made
atomically (`io.atomic.atomic_dir`), where a second temporary name would only cost time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

import numpy as np

from unimed_kedro.io.atomic import atomic_path

VERSION = (1, 0)


def save_npy(handle: BinaryIO, array: np.ndarray) -> None:
    """`array` as `.npy` bytes into an open binary file: C order, version 1.0."""
    np.lib.format.write_array(
        handle, np.ascontiguousarray(array), version=VERSION, allow_pickle=False
    )


def write_npy(path: str | Path, array: np.ndarray) -> None:
    """Write `path` atomically (replacing what was there); its folder is made."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        save_npy(handle, array)


def write_npy_new(path: str | Path, array: np.ndarray) -> None:
    """Write `path`, which must not exist (inside a folder being filled atomically)."""
    fd = os.open(os.fspath(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with open(fd, "wb") as handle:
        save_npy(handle, array)
