"""Normalised images stored as tar chunks plus an `index.parquet` locating each sample."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset
from kedro_datasets._typing import ImagePreview

from unimed_kedro.engine.jobs import ChunkJob, run_job
from unimed_kedro.imaging.contact_sheet import contact_sheet
from unimed_kedro.imaging.normalize import INDEX_COLUMNS
from unimed_kedro.writers.atomic import atomic_open
from unimed_kedro.writers.tar import read_member

INDEX = "index.parquet"


@dataclass(frozen=True)
class ImageChunkStore:
    """Read side of the store: the index and random access to one sample's bytes."""

    path: Path

    def index(self, columns: list[str] | None = None) -> pd.DataFrame:
        return pd.read_parquet(self.path / INDEX, columns=columns)

    def read(self, chunk: str, offset: int, size: int) -> bytes:
        return read_member(self.path / chunk, int(offset), int(size))

    def locations(self, sample_ids: list[str]) -> list[tuple[str, int, int]]:
        """(chunk file, offset, size) of each sample's stored image, in the given order."""
        index = self.index(["sample_id", "chunk", "offset", "stored_bytes"]).dropna(
            subset=["chunk"])
        files = {chunk: f"{self.path}/{chunk}" for chunk in index["chunk"].unique()}
        where = dict(zip(index["sample_id"].tolist(), zip(
            [files[c] for c in index["chunk"].tolist()],
            index["offset"].astype("int64").tolist(),
            index["stored_bytes"].astype("int64").tolist())))
        return [where[s] for s in sample_ids]


class ImageChunkStoreDataset(AbstractDataset[ChunkJob, ImageChunkStore]):
    """Saving a `ChunkJob` builds the chunks that are missing or stale (in parallel, each
    committed atomically) and rewrites the index; loading returns an `ImageChunkStore`."""

    def __init__(self, *, path: str, metadata: dict[str, Any] | None = None):
        self._path = Path(path)
        self.metadata = metadata

    def save(self, data: ChunkJob) -> None:
        rows = run_job(data, self._path)
        frame = pd.DataFrame(rows, columns=INDEX_COLUMNS).sort_values("sample_id", kind="stable")
        with atomic_open(self._path / INDEX) as handle:
            frame.reset_index(drop=True).to_parquet(handle, index=False)

    def load(self) -> ImageChunkStore:
        return ImageChunkStore(self._path)

    def _exists(self) -> bool:
        return (self._path / INDEX).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}

    def preview(self, nsamples: int = 16) -> ImagePreview:
        """A contact sheet of the first stored images, for kedro-viz."""
        index = self.load().index()
        ok = index[index["status"].eq("ok")].head(nsamples)
        store = self.load()
        images = [store.read(r.chunk, r.offset, r.stored_bytes) for r in ok.itertuples()]
        return ImagePreview(base64.b64encode(contact_sheet(images)).decode())
