"""Sample formats: which members each exported sample has besides its image, built from
the export row (webdataset's member-dict model: `{"json": ..., "txt": ...}`).

A format is the export columns it reads and a factory called once per shard with the
table's columns, returning `row -> {extension: bytes}` (members in write order). Factories
are module-level functions so a shard task pickles by reference.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from unimed_kedro.schema import is_missing, label_columns_in, label_name

Members = Callable[[dict], dict[str, bytes]]


@dataclass(frozen=True)
class SampleFormat:
    fields: list[str]  # export columns the members read, besides `label_*`
    members: Callable[[list[str]], Members]


def _clean(value):
    if is_missing(value):
        return None
    return value.item() if hasattr(value, "item") else value


def _provenance(row: dict) -> dict:
    """Where a sample comes from and what it was: every format's JSON has these."""
    return {
        "official_split": _clean(row["official_split"]),
        "license": row["license"],
        "raw_relpath": row["raw_relpath"],
        "sha256": row["sha256"],
        "original_size": {"width": int(row["orig_width"]), "height": int(row["orig_height"])},
    }


def image_record_json(row: dict, labels: list[str]) -> bytes:
    """The 2D image record as JSON: provenance, labels as 1 / 0 / -1 / null, report
    sections, split and sizes (`labels`: the row's label columns). `report_text` is the
    caption stage's column as it is: the whole report with its redactions marked, for
    readers who want the text the captions mend (null without a report)."""
    record = {
        "sample_id": row["sample_id"],
        "source": row["source"],
        "patient_id": row["patient_id"],
        "study_id": row["study_id"],
        "view": row["view"],
        "sex": _clean(row["sex"]),
        "age": _clean(row["age"]),
        "labels": {label_name(k): None if is_missing(row[k]) else int(row[k]) for k in labels},
        "report": {
            "findings": _clean(row["report_findings"]),
            "impression": _clean(row["report_impression"]),
        },
        "report_text": _clean(row["report_text"]),
        "caption_kind": row["caption_kind"],
        "split": row["split"],
        **_provenance(row),
        "stored_size": {"width": int(row["width"]), "height": int(row["height"])},
    }
    return json.dumps(record, sort_keys=True, ensure_ascii=False).encode()


def image_record(columns: list[str]) -> Members:
    """`<key>.json` (the image record) and `<key>.txt` (the training caption)."""
    labels = label_columns_in(columns)

    def members(row: dict) -> dict[str, bytes]:
        return {"json": image_record_json(row, labels), "txt": row["caption"].encode()}

    return members


def image_text_json(row: dict) -> bytes:
    """An image–text pair's record: provenance and every candidate caption (the `.txt`
    one among them); `source` is the output folder's name (UniMed's: `chest_xray8`)."""
    record = {
        "sample_id": row["sample_id"],
        "source": row["folder"],
        "dataset": _clean(row["dataset"]),
        "patient_id": row["patient_id"],
        "captions": json.loads(row["captions"]),  # JSON text in the table: hashable
        "caption_kind": row["caption_kind"],
        **_provenance(row),
    }
    return json.dumps(record, sort_keys=True, ensure_ascii=False).encode()


def image_text(columns: list[str]) -> Members:
    """`<key>.txt` (the training caption) and `<key>.json` (the pair's record)."""

    def members(row: dict) -> dict[str, bytes]:
        return {"txt": row["caption"].encode(), "json": image_text_json(row)}

    return members


FORMATS = {
    "image_record": SampleFormat(
        [
            "key",
            "image_ext",
            "caption",
            "sample_id",
            "source",
            "patient_id",
            "study_id",
            "view",
            "sex",
            "age",
            "report_findings",
            "report_impression",
            "report_text",
            "caption_kind",
            "split",
            "official_split",
            "license",
            "raw_relpath",
            "sha256",
            "orig_width",
            "orig_height",
            "width",
            "height",
        ],
        image_record,
    ),
    "image_text": SampleFormat(
        [
            "key",
            "image_ext",
            "caption",
            "captions",
            "sample_id",
            "folder",
            "dataset",
            "patient_id",
            "caption_kind",
            "official_split",
            "license",
            "raw_relpath",
            "sha256",
            "orig_width",
            "orig_height",
        ],
        image_text,
    ),
}


def sample_format(name: str) -> SampleFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(
            f"export.sample_format must be one of {sorted(FORMATS)}, got {name!r}"
        ) from None
