"""The record base every kind shares, and one helper per shared fact.

One manifest row is one raw record (an image, a volume, a series). One rejects row is one
raw record that will not reach an output, with the file, the row, the stage and the
reason, so that exported + rejected = raw records, per source.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from unimed_kedro.schema.text import clean_value

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

# The id rule: `<source>-<stem>`, all of [a-z0-9_-] (WebDataset splits a key at its first
# dot, a slash would be a folder of the chunk store).
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_ID_SAFE = re.compile(r"[a-z0-9_-]+")  # a source name; `<source>-` and this: an id


class SampleIdError(RuntimeError):
    """A sample id that breaks the id rule: a bug of the reader that built it (every id is
    made by `make_sample_id`), not a fault of the data."""


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
        # later stages find label columns by their prefix (`label_columns_in`)
        taken = [c for c in self.columns if c.startswith(LABEL_PREFIX)]
        if taken:
            raise ValueError(f"record kind {self.name!r}: {taken} would be read as label columns")

    def manifest_columns(self, labels: Iterable[str]) -> list[str]:
        return [*self.columns, *label_columns(labels)]

    def dtypes(self, labels: Iterable[str]) -> dict[str, str]:
        return {c: "float64" for c in [*self.float_columns, *label_columns(labels)]}

    def empty(self, labels: Iterable[str]) -> pd.DataFrame:
        """A manifest of no record, in this kind's columns and dtypes."""
        return self.conform(pd.DataFrame(columns=self.manifest_columns(labels)), labels)

    def conform(self, manifest: pd.DataFrame, labels: Iterable[str]) -> pd.DataFrame:
        """The manifest in this kind's columns and dtypes, whatever it holds: float columns
        (labels, age) float64 even when empty; a column a source never fills (shipped
        captions of a source that ships none) holds None, not all-NaN floats: the records
        of a build without the sources that fill it must still hold what later stages
        expect."""
        labels = list(labels)
        floats = self.dtypes(labels)
        frame = manifest.reindex(columns=self.manifest_columns(labels)).astype(floats)
        for column in frame.columns.difference(list(floats), sort=False):
            values = frame[column]
            if (values.dtype == object or values.dtype.kind == "f") and values.isna().any():
                frame[column] = values.astype(object).where(values.notna(), None)
        return frame


def make_sample_id(source: str, *parts: object) -> str:
    """The id rule, the one way a sample id is made: `<source>-<parts joined by _>`.

    Each part (a raw id as the source writes it) is folded: every run of characters outside
    `[A-Za-z0-9_-]` (dots, slashes, spaces) becomes `_`, letters are lower-cased and `_` at
    its ends is dropped. A raw id holding characters outside ASCII, or folding to nothing,
    also gets a digest of the raw text (`u` + 10 hex digits), so ids written in another
    script stay apart. Equal parts give equal ids, on any machine and Python; two raw ids
    folding to one id (`a.b`, `a_b`) are caught by the sources' `finish`, which keeps the
    first and rejects the other as an `id_collision` naming both."""
    if not _ID_SAFE.fullmatch(source):
        raise SampleIdError(f"source name {source!r}: expected [a-z0-9_-] only")
    texts = [str(p) for p in parts]
    stem = "_".join(_ID_UNSAFE.sub("_", t).lower().strip("_") for t in texts)
    if not stem.strip("_"):
        stem = f"u{_digest(texts)}"
    elif not all(t.isascii() for t in texts):
        stem = f"{stem}_u{_digest(texts)}"
    return f"{source}-{stem}"


def _digest(texts: list[str]) -> str:
    raw = "\x1f".join(texts).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(raw, digest_size=5).hexdigest()


def seeded_keys(sample_ids: Iterable[str], seed: int) -> np.ndarray:
    """A sort key per sample that no other sample moves: sha256 of `<seed>:<sample id>`,
    its first 16 bytes as two unsigned 64-bit numbers (rows x 2), which sort as its hex
    digest does. 16 bytes a sample, where the hex digest as text costs ~110."""
    digests = b"".join(hashlib.sha256(f"{seed}:{s}".encode()).digest()[:16] for s in sample_ids)
    return np.frombuffer(digests, dtype=">u8").astype(np.uint64).reshape(-1, 2)


def check_sample_ids(source: str, sample_ids: pd.Series | Iterable[object]) -> None:
    """Raise `SampleIdError` naming the ids of `source` that break the id rule (a column
    of Arrow strings is matched at once)."""
    ids = (
        sample_ids
        if isinstance(sample_ids, pd.Series)
        else pd.Series(list(sample_ids), dtype=object)
    )
    if not len(ids):
        return
    good = ids.str.fullmatch(rf"{re.escape(source)}-[a-z0-9_-]+", na=False).astype(bool)
    if not good.all():
        bad = ids[~good].tolist()
        raise SampleIdError(
            f"{source}: {len(bad)} sample ids break the id rule (<source>-[a-z0-9_-]+, "
            f"built by schema.make_sample_id), e.g. {bad[:5]}"
        )


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
    """Reject (or correction) rows as a table; their text is cleaned (`clean_text`), since a
    detail may quote raw bytes."""
    cleaned = [{k: clean_value(v) for k, v in row.items()} for row in rows]
    frame = pd.DataFrame(cleaned, columns=REJECT_COLUMNS)
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
