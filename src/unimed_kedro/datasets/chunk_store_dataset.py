"""A store of per-item outputs: one file per item in a folder per chunk, plus an
`index.parquet` of the rows the job returned (its own columns, e.g. each item's `file`)."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from kedro.io import AbstractDataset
from kedro_datasets._typing import ImagePreview

from unimed_kedro.datasets.previews import (
    published_path,
    redistributable_sources,
    shown_ids,
    sources_table,
    withheld_image,
)
from unimed_kedro.engine import memo
from unimed_kedro.engine.jobs import ChunkJob, job_rows, remove_unlisted, run_job
from unimed_kedro.imaging.contact_sheet import contact_sheet
from unimed_kedro.io.atomic import atomic_open
from unimed_kedro.schema import tables
from unimed_kedro.schema.tables import write_sorted
from unimed_kedro.writers.stored import StoredFiles

INDEX = "index.parquet"
IMAGE_EXTENSIONS = ("jpg", "png", "webp")


@dataclass(frozen=True)
class ChunkStore:
    """Read side of the store: the index and where each item's file is."""

    path: Path

    def index(self, columns: list[str] | None = None) -> pd.DataFrame:
        return pd.read_parquet(self.path / INDEX, columns=columns)

    def table(self, columns: list[str] | None = None) -> pa.Table:
        """The index as Arrow: text without a Python object per cell."""
        return pq.read_table(self.path / INDEX, columns=columns)

    def memo_source(self) -> tuple[str, None]:  # `engine.memo`: the store as its save left it
        return str(self.path), None

    def read(self, file: str) -> bytes:
        return (self.path / file).read_bytes()

    def located(self, sample_ids: pa.Array | Sequence[str]) -> StoredFiles:
        """Where each sample's stored file is, in the order given (`KeyError` for one the
        store does not hold), matched in Arrow: no Python object per sample."""
        index = self.table(["sample_id", "file", "stored_bytes"])
        index = index.filter(pc.is_valid(index["file"]))
        known = index["sample_id"].combine_chunks()
        wanted = pa.array(sample_ids).cast(known.type)
        at = pc.index_in(wanted, value_set=known)
        if at.null_count:
            raise KeyError(f"{pc.filter(wanted, pc.is_null(at))[0]} has no stored file")
        sizes = index["stored_bytes"].combine_chunks().cast(pa.int64())
        return StoredFiles(str(self.path), index["file"].combine_chunks(), sizes).take(at)

    def locations(self, sample_ids: Sequence[str]) -> list[tuple[str, int]]:
        """(file path, size) of each sample's stored file, in the given order."""
        return list(self.located(sample_ids))


class ChunkStoreDataset(AbstractDataset[ChunkJob, ChunkStore]):
    """Saving a `ChunkJob` builds the chunks that are missing or stale (in parallel, each
    committed atomically), rewrites the index with the job's `index_columns` and removes
    what no chunk lists; loading returns a `ChunkStore`. `preview_sources`: the sources
    table the preview's licence check reads (default: the collection's, `previews`)."""

    def __init__(
        self,
        *,
        path: str,
        preview_sources: str | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        self._path = Path(path)
        self._preview_sources = preview_sources
        self.metadata = metadata

    def save(self, data: ChunkJob | memo.Deferred) -> None:
        memo.save(self._path, data, self._write, repr(self._describe()))

    def _write(self, data: ChunkJob) -> None:
        run_job(data, self._path)
        frames = _frames(job_rows(data, self._path), list(data.index_columns))
        with atomic_open(self._path / INDEX) as handle:
            write_sorted(frames, handle, "sample_id", spill=str(self._path))
        remove_unlisted(self._path, keep=[INDEX])

    def load(self) -> ChunkStore:
        return ChunkStore(self._path)

    def _exists(self) -> bool:
        return (self._path / INDEX).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"path": published_path(self._path)}

    def preview(self, nsamples: int = 16) -> ImagePreview:
        """A contact sheet of the first stored images of redistributable sources, for
        kedro-viz (which reads the preview's kind from this annotation, so it is one kind;
        a store without such images shows an empty sheet, or a notice when it has images
        of other sources only)."""
        store = self.load()
        stored = store.index(["sample_id", "file"]).dropna()
        stored = stored[stored["file"].str.endswith(IMAGE_EXTENSIONS)]
        allowed = redistributable_sources(sources_table(self._path, self._preview_sources))
        images = stored[shown_ids(stored["sample_id"].tolist(), allowed)].head(nsamples)
        if len(stored) and not len(images):
            sheet = withheld_image("no stored image is of a redistributable source")
        else:
            sheet = contact_sheet([store.read(file) for file in images["file"]])
        return ImagePreview(base64.b64encode(sheet).decode())


def _frames(tasks_rows: Iterable[list[dict]], columns: list[str]) -> Iterator[pd.DataFrame]:
    """The tasks' rows as frames of about `tables.BATCH` rows (at least one frame, so an
    empty index still has its columns)."""
    part: list[dict] = []
    written = False
    for rows in tasks_rows:
        part += rows
        if len(part) >= tables.BATCH:
            yield pd.DataFrame(part, columns=columns)
            part, written = [], True
    if part or not written:
        yield pd.DataFrame(part, columns=columns)
