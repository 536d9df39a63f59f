"""A plotly figure saved as plotly JSON, from and to a plain dict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError
from kedro_datasets._typing import PlotlyPreview

from unimed_kedro.datasets.previews import published_path
from unimed_kedro.engine import memo
from unimed_kedro.io.atomic import atomic_write_bytes


class PlotlyFigureDataset(AbstractDataset[dict, dict]):
    """Saves a figure dict (`{"data": [...], "layout": {...}}`) as sorted, compact JSON, so
    the same chart gives the same bytes; kedro-viz draws the preview. kedro-datasets'
    `plotly.JSONDataset` takes a `go.Figure`, whose first construction in a run costs
    about a second of plotly imports."""

    def __init__(self, *, filepath: str, metadata: dict[str, Any] | None = None):
        self._filepath = Path(filepath)
        self.metadata = metadata

    def save(self, data: dict | memo.Deferred) -> None:
        memo.save(self._filepath, data, self._write, repr(self._describe()))

    def _write(self, data: dict) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise DatasetError(
                f"{self._filepath}: expected a plotly figure dict with a "
                f"'data' list, got {type(data).__name__}"
            )
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)
        atomic_write_bytes(self._filepath, text.encode())

    def load(self) -> dict:
        return json.loads(self._filepath.read_text(encoding="utf-8"))

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": published_path(self._filepath)}

    def preview(self) -> PlotlyPreview:
        """The figure itself, for kedro-viz."""
        return PlotlyPreview(self.load())
