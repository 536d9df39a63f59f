"""The chest X-ray downloader's folder layout.

`Images/<key>.jpg`, `captions/<key>.txt` (the structured caption) and
`metadata/master_index.csv` + `metadata/master_index.db` (SQLite, table `master_index`,
the same rows). The seed's `date_added` column is left out: it would make two runs differ.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from unimed_kedro.writers.atomic import atomic_open, atomic_write_bytes
from unimed_kedro.writers.tar import read_member

INDEX_COLUMNS = ["filename", "source", "image_path", "caption_path", "has_caption",
                 "file_size_mb", "sample_id", "patient_id", "study_id", "view", "sex", "age",
                 "split", "official_split", "license", "sha256", "width", "height",
                 "webdataset_shard", "caption"]


@dataclass(frozen=True)
class FilesChunk:
    """Rows of a chunk of samples and (file, offset, size) of each stored image."""

    rows: list[dict]
    images: list[tuple[str, int, int]]

    def __len__(self) -> int:
        return len(self.rows)


def write_files_chunk(task, out_dir: Path) -> tuple[list[dict], list[str]]:
    """Chunk function for `engine.run_job`: images and captions of a chunk of samples."""
    chunk: FilesChunk = task.payload
    index_rows, outputs = [], []
    for row, (path, offset, size) in zip(chunk.rows, chunk.images):
        image_rel = f"Images/{row['key']}.{row['image_ext']}"
        caption_rel = f"captions/{row['key']}.txt"
        data = read_member(Path(path), offset, size)
        atomic_write_bytes(out_dir / image_rel, data)
        atomic_write_bytes(out_dir / caption_rel, row["structured_caption"].encode())
        outputs += [image_rel, caption_rel]
        index_rows.append({
            **{c: row.get(c) for c in INDEX_COLUMNS},
            "filename": Path(image_rel).name, "image_path": image_rel,
            "caption_path": caption_rel, "has_caption": True,
            "file_size_mb": round(len(data) / 1e6, 6),
        })
    return index_rows, outputs


def write_master_index(rows: list[dict], out_dir: Path) -> None:
    frame = pd.DataFrame(rows, columns=INDEX_COLUMNS).sort_values("filename", kind="stable")
    with atomic_open(out_dir / "metadata" / "master_index.csv") as handle:
        handle.write(frame.to_csv(index=False, lineterminator="\n").encode())
    db = out_dir / "metadata" / "master_index.db"
    tmp = db.with_name(db.name + ".tmp-index")
    tmp.unlink(missing_ok=True)
    with sqlite3.connect(tmp) as connection:
        frame.to_sql("master_index", connection, index=False)
        connection.execute("CREATE UNIQUE INDEX idx_filename ON master_index(filename)")
    connection.close()
    tmp.replace(db)
