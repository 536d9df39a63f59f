"""WebDataset shards: `<split>/<collection>-<split>-NNNNNN.tar` and `sizes.json` per split.

Each sample is `<key>.jpg` (the normalised image; `.webp`/`.png` if so configured), `<key>.txt` (the caption) and
`<key>.json` (provenance and labels, below), read back by `webdataset.WebDataset`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from unimed_kedro.schema import LABEL_PREFIX, is_missing, row_dicts
from unimed_kedro.writers.atomic import readahead
from unimed_kedro.writers.tar import TarShardWriter

# Row fields a shard task needs besides the `label_*` columns (what `sample_json` reads).
ROW_FIELDS = ["key", "image_ext", "caption", "sample_id", "source", "patient_id", "study_id",
              "view", "sex", "age", "report_findings", "report_impression", "caption_kind",
              "split", "official_split", "license", "raw_relpath", "sha256", "orig_width",
              "orig_height", "width", "height"]


@dataclass(frozen=True)
class ShardSpec:
    """One shard: its rows of the export `table` (`positions`, in write order) and (file,
    size) of each stored image. Every shard of a job shares the one table; only
    pickling (sending the task to a worker) copies this shard's rows out of it, so the
    parent never holds a second copy of the table."""

    relpath: str
    table: pd.DataFrame
    positions: np.ndarray
    images: list[tuple[str, int]]

    def rows(self) -> pd.DataFrame:
        return self.table.iloc[self.positions].reset_index(drop=True)

    def __len__(self) -> int:
        return len(self.positions)

    def __reduce__(self):
        return ShardSpec, (self.relpath, self.rows(), np.arange(len(self)), self.images)


def _clean(value):
    if is_missing(value):
        return None
    return value.item() if hasattr(value, "item") else value


def label_keys(keys) -> list[str]:
    return [k for k in keys if k.startswith(LABEL_PREFIX)]


def sample_json(row: dict, labels: list[str] | None = None) -> bytes:
    """The `.json` member: every SPEC field, labels as 1 / 0 / -1 / null. `labels` (the
    row's label keys) can be given once per shard rather than found in every row."""
    record = {
        "sample_id": row["sample_id"], "source": row["source"],
        "patient_id": row["patient_id"], "study_id": row["study_id"], "view": row["view"],
        "sex": _clean(row["sex"]), "age": _clean(row["age"]),
        "labels": {k[len(LABEL_PREFIX):]: None if is_missing(row[k]) else int(row[k])
                   for k in (label_keys(row) if labels is None else labels)},
        "report": {"findings": _clean(row["report_findings"]),
                   "impression": _clean(row["report_impression"])},
        "caption_kind": row["caption_kind"], "split": row["split"],
        "official_split": _clean(row["official_split"]), "license": row["license"],
        "raw_relpath": row["raw_relpath"], "sha256": row["sha256"],
        "original_size": {"width": int(row["orig_width"]), "height": int(row["orig_height"])},
        "stored_size": {"width": int(row["width"]), "height": int(row["height"])},
    }
    return json.dumps(record, sort_keys=True, ensure_ascii=False).encode()


def write_shard(task, out_dir: Path) -> tuple[list[dict], list[str]]:
    """Chunk function for `engine.run_job`: one shard per task."""
    spec: ShardSpec = task.payload
    rows = spec.rows()
    labels = label_keys(rows.columns)
    readahead(path for path, _ in spec.images)
    with TarShardWriter(out_dir / spec.relpath) as tar:
        for row, (path, size) in zip(row_dicts(rows), spec.images):
            key = row["key"]
            tar.add_file(f"{key}.{row['image_ext']}", path, size)
            tar.add(f"{key}.json", sample_json(row, labels))
            tar.add(f"{key}.txt", row["caption"].encode())
    return [{"shard": spec.relpath, "samples": len(rows)}], [spec.relpath]
