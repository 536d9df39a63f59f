"""WebDataset shards: `<split>/<collection>-<split>-NNNNNN.tar` and `sizes.json` per split.

Each sample is `<key>.<image_ext>` (the stored image, copied from the store) followed by
the members its format makes from the export row (`writers.members`), read back by
`webdataset.WebDataset`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from unimed_kedro.io.readahead import readahead
from unimed_kedro.schema import row_dicts
from unimed_kedro.schema.tables import Rows
from unimed_kedro.writers.members import Members
from unimed_kedro.writers.tar import TarShardWriter


@dataclass(frozen=True)
class ShardSpec:
    """One shard: its rows of the export table (`schema.tables.Rows`, in write order),
    where each sample's stored image is ((path, size) pairs) and the factory of its
    samples' other members."""

    relpath: str
    rows: Rows
    images: Iterable[tuple[str, int]]
    members: Callable[[list[str]], Members]

    def __len__(self) -> int:
        return len(self.rows)


def write_shard(task, out_dir: Path) -> tuple[list[dict], list[str]]:
    """Chunk function for `engine.run_job`: one shard per task."""
    spec: ShardSpec = task.payload
    rows = spec.rows.frame()
    members = spec.members(list(rows.columns))
    readahead(path for path, _ in spec.images)
    with TarShardWriter(out_dir / spec.relpath) as tar:
        for row, (path, size) in zip(row_dicts(rows), spec.images):
            key = row["key"]
            tar.add_file(f"{key}.{row['image_ext']}", path, size)
            for extension, data in members(row).items():
                tar.add(f"{key}.{extension}", data)
    return [{"shard": spec.relpath, "samples": len(rows)}], [spec.relpath]
