"""The chest X-ray downloader's folder layout (Images/, captions/, metadata/)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset
from kedro_datasets._typing import TablePreview

from unimed_kedro.datasets.previews import published_path, redistributable_rows, sources_table
from unimed_kedro.engine import memo
from unimed_kedro.engine.jobs import (
    ChunkJob,
    claim,
    commit_outputs,
    fingerprint,
    is_current,
    remove_unlisted,
    run_job,
)
from unimed_kedro.io.atomic import commit
from unimed_kedro.writers.files_layout import INDEX_VERSION, stage_master_index

MASTER_INDEX = Path("metadata") / "master_index.csv"
MASTER_DB = MASTER_INDEX.with_suffix(".db")
INDEX_MARKER = "master-index"  # the marker the index files are committed under


@dataclass(frozen=True)
class FilesLayoutPlan:
    """The job writing images and captions; the master index, as batches of its rows in
    file-name order (made while they are written: never all in memory), and a digest of
    what those rows are made from."""

    job: ChunkJob
    index: Callable[[], Iterable[pd.DataFrame]]
    index_digest: str


class FilesLayoutDataset(AbstractDataset[FilesLayoutPlan, pd.DataFrame]):
    """Saving a `FilesLayoutPlan` writes images and captions chunk by chunk, then the
    master index (CSV and SQLite) unless it holds the same rows already, then removes
    every file neither lists (another build's images and captions); loading returns the
    master index. The preview shows rows of
    redistributable sources only (`previews`)."""

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

    def save(self, data: FilesLayoutPlan | memo.Deferred) -> None:
        memo.save(self._path, data, self._write, repr(self._describe()))

    def _write(self, data: FilesLayoutPlan) -> None:
        claim(self._path)  # before the index thread writes into it
        # An unchanged index is not rewritten: at 343k samples the CSV and SQLite files
        # took ~10 s, most of a no-change rerun. Hashing the rows costs a tenth of that.
        print_ = fingerprint(INDEX_VERSION, data.index_digest)
        current = is_current(self._path, INDEX_MARKER, print_)
        # The parent writes the index while the workers write the samples.
        with ThreadPoolExecutor(1) as thread:
            staged = (
                None if current else thread.submit(stage_master_index, data.index(), self._path)
            )
            run_job(data.job, self._path, keep_markers=[INDEX_MARKER])
            if staged is not None:
                commit(staged.result())
                written = [MASTER_INDEX.as_posix(), MASTER_DB.as_posix()]
                commit_outputs(self._path, INDEX_MARKER, print_, written)
        remove_unlisted(self._path)

    def load(self) -> pd.DataFrame:
        return pd.read_csv(self._path / MASTER_INDEX)

    def _exists(self) -> bool:
        return (self._path / MASTER_INDEX).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"path": published_path(self._path)}

    def preview(self, nrows: int = 10) -> TablePreview:
        table = sources_table(self._path, self._preview_sources)
        rows = redistributable_rows(self.load(), table).head(nrows)
        return TablePreview(rows.to_dict(orient="split"))
