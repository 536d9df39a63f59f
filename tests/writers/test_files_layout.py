"""The downloader's files layout as a dataset: a rebuild holds exactly the samples it
decided, however they are chunked, and never writes into a folder it did not create."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro.io import DatasetError

from unimed_kedro.datasets.files_layout_dataset import FilesLayoutDataset, FilesLayoutPlan
from unimed_kedro.engine.jobs import ChunkJob, ChunkTask, fingerprint
from unimed_kedro.io.atomic import commit
from unimed_kedro.schema.tables import Rows
from unimed_kedro.writers.files_layout import (
    INDEX_COLUMNS,
    INDEX_SOURCE_COLUMNS,
    FilesChunk,
    master_index,
    stage_master_index,
    write_files_chunk,
)


def _plan(store: Path, keys: list[str], chunk_size: int) -> FilesLayoutPlan:
    rows = pd.DataFrame(
        {"key": keys, "image_ext": "jpg", "structured_caption": [f"caption of {k}" for k in keys]}
    )
    tasks = []
    for n, start in enumerate(range(0, len(keys), chunk_size)):
        part = np.arange(start, min(start + chunk_size, len(keys)))
        images = [(str(store / f"{keys[i]}.jpg"), 6) for i in part]
        chunk = FilesChunk(Rows(rows, part), images)
        tasks.append(ChunkTask(f"files-{n:06d}", chunk, fingerprint(part.tolist())))
    index = pd.DataFrame({"filename": [f"{key}.jpg" for key in keys], "source": "a"})
    job = ChunkJob(tasks, write_files_chunk, {"kind": "inline"})
    return FilesLayoutPlan(job, lambda: [index], fingerprint(keys))


def _files(out: Path) -> dict[str, list[str]]:
    return {
        folder: sorted(p.name for p in (out / folder).iterdir())
        for folder in ("Images", "captions", "metadata")
    }


def test_a_rebuild_with_fewer_samples_and_other_chunks_keeps_exactly_those(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    keys = ["a-1", "a-2", "b-1", "b-2", "c-1"]
    for key in keys:
        (store / f"{key}.jpg").write_bytes(b"pixels")
    dataset = FilesLayoutDataset(path=str(tmp_path / "files"))
    dataset.save(_plan(store, keys, chunk_size=2))
    assert _files(tmp_path / "files")["Images"] == [f"{k}.jpg" for k in keys]

    kept = ["a-1", "a-2", "c-1"]  # the b samples are held back now (a licence filter)
    dataset.save(_plan(store, kept, chunk_size=10))  # and in one chunk instead of three
    assert _files(tmp_path / "files") == {
        "Images": [f"{k}.jpg" for k in kept],
        "captions": [f"{k}.txt" for k in kept],
        "metadata": ["master_index.csv", "master_index.db"],
    }
    assert list(dataset.load()["filename"]) == [f"{k}.jpg" for k in kept]
    assert (tmp_path / "files" / "captions" / "c-1.txt").read_text() == "caption of c-1"
    assert sorted(p.name for p in store.iterdir()) == [f"{k}.jpg" for k in keys]  # links went


def test_a_folder_it_did_not_create_is_refused_untouched(tmp_path):
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "notes.txt").write_text("someone's files")
    store = tmp_path / "store"
    store.mkdir()
    (store / "a-1.jpg").write_bytes(b"pixels")
    with pytest.raises(DatasetError, match="did not create"):  # kedro wraps save errors
        FilesLayoutDataset(path=str(tmp_path / "files")).save(_plan(store, ["a-1"], 1))
    assert [p.name for p in (tmp_path / "files").iterdir()] == ["notes.txt"]


def test_an_export_without_images_gives_an_empty_master_index(tmp_path):
    """Normalize rejected every image: the export table is empty and its `image_ext`,
    with no value to infer a string from, is float64 (the key is a string column)."""
    samples = pd.DataFrame({c: pd.Series(dtype="float64") for c in INDEX_SOURCE_COLUMNS})
    samples["key"] = pd.Series(dtype="str")
    index = master_index(samples)
    assert list(index.columns) == INDEX_COLUMNS and index.empty
    commit(stage_master_index([index], tmp_path))
    csv = (tmp_path / "metadata" / "master_index.csv").read_text()
    assert csv == ",".join(INDEX_COLUMNS) + "\n"
    with closing(sqlite3.connect(tmp_path / "metadata" / "master_index.db")) as db:
        assert db.execute("SELECT COUNT(*) FROM master_index").fetchone() == (0,)


def test_an_unchanged_master_index_is_not_rewritten(tmp_path):
    """A no-change rerun skips the index (at 343k samples its CSV and SQLite files were
    most of the rerun); other rows, or an index file damaged since, rewrite it."""
    store = tmp_path / "store"
    store.mkdir()
    keys = ["a-1", "a-2", "b-1"]
    for key in keys:
        (store / f"{key}.jpg").write_bytes(b"pixels")
    out = tmp_path / "files"
    dataset = FilesLayoutDataset(path=str(out))
    csv, db = out / "metadata" / "master_index.csv", out / "metadata" / "master_index.db"

    def written() -> tuple[int, int]:
        return csv.stat().st_ino, db.stat().st_ino  # a rewrite renames a new file in

    dataset.save(_plan(store, keys, chunk_size=2))
    first = written()
    dataset.save(_plan(store, keys, chunk_size=2))
    assert written() == first
    assert _files(out)["metadata"] == ["master_index.csv", "master_index.db"]

    dataset.save(_plan(store, keys[:2], chunk_size=2))  # other rows
    assert written() != first and list(dataset.load()["filename"]) == ["a-1.jpg", "a-2.jpg"]

    second = written()
    csv.write_text("filename\n")  # damaged in place: its size no longer matches
    dataset.save(_plan(store, keys[:2], chunk_size=2))
    assert written()[0] != second[0]
    assert list(dataset.load()["filename"]) == ["a-1.jpg", "a-2.jpg"]
