"""What every source adapter shares: safe paths, row-level CSV reading, label harmonisation.

Adapters hold the layout knowledge of one dataset each; this module holds the rules that
must be the same for all of them (a path never escapes the source folder, a bad row becomes
a reject naming the file and line, labels land in the union vocabulary from config). Helpers
that run once per raw record keep per-read constants (the folder's absolute path, cell values
already parsed) so a 20,000-row read does not redo them per row.
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
import math
import os
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from unimed_kedro.schema import (
    LABEL_PREFIX,
    MANIFEST_COLUMNS,
    NEGATIVE,
    POSITIVE,
    UNCERTAIN,
    label_columns,
    rejects_frame,
)


@dataclass(frozen=True)
class RawSource:
    """A source folder under raw_root, as the catalog hands it to the ingest node."""

    name: str
    path: Path

    @property
    def exists(self) -> bool:
        """A missing or empty folder: the source is not there (DVC needs the folder to
        exist, so an empty one is how a DVC user leaves a source out)."""
        return self.path.is_dir() and any(self.path.iterdir())


@dataclass
class Rejects:
    """Collects rejected raw records of one source."""

    source: str
    rows: list[dict] = field(default_factory=list)

    def add(self, reason: str, detail: str, *, file: str, row: int | None = None,
            sample_id: str | None = None) -> None:
        self.rows.append({"source": self.source, "sample_id": sample_id, "file": file,
                          "row": row, "stage": "ingest", "reason": reason, "detail": detail})


class LayoutError(ValueError):
    """A present source folder whose files do not have the official layout."""


class Memo(dict):
    """Per-read cache of a pure function of one hashable value (a cell, a tuple of cells):
    a source repeats a handful of label, sex and view values over thousands of rows. A dict
    subclass, so a hit is one C-level lookup; a value whose call raises is not stored."""

    def __init__(self, function: Callable[[Hashable], object]):
        super().__init__()
        self.function = function

    def __missing__(self, key: Hashable) -> object:
        value = self[key] = self.function(key)
        return value


def resolve_inside(root: Path, relpath: str) -> str | None:
    """`root/relpath` normalised, or None when it points outside `root` (`../../etc/passwd`,
    an absolute path). The check is lexical on purpose: symlinks placed by the user or by
    DVC's cache are trusted, paths written in metadata files are not."""
    return _resolve(os.path.abspath(root), relpath)


def _resolve(base: str, relpath: str) -> str | None:
    """`resolve_inside` with `root` already absolute. Strings, not Paths: runs per record."""
    target = os.path.normpath(os.path.join(base, relpath))
    return target if target.startswith(base + os.sep) else None


def index_files(root: Path, folders: list[Path], suffix: str) -> dict[str, str]:
    """File name -> path relative to `root` for files ending in `suffix` directly inside
    `folders`; the first folder holding a name wins. For sources whose metadata names
    images without saying in which of several folders they sit."""
    index: dict[str, str] = {}
    for folder in folders:
        if not folder.is_dir():
            continue
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.lower().endswith(suffix) and entry.is_file():
                    index.setdefault(entry.name, os.path.relpath(entry.path, root))
    return index


