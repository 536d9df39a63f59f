"""The record base every kind shares, and one helper per shared fact.

One manifest row is one raw record (an image, a volume, a series). One rejects row is one
raw record that will not reach an output, with the file, the row, the stage and the
reason, so that exported + rejected = raw records, per source.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

# What every record has, whatever its kind.
BASE_COLUMNS = (
    "sample_id",  # <source>-<stable id>, [a-z0-9_-] only (WebDataset keys split at dots)
    "source",
    "patient_id",  # <source>:<patient id>; a study/report stands in where none exists
    "study_id",
    "raw_relpath",  # path inside the source folder (checked not to escape it); no absolute
    # paths anywhere, so manifests stay valid wherever raw data is mounted
    "official_split",  # train / val / test / None
    "license",
)
# The raw file's sha256 joins the record where its bytes are first read (normalize).
RAW_SHA256 = "sha256"

SPLITS = ("train", "val", "test")

LABEL_PREFIX = "label_"
# Label values: 1 positive, 0 negative, -1 uncertain, NaN not annotated.
POSITIVE, NEGATIVE, UNCERTAIN = 1.0, 0.0, -1.0

REJECT_COLUMNS = ["source", "sample_id", "file", "row", "stage", "reason", "detail"]

_ID_UNSAFE = re.compile(r"[^a-z0-9_-]+")


@dataclass(frozen=True)
class RecordKind:
    """A kind of record: its columns in manifest order (the base columns among them, where
    the kind wants them) and which hold floats (NaN when unknown). Labels follow as
    `label_<name>` columns."""

    name: str
    columns: tuple[str, ...]
    float_columns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        missing = [c for c in BASE_COLUMNS if c not in self.columns]
        if missing:
            raise ValueError(f"record kind {self.name!r} lacks base columns {missing}")

    def manifest_columns(self, labels: Iterable[str]) -> list[str]:
        return [*self.columns, *label_columns(labels)]

    def dtypes(self, labels: Iterable[str]) -> dict[str, str]:
        return {c: "float64" for c in [*self.float_columns, *label_columns(labels)]}

    def empty(self, labels: Iterable[str]) -> pd.DataFrame:
        return pd.DataFrame(columns=self.manifest_columns(labels))


def make_sample_id(source: str, *parts: str) -> str:
    """`<source>-<parts joined by _>`, lower-cased, every other character folded to `_`."""
    stem = "_".join(_ID_UNSAFE.sub("_", str(p).lower()).strip("_") for p in parts)
    return f"{source}-{stem}"


def is_missing(value: Any) -> bool:
    """None, NaN and pandas' NA all mean "not recorded" (parquet turns None into NaN)."""
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def row_dicts(frame: pd.DataFrame, columns: list[str] | None = None) -> list[dict]:
    """Rows as dicts, built column by column: `to_dict("records")` boxes every Arrow string
    on its own and took seconds per 20,000 rows."""
    columns = list(frame.columns) if columns is None else columns
    values = [frame[c].tolist() for c in columns]
    return [dict(zip(columns, row)) for row in zip(*values)]


def label_columns(names: Iterable[str]) -> list[str]:
    """Manifest columns of the label names, in their order."""
    return [f"{LABEL_PREFIX}{name}" for name in names]


def label_columns_in(columns: Iterable[str]) -> list[str]:
    """The label columns among `columns` (a frame's, a row's keys), in their order."""
    return [c for c in columns if c.startswith(LABEL_PREFIX)]


def label_name(column: str) -> str:
    return column.removeprefix(LABEL_PREFIX)


def rejects_frame(rows: Iterable[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=REJECT_COLUMNS)
    frame["row"] = frame["row"].astype("Int64")
    return frame.astype({c: "object" for c in REJECT_COLUMNS if c != "row"})


def reject_records(
    records: pd.DataFrame, *, stage: str, reasons: Sequence[str], details: Sequence[str | None]
) -> pd.DataFrame:
    """Rejects rows for records (with `source`, `sample_id`, `raw_relpath`) that a stage
    after ingest leaves out, one reason and detail per record."""
    return rejects_frame(
        {
            "source": source,
            "sample_id": sample_id,
            "file": file,
            "row": None,
            "stage": stage,
            "reason": reason,
            "detail": detail,
        }
        for source, sample_id, file, reason, detail in zip(
            records["source"].tolist(),
            records["sample_id"].tolist(),
            records["raw_relpath"].tolist(),
            reasons,
            details,
        )
    )
