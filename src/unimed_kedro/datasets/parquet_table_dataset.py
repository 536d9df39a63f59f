"""A pandas Parquet table whose kedro-viz preview survives list-valued columns."""

from __future__ import annotations

import numpy as np
from kedro_datasets._typing import TablePreview
from kedro_datasets.pandas import ParquetDataset


class ParquetTableDataset(ParquetDataset):
    """`pandas.ParquetDataset` for the manifest-like tables. pyarrow reads list columns
    (`source_captions`) back as numpy arrays, which kedro-viz cannot serialise: its
    preview (and `kedro viz build --include-previews` as a whole) fails. The preview here
    turns them into lists; loading and saving are unchanged."""

    def preview(self, nrows: int = 5) -> TablePreview:
        table = super().preview(nrows)
        table["data"] = [
            [v.tolist() if isinstance(v, np.ndarray) else v for v in row] for row in table["data"]
        ]
        return TablePreview(table)
