"""A raw source folder under `raw_root`, declared in the catalog and read by its adapter."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError
from kedro_datasets._typing import TablePreview

from unimed_kedro.sources.common import RawSource


class RawSourceDataset(AbstractDataset[None, RawSource]):
    """Loads as a `RawSource` handle: the adapter named by `source` reads the files, since
    only it knows the layout (alternative names, csv or csv.gz, nested image folders)."""

    def __init__(self, *, path: str, source: str, metadata: dict[str, Any] | None = None):
        self._path = Path(path)
        self._source = source
        self.metadata = metadata

    def load(self) -> RawSource:
        return RawSource(name=self._source, path=self._path)

    def save(self, data: None) -> None:
        raise DatasetError(f"{self._path}: raw sources are read-only")

    def _exists(self) -> bool:
        return self._path.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "source": self._source}

    def preview(self, nrows: int = 20) -> TablePreview:
        """Top-level entries of the folder, for kedro-viz."""
        rows = []
        if self._path.is_dir():
            for entry in sorted(os.scandir(self._path), key=lambda e: e.name)[:nrows]:
                kind = "folder" if entry.is_dir() else "file"
                size = entry.stat().st_size if kind == "file" else None
                rows.append([entry.name, kind, size])
        return TablePreview({"columns": ["name", "kind", "bytes"], "index": list(range(len(rows))),
                             "data": rows})
