"""The shared record schema every source adapter fills and every later stage reads.

One manifest row is one raw image record. One rejects row is one raw record that will not
reach an output, with the file, the row and the reason, so that
exported + rejected = raw records, per source.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

import pandas as pd

MANIFEST_COLUMNS = [
    "sample_id",      # <source>-<stable id>, [a-z0-9_-] only (WebDataset keys split at dots)
    "source",
    "patient_id",     # <source>:<patient id>; a study/report stands in where none exists
    "study_id",
    "raw_relpath",    # path inside the source folder (checked not to escape it); no absolute
                      # paths anywhere, so manifests stay valid wherever raw data is mounted
    "view",           # PA / AP / LATERAL / LL / RL / FRONTAL / UNKNOWN
    "sex",            # M / F / None
    "age",            # years, float, NaN when unknown
    "official_split",  # train / val / test / None
    "license",
    "report_findings",
    "report_impression",
    "source_captions",  # captions shipped by UniMed's annotation files, when present
]
LABEL_PREFIX = "label_"

REJECT_COLUMNS = ["source", "sample_id", "file", "row", "stage", "reason", "detail"]

# Label values in the manifest: 1 positive, 0 negative, -1 uncertain, NaN not annotated.
POSITIVE, NEGATIVE, UNCERTAIN = 1.0, 0.0, -1.0

_ID_UNSAFE = re.compile(r"[^a-z0-9_-]+")


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


def label_columns(union: Iterable[str]) -> list[str]:
    return [f"{LABEL_PREFIX}{name}" for name in union]


def empty_manifest(union: Iterable[str]) -> pd.DataFrame:
    return pd.DataFrame(columns=MANIFEST_COLUMNS + label_columns(union))


def rejects_frame(rows: Iterable[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=REJECT_COLUMNS)
    frame["row"] = frame["row"].astype("Int64")
    return frame.astype({c: "object" for c in REJECT_COLUMNS if c != "row"})
