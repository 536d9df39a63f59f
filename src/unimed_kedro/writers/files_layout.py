"""The chest X-ray downloader's folder layout.

`Images/<key>.jpg`, `captions/<key>.txt` (the structured caption) and
`metadata/master_index.csv` + `metadata/master_index.db` (SQLite, table `master_index`,
the same rows). The seed's `date_added` column is left out: it would make two runs differ.
Images are hard links to the normalised-image store (copies where the filesystem cannot
link): writing 20,000 images costs file entries, not another gigabyte. Replace such a
file rather than editing it in place, or the store changes with it.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from unimed_kedro.io.atomic import NewFiles, temporary
from unimed_kedro.schema.tables import Rows

IMAGES, CAPTIONS = "Images", "captions"
# Bump when the master index's format (columns, CSV or SQLite layout) changes: an index of
# the same rows is otherwise not rewritten.
INDEX_VERSION = 1
INDEX_COLUMNS = [
    "filename",
    "source",
    "image_path",
    "caption_path",
    "has_caption",
    "file_size_mb",
    "sample_id",
    "patient_id",
    "study_id",
    "view",
    "sex",
    "age",
    "split",
    "official_split",
    "license",
    "sha256",
    "width",
    "height",
    "webdataset_shard",
    "caption",
]
_DERIVED = {"filename", "image_path", "caption_path", "has_caption", "file_size_mb"}
# Columns of the export table the layout reads: the index's own, what the derived ones
# come from, and the caption file's text.
INDEX_SOURCE_COLUMNS = [c for c in INDEX_COLUMNS if c not in _DERIVED] + [
    "key",
    "image_ext",
    "stored_bytes",
    "structured_caption",
]


@dataclass(frozen=True)
class FilesChunk:
    """A chunk of samples: their rows of the export table (`key`, `image_ext`,
    `structured_caption`) and where each one's stored image is ((path, size) pairs)."""

    rows: Rows
    images: Iterable[tuple[str, int]]

    def __len__(self) -> int:
        return len(self.rows)


def write_files_chunk(task, out_dir: Path) -> tuple[list[dict], list[str]]:
    """Chunk function for `engine.run_job`: images and captions of a chunk of samples,
    each appearing whole (`atomic.NewFiles`)."""
    chunk: FilesChunk = task.payload
    rows = chunk.rows.frame()
    samples = zip(rows["key"], rows["image_ext"], rows["structured_caption"], chunk.images)
    outputs = []
    with NewFiles(f"{out_dir}/{IMAGES}") as images, NewFiles(f"{out_dir}/{CAPTIONS}") as texts:
        for key, ext, caption, (path, _) in samples:
            image, text = image_name(key, ext), f"{key}.txt"
            images.link(path, image)
            texts.write(text, caption.encode())
            outputs += [f"{IMAGES}/{image}", f"{CAPTIONS}/{text}"]
    return [], outputs


def image_name(key: Any, ext: Any) -> Any:
    """A sample's image file name, `<key>.<ext>`: of one sample (text) or of a column of
    them (pandas text Series)."""
    return key + "." + ext


def filename_order(keys: pa.Array, extensions: pa.Array) -> np.ndarray:
    """Row numbers of the export rows in the master index's order (by file name)."""
    names = image_name(*(a.cast(pa.string()).to_pandas() for a in (keys, extensions)))
    return pc.sort_indices(pa.array(names, type=pa.string())).to_numpy()


def master_index(samples: pd.DataFrame) -> pd.DataFrame:
    """`metadata/master_index.*` rows of the exported samples, sorted by file name. The
    names are made as text whatever the columns' dtypes: where normalize rejected every
    image, the empty table's `image_ext` has no value to be inferred a string from."""
    key, ext = samples["key"].astype("str"), samples["image_ext"].astype("str")
    filename = image_name(key, ext)
    frame = samples.assign(
        filename=filename,
        image_path=f"{IMAGES}/" + filename,
        caption_path=f"{CAPTIONS}/" + key + ".txt",
        has_caption=True,
        file_size_mb=(samples["stored_bytes"] / 1e6).round(6),
    )
    return frame[INDEX_COLUMNS].sort_values("filename", kind="stable").reset_index(drop=True)


def stage_master_index(batches: Iterable[pd.DataFrame], out_dir: Path) -> list[tuple[str, Path]]:
    """Write `metadata/master_index.csv` and `.db` from `batches` of master index rows (in
    file-name order), a batch at a time, under temporary names; return the (temporary,
    final) pairs for `atomic.commit`: the index is written while the workers still copy
    images, and appears only once they all succeeded."""
    meta = out_dir / "metadata"
    meta.mkdir(parents=True, exist_ok=True)
    csv, db = meta / "master_index.csv", meta / "master_index.db"
    staged = [(temporary(csv), csv), (temporary(db), db)]
    if os.path.exists(staged[1][0]):
        os.unlink(staged[1][0])
    with (
        open(staged[0][0], "w", encoding="utf-8", newline="") as handle,
        closing(sqlite3.connect(staged[1][0])) as connection,
    ):
        # A temporary file renamed into place: SQLite's own journal and fsyncs add nothing.
        connection.execute("PRAGMA journal_mode=OFF")
        connection.execute("PRAGMA synchronous=OFF")
        for number, frame in enumerate(batches):
            frame.to_csv(handle, index=False, header=number == 0, lineterminator="\n")
            frame.to_sql("master_index", connection, index=False, if_exists="append")
        connection.execute("CREATE UNIQUE INDEX idx_filename ON master_index(filename)")
        connection.commit()
    return staged
