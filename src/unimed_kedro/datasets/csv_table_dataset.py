"""A pandas table saved as CSV (rejects, corrections, the split report), written
atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError
from kedro_datasets._typing import TablePreview

from unimed_kedro.datasets.previews import published_path, redistributable_rows, sources_table
from unimed_kedro.engine import memo
from unimed_kedro.io.atomic import atomic_write_bytes


class CSVTableDataset(AbstractDataset[pd.DataFrame, pd.DataFrame]):
    """Saves a DataFrame with pandas' `to_csv(**save_args)` as UTF-8 and loads it with
    `read_csv(**load_args)`: the bytes kedro-datasets' `pandas.CSVDataset` writes, but not
    in place (a run killed while writing left half a table, which a reader could take for
    a whole one): written under a temporary name and renamed into place. The kedro-viz
    preview shows rows of redistributable sources only, and the description the path
    relative to the project (`previews`; `preview_sources`: another sources table)."""

    def __init__(
        self,
        *,
        filepath: str,
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        preview_sources: str | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        self._filepath = Path(filepath)
        self._load_args = dict(load_args or {})
        self._save_args = {"index": False, **(save_args or {})}
        self._preview_sources = preview_sources
        self.metadata = metadata

    def save(self, data: pd.DataFrame | memo.Deferred) -> None:
        memo.save(self._filepath, data, self._write, repr(self._describe()))

    def _write(self, data: pd.DataFrame) -> None:
        if not isinstance(data, pd.DataFrame):
            raise DatasetError(
                f"{self._filepath}: expected a DataFrame to save, got {type(data).__name__}"
            )
        atomic_write_bytes(self._filepath, data.to_csv(**self._save_args).encode("utf-8"))

    def load(self) -> pd.DataFrame:
        return memo.loaded(pd.read_csv(self._filepath, **self._load_args), self._filepath)

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": published_path(self._filepath),
            "load_args": self._load_args,
            "save_args": self._save_args,
        }

    def preview(self, nrows: int = 5) -> TablePreview:
        table = sources_table(self._filepath, self._preview_sources)
        rows = redistributable_rows(self.load(), table).head(nrows)
        return TablePreview(rows.to_dict(orient="split"))
