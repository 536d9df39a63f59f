"""WebDataset shards: `<split>/<collection>-<split>-NNNNNN.tar` and `sizes.json` per split.

Each sample is `<key>.jpg` (the normalised image; `.webp`/`.png` if so configured), `<key>.txt` (the caption) and
`<key>.json` (provenance and labels, below), read back by `webdataset.WebDataset`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from unimed_kedro.schema import LABEL_PREFIX, is_missing
from unimed_kedro.writers.tar import TarShardWriter, read_member


@dataclass(frozen=True)
class ShardSpec:
    """Rows (dicts) of one shard in write order, and (file, offset, size) of each stored
    image."""

    relpath: str
    rows: list[dict]
    images: list[tuple[str, int, int]]

    def __len__(self) -> int:
        return len(self.rows)


def _clean(value):
    if is_missing(value):
        return None
    return value.item() if hasattr(value, "item") else value


def sample_json(row: dict) -> bytes:
    """The `.json` member: every SPEC field, labels as 1 / 0 / -1 / null."""
    labels = {k[len(LABEL_PREFIX):]: _clean(v) for k, v in row.items()
              if k.startswith(LABEL_PREFIX)}
    record = {
        "sample_id": row["sample_id"], "source": row["source"],
        "patient_id": row["patient_id"], "study_id": row["study_id"], "view": row["view"],
        "sex": _clean(row["sex"]), "age": _clean(row["age"]),
        "labels": {k: (None if v is None else int(v)) for k, v in labels.items()},
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
    with TarShardWriter(out_dir / spec.relpath) as tar:
        for row, (path, offset, size) in zip(spec.rows, spec.images):
            key = row["key"]
            tar.add(f"{key}.{row['image_ext']}", read_member(Path(path), offset, size))
            tar.add(f"{key}.json", sample_json(row))
            tar.add(f"{key}.txt", row["caption"].encode())
    return [{"shard": spec.relpath, "samples": len(spec.rows)}], [spec.relpath]
