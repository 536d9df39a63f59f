"""A UTF-8 text file (SVG charts, the data card), written atomically."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError
from kedro_datasets._typing import HTMLPreview

from unimed_kedro.datasets.previews import published_path
from unimed_kedro.engine import memo
from unimed_kedro.io.atomic import atomic_write_bytes

# shown by kedro-viz as they are; any other text is shown as preformatted text
MARKUP = {".svg", ".html", ".htm"}


class TextDataset(AbstractDataset[str, str]):
    """Saves and loads a `str` as UTF-8, the bytes exactly the string's (kedro-datasets'
    `text.TextDataset` writes the same bytes, but in place: a run killed while writing
    left half a data card or chart, which the next `dvc add` or a reader could take for a
    whole one). Written under a temporary name and renamed into place."""

    def __init__(self, *, filepath: str, metadata: dict[str, Any] | None = None):
        self._filepath = Path(filepath)
        self.metadata = metadata

    def save(self, data: str | memo.Deferred) -> None:
        memo.save(self._filepath, data, self._write, repr(self._describe()))

    def _write(self, data: str) -> None:
        if not isinstance(data, str):
            raise DatasetError(
                f"{self._filepath}: expected text to save, got {type(data).__name__}"
            )
        atomic_write_bytes(self._filepath, data.encode("utf-8"))

    def load(self) -> str:
        return self._filepath.read_bytes().decode("utf-8")

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": published_path(self._filepath)}

    def preview(self) -> HTMLPreview:
        """SVG and HTML as kedro-viz draws them; other text preformatted."""
        text = self.load()
        if self._filepath.suffix.lower() in MARKUP:
            return HTMLPreview(text)
        return HTMLPreview(f"<pre>{html.escape(text)}</pre>")
