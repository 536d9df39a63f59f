"""One PNG image held as its encoded bytes (thumbnail sheets, figures)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError
from kedro_datasets._typing import ImagePreview

from unimed_kedro.datasets.previews import (
    all_sources_redistributable,
    published_path,
    sources_table,
    withheld_image,
)
from unimed_kedro.engine import memo
from unimed_kedro.io.atomic import atomic_write_bytes

SIGNATURE = b"\x89PNG\r\n\x1a\n"


class PngDataset(AbstractDataset[bytes, bytes]):
    """Saves and loads PNG bytes unchanged, so the node that encodes the image decides
    every byte (kedro-datasets' `pillow.ImageDataset` re-encodes and has no preview). A
    PNG may show any sample of its collection (the thumbnail sheet does): kedro-viz gets it
    only when every source of the collection is redistributable, else a notice (`previews`;
    `preview_sources` names another sources table; a PNG outside any collection's data
    folder is shown as it is)."""

    def __init__(
        self,
        *,
        filepath: str,
        preview_sources: str | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        self._filepath = Path(filepath)
        self._preview_sources = preview_sources
        self.metadata = metadata

    def save(self, data: bytes | memo.Deferred) -> None:
        memo.save(self._filepath, data, self._write, repr(self._describe()))

    def _write(self, data: bytes) -> None:
        if bytes(data[:8]) != SIGNATURE:
            raise DatasetError(f"{self._filepath}: data to save is not a PNG image")
        atomic_write_bytes(self._filepath, bytes(data))

    def load(self) -> bytes:
        return self._filepath.read_bytes()

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": published_path(self._filepath)}

    def preview(self) -> ImagePreview:
        """The image itself, for kedro-viz, when its collection's licences allow."""
        if all_sources_redistributable(sources_table(self._filepath, self._preview_sources)):
            image = self.load()
        else:
            image = withheld_image(
                "it may show samples of sources whose licence\ndoes not allow redistribution"
            )
        return ImagePreview(base64.b64encode(image).decode())