def open_text(path: Path) -> io.TextIOBase:
    """Open a .csv or .csv.gz as text; `utf-8-sig` drops a BOM if a copy added one."""
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def read_csv_rows(path: Path, required: list[str], rejects: Rejects,
                  root: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield `(line number, row)` for well-formed rows; a row with the wrong field count
    becomes a `bad_csv_row` reject. A missing required column is a layout error."""
    rel = str(path.relative_to(root))
    with open_text(path) as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise LayoutError(f"{path}: empty file, expected a header with {required}")
        missing = [c for c in required if c not in header]
        if missing:
            raise LayoutError(f"{path}, line 1: missing columns {missing}; found {header}")
        width = len(header)
        for fields in reader:
            line = reader.line_num
            if not "".join(fields).strip():  # blank or whitespace-only in every field
                continue
            if len(fields) != width:
                rejects.add("bad_csv_row", f"expected {width} fields, found "
                            f"{len(fields)}", file=rel, row=line)
                continue
            yield line, dict(zip(header, fields))


@functools.lru_cache(maxsize=1024)  # pure; a label column holds a handful of distinct cells
def parse_label(value: str, column: str) -> float:
    """CheXpert-style label cell: 1.0 / 0.0 / -1.0 / blank (not annotated)."""
    text = value.strip()
    if not text:
        return math.nan
    try:
        number = float(text)
    except ValueError:
        number = math.inf
    if number not in (POSITIVE, NEGATIVE, UNCERTAIN):
        raise ValueError(f"column {column!r}: expected 1.0, 0.0, -1.0 or blank, got {value!r}")
    return number


def parse_age(value: str, column: str) -> float:
    """Ages as numbers, or NIH's early `058Y` form; blank is unknown."""
    text = value.strip().upper().rstrip("Y")
    if not text:
        return math.nan
    try:
        age = float(text)
    except ValueError:
        raise ValueError(f"column {column!r}: expected an age in years, got {value!r}") from None
    if not 0 <= age <= 130:
        raise ValueError(f"column {column!r}: expected an age in 0..130, got {value!r}")
    return age


def normalise_sex(value: str | None) -> str | None:
    text = (value or "").strip().upper()
    return {"M": "M", "MALE": "M", "F": "F", "FEMALE": "F"}.get(text)


def normalise_view(value: str | None, views: Mapping[str, str]) -> str:
    text = " ".join((value or "").strip().upper().split())
    return views.get(text, "UNKNOWN" if not text else text.replace(" ", "_"))


_RANK = {POSITIVE: 3, UNCERTAIN: 2, NEGATIVE: 1}


def harmonise(raw: Mapping[str, float], mapping: Mapping[str, str]) -> dict[str, float]:
    """Map source label names onto the union vocabulary. When several source labels land on
    one union label, positive beats uncertain beats negative beats not annotated."""
    out: dict[str, float] = {}
    for name, value in raw.items():
        key = mapping.get(name)
        if key is None or value != value:  # NaN, the one value unequal to itself
            continue
        column = LABEL_PREFIX + key
        kept = out.get(column)
        if _RANK[value] > (0 if kept is None else _RANK[kept]):
            out[column] = value
    return out


@dataclass
class SourceFolder:
    """The path checks every record of one source folder goes through, with the folder's
    absolute path worked out once per read instead of once per record."""

    root: Path
    rejects: Rejects
    base: str = field(init=False)

    def __post_init__(self) -> None:
        self.base = os.path.abspath(self.root)

    def inside(self, relpath: str, *, file: str, row: int | None,
               sample_id: str | None) -> str | None:
        """`root/relpath`, or None (and an `outside_raw_root` reject) when it escapes
        `root`. Checked before anything else so a hostile path is never opened."""
        path = _resolve(self.base, relpath)
        if path is None:
            self.rejects.add("outside_raw_root", f"path {relpath!r} points outside "
                             f"{self.root.name}/", file=file, row=row, sample_id=sample_id)
        return path

    def exists(self, path: str, *, file: str, row: int | None, sample_id: str | None) -> bool:
        """True for a regular file (one stat); otherwise a `missing_file` reject."""
        if os.path.isfile(path):
            return True
        self.rejects.add("missing_file", f"image {os.path.relpath(path, self.root)!r} not "
                         f"found in {self.root.name}/", file=file, row=row, sample_id=sample_id)
        return False


def finish(records: list[dict], rejects: Rejects,
           union: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build the manifest (sorted, one row per sample id) and the rejects table.

    Records carry `_file`/`_row` (where they were read) so a repeated record is rejected
    with its own location; the first occurrence is kept."""
    columns = MANIFEST_COLUMNS + label_columns(union)
    frame = pd.DataFrame(records, columns=columns + ["_file", "_row"])
    dup = frame["sample_id"].duplicated(keep="first")
    for row in frame[dup].to_dict("records"):
        rejects.add("duplicate_record", f"sample {row['sample_id']} already listed earlier",
                    file=row["_file"], row=row["_row"], sample_id=row["sample_id"])
    manifest = frame.loc[~dup, columns].sort_values("sample_id", kind="stable")
    manifest = manifest.reset_index(drop=True)
    labels = label_columns(union)
    manifest = manifest.astype({"age": "float64", **{c: "float64" for c in labels}})
    return manifest, rejects_frame(rejects.rows)
