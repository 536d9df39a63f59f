"""A pandas Parquet table whose kedro-viz preview survives list-valued columns and shows
only what may be published."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow.parquet as pq
from kedro_datasets._typing import TablePreview
from kedro_datasets.pandas import ParquetDataset

from unimed_kedro.datasets.previews import published_path, redistributable_rows, sources_table


class ParquetTableDataset(ParquetDataset):
    """`pandas.ParquetDataset` for the manifest-like tables. pyarrow reads list columns
    (`source_captions`) back as numpy arrays, which kedro-viz cannot serialise: its
    preview (and `kedro viz build --include-previews` as a whole) fails. The preview here
    turns them into lists, shows rows of redistributable sources only and the path
    relative to the project (`previews`); loading and saving are unchanged.
    `preview_sources`: another sources table for the licence check."""

    def __init__(self, *, preview_sources: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self._preview_sources = preview_sources

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
