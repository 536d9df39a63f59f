"""A pandas Parquet table, written atomically, whose kedro-viz preview survives
list-valued columns and shows only what may be published."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from kedro.io.core import DatasetError, get_filepath_str
from kedro_datasets._typing import TablePreview
from kedro_datasets.pandas import ParquetDataset

from unimed_kedro.datasets.previews import published_path, redistributable_rows, sources_table
from unimed_kedro.engine import memo
from unimed_kedro.io.atomic import atomic_path
from unimed_kedro.schema.columns import (
    arrow_table,
    is_list_column,
    python_lists,
    untyped_empty_lists,
)
from unimed_kedro.schema.tables import Batches, Table, frame_of, write_batches


class ParquetTableDataset(ParquetDataset):
    """`pandas.ParquetDataset` for the manifest-like tables. pyarrow reads list columns
    (`source_captions`) back as numpy arrays, which kedro-viz cannot serialise: its
    preview (and `kedro viz build --include-previews` as a whole) fails. The preview here
    turns them into lists, shows rows of redistributable sources only and the path
    relative to the project (`previews`). A local table is written under a temporary name
    renamed into place (kedro-datasets' writes in place: a run killed while writing left a
    broken table where the last whole one was), the same bytes through the same
    `fs_args`; other filesystems and loading are unchanged. `preview_sources`: another
    sources table for the licence check.

    `lazy`: load a `schema.tables.Table` (read a few columns or a batch of rows at a time)
    instead of a frame. Saving takes a frame or `Batches`, whose frames are written as
    they come (each its own row groups), never held together."""

    def __init__(self, *, preview_sources: str | None = None, lazy: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self._preview_sources = preview_sources
        self._lazy = lazy

    def load(self) -> pd.DataFrame | Table:
        path = get_filepath_str(self._get_load_path(), self._protocol)
        if not self._lazy:
            return memo.loaded(super().load(), path)
        if self._protocol != "file" or not os.path.isfile(path):
            raise DatasetError(f"{type(self).__name__}: expected a local parquet file at {path}")
        return Table(path)

    def save(self, data: pd.DataFrame | Batches | memo.Deferred) -> None:
        memo.save(
            get_filepath_str(self._get_save_path(), self._protocol),
            data,
            self._write,
            repr(self._describe()),
        )

    def _write(self, data: pd.DataFrame | Batches) -> None:
        if self._protocol != "file" or "partition_cols" in self._save_args:
            super().save(python_lists(frame_of(data)))  # which refuses partition_cols
            return
        path = get_filepath_str(self._get_save_path(), self._protocol)
        if os.path.isdir(path):
            raise DatasetError(f"Saving {type(self).__name__} to a directory is not supported.")
        with atomic_path(path) as tmp, self._fs.open(tmp, **self._fs_open_args_save) as handle:
            if isinstance(data, Batches):
                write_batches(data, handle, spill=os.path.dirname(path), **self._save_args)
            elif any(is_list_column(data[c]) for c in data.columns):
                _write_lists(data, handle, dict(self._save_args))
            else:
                data.to_parquet(handle, **self._save_args)
        self._invalidate_cache()

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "filepath": published_path(str(self._filepath))}

    def preview(self, nrows: int = 5) -> TablePreview:
        path = str(self._get_load_path())
        frame = pq.read_table(path, columns=self._load_args.get("columns")).to_pandas()
        frame = redistributable_rows(frame, sources_table(path, self._preview_sources))
        table = frame.head(nrows).to_dict(orient="split")
        table["data"] = [
            [v.tolist() if isinstance(v, np.ndarray) else v for v in row] for row in table["data"]
        ]
        return TablePreview(table)


def _write_lists(frame: pd.DataFrame, handle: Any, save_args: dict[str, Any]) -> None:
    """What `to_parquet` writes, for a frame with Arrow list columns (a manifest's
    captions): their pandas metadata as Python lists' (`arrow_table`), so that pandas
    reads them back, the bytes those lists would give."""
    index = save_args.pop("index", None)
    compression = save_args.pop("compression", "snappy")
    table = arrow_table(untyped_empty_lists(frame), preserve_index=index)
    pq.write_table(table, handle, compression=compression, **save_args)
