"""Where each sample's stored file is, as a job's task carries it: a folder and two Arrow
arrays (about 40 bytes a sample in the parent, which holds every task of a job at once),
not a Python tuple per sample (about 230)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa


@dataclass(frozen=True)
class StoredFiles:
    """(path, size) pairs: `files` are names under `root`, `sizes` their bytes."""

    root: str
    files: pa.Array
    sizes: pa.Array

    def __len__(self) -> int:
        return len(self.files)

    def __iter__(self) -> Iterator[tuple[str, int]]:
        for file, size in zip(self.files.to_pylist(), self.sizes.to_pylist()):
            yield f"{self.root}/{file}", size

    def take(self, positions: np.ndarray) -> StoredFiles:
        """The files at `positions`, in that order (their own copy: a task pickles only
        its files)."""
        at = pa.array(np.asarray(positions, dtype=np.int64))
        return StoredFiles(self.root, self.files.take(at), self.sizes.take(at))
