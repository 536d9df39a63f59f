"""A raw source folder under `raw_root`, declared in the catalog and read by its reader."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError
from kedro_datasets._typing import TablePreview

from unimed_kedro.datasets.previews import published_path
from unimed_kedro.datasets.read_memo import ParquetReadMemo
from unimed_kedro.sources.base import RawSource
from unimed_kedro.sources.registry import entry

RAW_ROOT = "<raw_root>"


class RawSourceDataset(AbstractDataset[None, RawSource]):
    """Loads as a `RawSource` handle on `<root>/<the source's registered folder>`: the
    source's reader opens the files, since only it knows the layout (alternative names,
    csv or csv.gz, nested image folders). `memo`: a folder where ingest keeps the tables of
    the last read, reused while neither the folder nor the reader changed (none: every run
    reads the folder)."""

    def __init__(
        self,
        *,
        root: str,
        source: str,
        memo: str | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        self._source = source
        self._path = Path(root) / entry(source).folder
        self._memo = Path(memo) if memo else None
        self.metadata = metadata

    def load(self) -> RawSource:
        memo = ParquetReadMemo(self._memo) if self._memo else None
        return RawSource(name=self._source, path=self._path, memo=memo)

    def save(self, data: None) -> None:
        raise DatasetError(f"{self._path}: raw sources are read-only")

    def _exists(self) -> bool:
        return self._path.is_dir()

    def _describe(self) -> dict[str, Any]:
        """The folder relative to the project, or as `<raw_root>/<folder>` when raw data
        lives elsewhere: an absolute local path is never published (`previews`)."""
        return {"path": published_path(self._path, RAW_ROOT, parts=1), "source": self._source}

    def preview(self, nrows: int = 20) -> TablePreview:
        """Top-level entries of the folder, for kedro-viz."""
        rows = []
        if self._path.is_dir():
            for item in sorted(os.scandir(self._path), key=lambda e: e.name)[:nrows]:
                kind = "folder" if item.is_dir() else "file"
                size = item.stat().st_size if kind == "file" else None
                rows.append([item.name, kind, size])
        return TablePreview(
            {"columns": ["name", "kind", "bytes"], "index": list(range(len(rows))), "data": rows}
        )
