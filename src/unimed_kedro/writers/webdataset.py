"""WebDataset shards: `<split>/<collection>-<split>-NNNNNN.tar` and `sizes.json` per split.

Each sample is `<key>.<image_ext>` (the stored image, copied from the store) followed by
the members its format makes from the export row (`writers.members`), read back by
`webdataset.WebDataset`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from unimed_kedro.io.readahead import readahead
from unimed_kedro.schema import row_dicts
from unimed_kedro.schema.tables import Table
from unimed_kedro.writers.members import Members
from unimed_kedro.writers.tar import TarShardWriter


@dataclass(frozen=True)
class ShardSpec:
    """One shard: its rows of the export `table` (`positions`, in write order), (file,
    size) of each stored image and the factory of its samples' other members. Every shard
    of a job shares the one table: a frame, whose rows only pickling (sending the task to
    a worker) copies out, or a `Table` on disk, which the worker reads its rows from, so
    the parent never holds the rows of every shard."""

    relpath: str
    table: pd.DataFrame | Table
    positions: np.ndarray
    images: list[tuple[str, int]]
    members: Callable[[list[str]], Members]

    def rows(self) -> pd.DataFrame:
        if isinstance(self.table, Table):
            return self.table.rows(self.positions)
        return self.table.iloc[self.positions].reset_index(drop=True)

    def __len__(self) -> int:
        return len(self.positions)

    def __reduce__(self):
        if isinstance(self.table, Table):
            return ShardSpec, (self.relpath, self.table, self.positions, self.images, self.members)
        return ShardSpec, (
            self.relpath,
            self.rows(),
            np.arange(len(self)),
            self.images,
            self.members,
        )


def write_shard(task, out_dir: Path) -> tuple[list[dict], list[str]]:
    """Chunk function for `engine.run_job`: one shard per task."""
    spec: ShardSpec = task.payload
    rows = spec.rows()
    members = spec.members(list(rows.columns))
    readahead(path for path, _ in spec.images)
    with TarShardWriter(out_dir / spec.relpath) as tar:
        for row, (path, size) in zip(row_dicts(rows), spec.images):
            key = row["key"]
            tar.add_file(f"{key}.{row['image_ext']}", path, size)
            for extension, data in members(row).items():
                tar.add(f"{key}.{extension}", data)
    return [{"shard": spec.relpath, "samples": len(rows)}], [spec.relpath]
