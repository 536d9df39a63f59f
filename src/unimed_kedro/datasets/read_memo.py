"""The tables of a source's last read, kept in a folder as Parquet so ingest can reuse them
while nothing they depend on has changed (`sources.base.ReadMemo`).

The folder holds `manifest.parquet`, `rejects.parquet`, `corrections.parquet` and
`key.json`, committed as a whole (`atomic_dir`): a killed run leaves the last whole memo
or none (and a staging folder the next `remember` sweeps), never a key naming tables it
did not finish. Reused tables must be the ones the reader gave, so a rerun writes the
bytes a fresh run writes: Parquet keeps dtypes but not whether a missing text was None or
NaN, nor lists (they come back as arrays). Each file therefore carries a note per column,
and `remember` reads its files back before the commit: tables that do not come back equal
are not kept (a warning; the next run reads afresh). A killed run's staging folder is swept by `remove_stale_temporaries`.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pandas.api.types import is_object_dtype

from unimed_kedro.io.atomic import atomic_dir, remove_stale_temporaries
from unimed_kedro.io.digests import TreeState, links_state, scan_tree
from unimed_kedro.schema.columns import arrow_table, is_list_column, list_values
from unimed_kedro.sources.base import SourceTables

log = logging.getLogger(__name__)

KEY = "key.json"
FILES = {name: f"{name}.parquet" for name in SourceTables._fields}
_NOTES = b"unimed_kedro.read_memo"  # the per-column notes, in each file's schema metadata


class _NotKept(Exception):
    """The tables do not survive Parquet unchanged; the commit is abandoned."""


@dataclass(frozen=True)
class ParquetReadMemo:
    """A `ReadMemo` in `folder` (the folder is created and replaced whole). The source
    folder's walk (`folder_key`, the node memo's key of ingest) is kept for the read's
    own key (`take_tree`): one walk of a folder of 223k images, not two."""

    folder: Path
    _walks: dict = field(default_factory=dict, compare=False, repr=False)

    def folder_key(self, path: Path) -> str | None:
        if not path.is_dir():
            return f"missing:{path}"
        tree = self._walks[path] = scan_tree(path)
        links = links_state(path, tree.links)
        return None if links is None else f"{os.path.realpath(path)}:{tree.digest}:{links}"

    def take_tree(self, path: Path) -> TreeState:
        return self._walks.pop(path, None) or scan_tree(path)

    def recall(self, key: str) -> SourceTables | None:
        """The tables remembered under `key`; None for another key, a missing file or any
        damage (a truncated file, a key file that is not JSON)."""
        try:
            if json.loads((self.folder / KEY).read_text(encoding="utf-8"))["key"] != key:
                return None
            return _read_tables(self.folder)
        except FileNotFoundError:
            return None
        except Exception as error:  # whatever is wrong with it, it is not to be trusted
            log.warning("%s: read memo unusable (%s); reading afresh", self.folder, error)
            return None

    def remember(self, key: str, tables: SourceTables) -> None:
        """Keep `tables` under `key`, replacing what the folder held; the key is written
        last, after the tables were read back equal. The staging folder of a killed run
        (its writer dead) is swept first: nothing else sweeps the data folders."""
        if self.folder.parent.is_dir():
            remove_stale_temporaries(self.folder.parent)
        try:
            with atomic_dir(self.folder) as staging:
                _stage(tables, staging)
                (staging / KEY).write_text(json.dumps({"key": key}) + "\n", encoding="utf-8")
        except _NotKept as why:
            log.warning(
                "%s: tables not kept for reuse (%s); the next run reads afresh", self.folder, why
            )


def _stage(tables: SourceTables, staging: Path) -> None:
    """Write `tables` into `staging`; `_NotKept` unless the files give them back exactly:
    equal values (floats to the bit) and, in columns of Python objects, the same missing
    values (an exact comparison takes None for NaN). A failing disk is the run's error."""
    try:
        for name, frame in zip(SourceTables._fields, tables):
            _write_table(frame, staging / FILES[name])
        kept = _read_tables(staging)
        for name, frame, back in zip(SourceTables._fields, tables, kept):
            pd.testing.assert_frame_equal(frame, back, check_exact=True, obj=name)
            for column in frame.columns:
                if _missing(frame[column]) != _missing(back[column]):
                    raise AssertionError(f"{name}: missing values of {column!r} differ")
    except OSError:
        raise
    except Exception as error:  # an unrepresentable value as much as an unequal one
        raise _NotKept(str(error).splitlines()[0]) from error


def _missing(values: pd.Series) -> list[type]:
    """The types of a column's missing values (None, float NaN, pandas' NA)."""
    return [type(v) for v in values[values.isna()].tolist()] if is_object_dtype(values) else []


def _read_tables(folder: Path) -> SourceTables:
    return SourceTables(*(_read_table(folder / FILES[name]) for name in SourceTables._fields))


def _write_table(frame: pd.DataFrame, path: Path) -> None:
    table = arrow_table(frame)
    notes = json.dumps([_note(frame[column]) for column in frame.columns]).encode()
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), _NOTES: notes})
    pq.write_table(table, path)


def _note(values: pd.Series) -> dict[str, Any]:
    """What Parquet does not keep of a column: its dtype as named, and for a column of
    Python objects how a missing value was written (None, NaN, or "mixed")."""
    note: dict[str, Any] = {"dtype": str(values.dtype), "missing": None}
    if is_object_dtype(values.dtype):
        missing = values[values.isna()].tolist()
        if missing:
            kinds = {
                "none" if v is None else "nan" if isinstance(v, float) else "other" for v in missing
            }
            note["missing"] = kinds.pop() if len(kinds) == 1 else "mixed"
    return note


def _read_table(path: Path) -> pd.DataFrame:
    table = pq.read_table(path)
    notes = json.loads(table.schema.metadata[_NOTES])
    frame = table.to_pandas(types_mapper=_lists_as_arrow)  # lists: no array per cell
    if len(notes) != len(frame.columns):
        raise ValueError(f"{path.name}: {len(frame.columns)} columns, {len(notes)} notes")
    for column, note in zip(list(frame.columns), notes):
        frame[column] = _restore(frame[column], note)
    return frame


def _lists_as_arrow(dtype: pa.DataType) -> pd.ArrowDtype | None:
    """Lists as Arrow lists of `item`s, as `pa.array` builds them (Parquet names the
    item `element`)."""
    return pd.ArrowDtype(pa.list_(dtype.value_type)) if pa.types.is_list(dtype) else None


def _restore(values: pd.Series, note: dict[str, Any]) -> pd.Series:
    """A column as it was written: its dtype (Arrow lists as read), Python lists where it
    held them, and None or NaN for a missing value as the column had it."""
    lists = is_list_column(values)
    if lists and str(values.dtype) == note["dtype"]:
        return values
    if lists:
        cells = list_values(values)
        values = pd.Series(cells, index=values.index, dtype=object, name=values.name)
    dtype = pd.api.types.pandas_dtype(note["dtype"])
    if values.dtype != dtype:
        values = values.astype(dtype)
    if not is_object_dtype(dtype):
        return values
    if note["missing"] in ("none", "nan"):
        values = values.where(values.notna(), None if note["missing"] == "none" else np.nan)
    return values
