"""WebDataset shards of a collection, one folder per split with open_clip's `sizes.json`."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset
from kedro_datasets._typing import TablePreview

from unimed_kedro.datasets.previews import published_path
from unimed_kedro.engine import memo
from unimed_kedro.engine.jobs import ChunkJob, job_rows, remove_unlisted, run_job
from unimed_kedro.io.atomic import atomic_write_bytes

SIZES = "sizes.json"


class WebDatasetDataset(AbstractDataset[ChunkJob, dict[str, list[Path]]]):
    """Saving a `ChunkJob` of shard tasks writes the missing shards and every split's
    `sizes.json`, then removes what this build does not list (another build's shards, a
    split that no longer exists); loading returns `{split: [shard paths]}`."""

    def __init__(self, *, path: str, metadata: dict[str, Any] | None = None):
        self._path = Path(path)
        self.metadata = metadata

    def save(self, data: ChunkJob | memo.Deferred) -> None:
        memo.save(self._path, data, self._write, repr(self._describe()))

    def _write(self, data: ChunkJob) -> None:
        sizes: dict[str, dict[str, int]] = defaultdict(dict)
        run_job(data, self._path)
        for row in (row for rows in job_rows(data, self._path) for row in rows):
            split, name = row["shard"].split("/", 1)
            sizes[split][name] = row["samples"]
        for split in sorted(sizes):
            body = json.dumps(dict(sorted(sizes[split].items())), indent=1)
            atomic_write_bytes(self._path / split / SIZES, body.encode() + b"\n")
        # a split this build has no shards of (any more) leaves no folder behind
        remove_unlisted(self._path, keep=[f"{split}/{SIZES}" for split in sizes])

    def load(self) -> dict[str, list[Path]]:
        return {
            d.name: sorted(d.glob("*.tar"))
            for d in sorted(self._path.iterdir())
            if (d / SIZES).is_file()
        }

    def _exists(self) -> bool:
        return any(self._path.glob(f"*/{SIZES}"))

    def _describe(self) -> dict[str, Any]:
        return {"path": published_path(self._path)}

    def preview(self) -> TablePreview:
        """Shards and sample counts per split, for kedro-viz (names and counts, no sample)."""
        rows = [
            [split, name, count]
            for split in sorted(p.name for p in self._path.iterdir() if p.is_dir())
            if (self._path / split / SIZES).is_file()
            for name, count in json.loads((self._path / split / SIZES).read_text()).items()
        ]
        return TablePreview(
            {
                "columns": ["split", "shard", "samples"],
                "index": list(range(len(rows))),
                "data": rows,
            }
        )
