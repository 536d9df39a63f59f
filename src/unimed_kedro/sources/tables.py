"""Reading index tables row by row: a bad row becomes a reject naming the file and line, a
missing column is a layout error; per-read memos of values parsed once."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable, Hashable, Iterator
from pathlib import Path
from typing import Any

from unimed_kedro.sources.base import LayoutError, Rejects


class Memo(dict):
    """Per-read cache of a pure function of one hashable value (a cell, a tuple of cells):
    a source repeats a handful of label, sex and view values over thousands of rows. A dict
    subclass, so a hit is one C-level lookup; a value whose call raises is not stored."""

    def __init__(self, function: Callable[[Any], object]):
        super().__init__()
        self.function = function

    def __missing__(self, key: Hashable) -> object:
        value = self[key] = self.function(key)
        return value


def open_text(path: Path) -> io.TextIOBase:
    """Open a .csv or .csv.gz as text; `utf-8-sig` drops a BOM if a copy added one."""
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


Malformed = Callable[[int, dict[str, str], str], None]


def read_csv_rows(
    path: Path,
    required: list[str],
    rejects: Rejects,
    root: Path,
    malformed: Malformed | None = None,
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield `(line number, row)` for well-formed rows; a row with the wrong field count
    becomes a `bad_csv_row` reject, or goes to `malformed(line, cells as far as they
    reach, detail)` for tables whose rows are not records. A missing required column is a
    layout error."""
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
                detail = f"expected {width} fields, found {len(fields)}"
                if malformed is None:
                    rejects.add("bad_csv_row", detail, file=rel, row=line)
                else:
                    malformed(line, dict(zip(header, fields)), detail)
                continue
            yield line, dict(zip(header, fields))
