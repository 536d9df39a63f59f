"""The contract every source reader fulfils, and the `read()` skeleton written once.

A `Source` subclass (one per dataset, or one per layout family whose datasets differ only
in a registry entry) says what its folder must hold (`layout`) and turns it into records
(`records`); the base opens the confined folder, collects rejects and builds the manifest
of the subclass's record kind. A reader never raises on a bad record: it adds a reject
naming the file, the row and what was expected. A folder without the official files is a
`LayoutError`, which stops the run with that message.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.types import is_object_dtype

from unimed_kedro.allocator import trim
from unimed_kedro.schema import IMAGE, RecordKind, is_missing, rejects_frame
from unimed_kedro.schema.base import check_sample_ids
from unimed_kedro.schema.columns import (
    decoded_lists,
    is_list_column,
    plain,
    records_frame,
    taken_rows,
)
from unimed_kedro.schema.text import clean_text, clean_value
from unimed_kedro.sources.paths import SourceFolder


@dataclass(frozen=True)
class SourceInfo:
    """What a source declares about itself: licence, whether derived images may be shared,
    citation, and what stands in for the patient."""

    name: str
    title: str
    license: str
    redistributable: bool
    citation: str
    patient_note: str

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_entry(cls, name: str, options: Mapping[str, Any], patient_note: str) -> SourceInfo:
        """What a registry entry says (a family reader's dataset has no module to say it);
        `patient_note` when the entry says nothing of patients."""
        return cls(
            name=name,
            title=str(options.get("title", name)),
            license=str(options.get("license", "unknown")),
            redistributable=bool(options.get("redistributable", False)),
            citation=str(options.get("citation", "")),
            patient_note=str(options.get("patient_note", patient_note)),
        )


class ReadMemo(Protocol):
    """Where the tables of a source's last read are kept, under a key that digests all the
    read depended on (the folder's state, the reader's code, its settings): ingest reuses
    them when the key is the same. `recall` gives None for another key or a memo that is
    damaged or incomplete, never an error."""

    def recall(self, key: str) -> SourceTables | None: ...

    def folder_key(self, path: Path) -> str | None:
        """The state of the folder at `path` (its every entry, what its links lead to),
        None when that cannot be known; the walk is kept for the next `take_tree`."""
        ...

    def take_tree(self, path: Path) -> Any:
        """The walk `folder_key` took, or a new one; the next call walks again."""
        ...

    def remember(self, key: str, tables: SourceTables) -> None: ...


@dataclass(frozen=True)
class RawSource:
    """A source folder under raw_root, as the catalog hands it to the ingest node; `memo`,
    where its last read is kept (none: every run reads the folder). The memo is an aid,
    not part of which folder this is: it takes no part in equality."""

    name: str
    path: Path
    memo: ReadMemo | None = field(default=None, compare=False, repr=False)

    @property
    def exists(self) -> bool:
        """A missing or empty folder: the source is not there (DVC needs the folder to
        exist, so an empty one is how a DVC user leaves a source out)."""
        return self.path.is_dir() and any(self.path.iterdir())

    def memo_key(self) -> str | None:
        """`engine.memo`: the folder's state as its read memo takes it (`folder_key`);
        None without a memo: ingest then runs every time, as it reads every time."""
        return self.memo.folder_key(self.path) if self.memo else None


@dataclass
class Rejects:
    """Collects rejected raw records of one source (`add`), and corrections (`correct`):
    a kept record whose recorded value was replaced (an impossible age read as unknown),
    or an index-table row that could be tied to no record. Corrections have the rejects'
    columns but never count as rejects: no raw record is lost by them."""

    source: str
    rows: list[dict] = field(default_factory=list)
    corrections: list[dict] = field(default_factory=list)

    def add(
        self,
        reason: str,
        detail: str,
        *,
        file: str,
        row: int | None = None,
        sample_id: str | None = None,
    ) -> None:
        self.rows.append(self._entry(reason, detail, file, row, sample_id))

    def correct(
        self,
        reason: str,
        detail: str,
        *,
        file: str,
        row: int | None = None,
        sample_id: str | None = None,
    ) -> None:
        self.corrections.append(self._entry(reason, detail, file, row, sample_id))

    def _entry(
        self, reason: str, detail: str, file: str, row: int | None, sample_id: str | None
    ) -> dict:
        return {
            "source": self.source,
            "sample_id": sample_id,
            "file": file,
            "row": row,
            "stage": "ingest",
            "reason": reason,
            "detail": detail,
        }


# A reject's reason: two different raw ids of one source that fold to one sample id.
ID_COLLISION = "id_collision"
# A correction's reason: text of a kept record (a report) held bytes that are not UTF-8.
UNDECODABLE_TEXT = "undecodable_text"
NOT_UTF8 = "bytes that are not UTF-8 were replaced by U+FFFD"
_CONTROL = r"[\x00-\x1f\x7f-\x9f]"  # what `clean_text` removes from an Arrow string


# Where a record was read (`_file`, `_row`) and its id as the source writes it: a reject
# of the record names them; they never reach the manifest.
WHERE_COLUMNS = ["_file", "_row", "_raw_id"]


class LayoutError(ValueError):
    """A present source folder whose files do not have the official layout."""


class SourceTables(NamedTuple):
    """What reading a source folder gives: the manifest of its kind, the rejected raw
    records, and the corrections made to kept ones (both in the rejects' columns)."""

    manifest: pd.DataFrame
    rejects: pd.DataFrame
    corrections: pd.DataFrame


class Source(ABC):
    """Reads one source folder into `SourceTables`.

    A reader of one dataset declares its `info`; a family reader, whose datasets are
    registry entries with no module of their own, overrides `describe` to build it from
    the entry's `options` (which every reader gets as `self.options`). `allow_symlinks`
    (the collection's `ingest.allow_symlinks`) lets records reach files through symbolic
    links leading outside the folder; without it they are `outside_raw_root` rejects."""

    info: ClassVar[SourceInfo]
    kind: ClassVar[RecordKind] = IMAGE

    def __init__(
        self,
        root: Path,
        vocabulary: Mapping[str, Any],
        *,
        name: str | None = None,
        options: Mapping[str, Any] | None = None,
        allow_symlinks: bool = False,
    ):
        self.root = root
        self.vocabulary = vocabulary
        self.options = dict(options or {})
        self.source = self.describe(name or self.info.name, self.options)
        self.rejects = Rejects(self.source.name)
        self.folder = SourceFolder(root, self.rejects, allow_symlinks=allow_symlinks)

    @classmethod
    def describe(cls, name: str, options: Mapping[str, Any]) -> SourceInfo:
        """What the source named `name` says about itself (title, licence, citation)."""
        return cls.info

    @classmethod
    def labels_in(cls, vocabulary: Mapping[str, Any]) -> list[str]:
        """The label columns of this reader's manifests: the collection's union."""
        return list(vocabulary["labels"]["union"])

    @property
    def label_names(self) -> list[str]:
        return self.labels_in(self.vocabulary)

    def read(self) -> SourceTables:
        layout = self.layout()
        columns = [*self.kind.manifest_columns(self.label_names), *WHERE_COLUMNS]
        # no name here holds a table a step is done with: `finish` frees what it was given
        return finish(
            self.assemble(self.collect(self.records(layout), columns)),
            self.rejects,
            self.kind,
            self.label_names,
        )

    def collect(self, records: Iterable[dict], columns: list[str]) -> pd.DataFrame:
        """The records as a frame of `columns`, gathered column by column."""
        return records_frame(records, columns)

    @abstractmethod
    def layout(self) -> Any:
        """Check that the folder holds the official files and return what `records`
        needs of them (found index files, version folders); else raise `LayoutError`."""

    @abstractmethod
    def records(self, layout: Any) -> Iterable[dict]:
        """Record dicts of the kind's columns plus `_file`/`_row` (where each was read);
        bad records go to `self.rejects` instead. Yield them one by one: `read` gathers
        them column by column (`records_frame`), never as a list of dicts."""

    def assemble(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A step over the whole table of records read, before `finish`: a family whose
        rows are parts of a record merges them here, and checks once per merged record
        what needs checking. None by default."""
        return frame


def finish(
    records: pd.DataFrame | Iterable[dict], rejects: Rejects, kind: RecordKind, labels: list[str]
) -> SourceTables:
    """Build the manifest (sorted, one row per sample id), the rejects and the corrections.

    Every sample id must obey the id rule (`<source>-[a-z0-9_-]+`, made by
    `make_sample_id`): one that does not is a bug of the reader (`SampleIdError`). Records
    carry `_file`/`_row` (where they were read) and may carry `_raw_id` (the id as the
    source writes it; `raw_relpath` stands in) so a repeated sample id is rejected with its
    own location: a `duplicate_record` when it is the same raw record again, an
    `id_collision` naming both raw ids when two raw ids fold to one sample id. The first
    occurrence is kept, and a correction made to a repeat is dropped with it (it describes
    no record of the manifest). Every text cell is cleaned (`clean_text`); list columns
    leave as Arrow lists (`pd.ArrowDtype`: a caption costs its text, not a Python string),
    written to Parquet as Python lists would be (`arrow_table`)."""
    columns = kind.manifest_columns(labels)
    frame = (
        records
        if isinstance(records, pd.DataFrame)
        else records_frame(records, [*columns, *WHERE_COLUMNS])
    )
    del records
    # what repeats are found by as text now, the rest once rows are sorted and lists
    # decoded (a column of few values costs a few bytes a row until then)
    frame = frame.reindex(columns=[*columns, *WHERE_COLUMNS])
    frame = plain(frame, ["sample_id", "raw_relpath", "_raw_id"])
    check_sample_ids(rejects.source, frame["sample_id"])
    check_sample_ids(rejects.source, _reject_ids(rejects))
    order, dup = _id_order(frame["sample_id"])
    _reject_repeats(frame, pd.Series(dup, index=frame.index), rejects)
    repeats = set(zip(frame.loc[dup, "_file"].tolist(), frame.loc[dup, "_row"].tolist()))
    rejects.corrections[:] = [
        c for c in rejects.corrections if (c["file"], c["row"]) not in repeats
    ]
    manifest = taken_rows(frame, order[~dup[order]], columns).reset_index(drop=True)
    del frame  # what is left of it (where records were read) goes before lists are decoded
    trim()  # with what the steps before left on the heap: the manifest's text comes next
    manifest = kind.conform(_clean_text_cells(plain(decoded_lists(manifest))), labels)
    return SourceTables(manifest, rejects_frame(rejects.rows), rejects_frame(rejects.corrections))


def _id_order(ids: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """The rows in id order (a stable sort: rows of one id in row order) and the mask of
    rows whose id an earlier row has; in Arrow (pandas' `duplicated` and `argsort` of
    Arrow text cost ~2 copies of the column)."""
    text = pa.array(ids.array) if hasattr(ids.array, "__arrow_array__") else pa.array(ids)
    text = text.cast(pa.string()) if pa.types.is_null(text.type) else text  # no rows
    order = np.asarray(pc.sort_indices(text), dtype=np.int64)
    ordered = text.take(pa.array(order))
    same = pc.fill_null(pc.equal(ordered[1:], ordered[:-1]), False)
    del ordered
    dup = np.zeros(len(ids), dtype=bool)
    dup[order[1:][np.asarray(same, dtype=bool)]] = True
    return order, dup


def _reject_ids(rejects: Rejects) -> list[object]:
    return [
        r["sample_id"] for r in rejects.rows + rejects.corrections if r["sample_id"] is not None
    ]


def _reject_repeats(frame: pd.DataFrame, dup: pd.Series, rejects: Rejects) -> None:
    """Reject every record whose sample id an earlier record has (`dup`)."""
    if not dup.any():
        return
    raw_ids = frame["_raw_id"].where(frame["_raw_id"].notna(), frame["raw_relpath"])
    frame = frame.assign(_raw_id=raw_ids)
    first = frame[~dup].set_index("sample_id")
    for row in frame[dup].to_dict("records"):
        sample_id, kept = row["sample_id"], first.loc[row["sample_id"]]
        if row["_raw_id"] == kept["_raw_id"]:
            reason, detail = "duplicate_record", f"sample {sample_id} already listed earlier"
        else:
            reason = ID_COLLISION
            detail = (
                f"raw id {row['_raw_id']!r} gives sample id {sample_id}, as does raw id "
                f"{kept['_raw_id']!r} ({_where(kept['_file'], kept['_row'])}), which is kept: "
                "ids fold every character outside [a-z0-9_-] to '_'"
            )
        rejects.add(reason, detail, file=row["_file"], row=row["_row"], sample_id=sample_id)


def _where(file: str, row: Any) -> str:
    return file if is_missing(row) else f"{file} line {int(row)}"


def _clean_text_cells(manifest: pd.DataFrame) -> pd.DataFrame:
    """Manifest with every text cell valid UTF-8 without control characters: Arrow string
    and list columns (which hold no surrogate) are searched at once, other columns of
    objects (lists of captions, Python strings) cell by cell."""
    for column in manifest.columns:
        series = manifest[column]
        dtype = series.dtype
        if is_list_column(series):
            manifest[column] = _clean_lists(series)
        elif isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
            bad = series.str.contains(_CONTROL, regex=True, na=False)
            if bad.any():
                manifest.loc[bad, column] = series[bad].map(clean_text)
        elif (is_object_dtype(dtype) or isinstance(dtype, pd.StringDtype)) and series.notna().any():
            values = series.tolist()
            cleaned = [clean_value(v) for v in values]
            if any(c is not v for c, v in zip(cleaned, values)):
                manifest[column] = pd.Series(cleaned, index=manifest.index, dtype=object)
    return manifest


def _clean_lists(series: pd.Series) -> pd.Series:
    """An Arrow list column whose texts are cleaned (`clean_text`), the column itself when
    none needs it: only the texts holding a control character are cleaned one by one."""
    arrow = pa.array(series.array)  # one chunk as is (several would be combined)
    chunks = arrow.chunks if isinstance(arrow, pa.ChunkedArray) else [arrow]
    cleaned = [_clean_list_chunk(chunk) for chunk in chunks]
    if all(c is chunk for c, chunk in zip(cleaned, chunks)):
        return series
    lists = pd.arrays.ArrowExtensionArray(
        pa.chunked_array(cleaned, type=series.dtype.pyarrow_dtype)
    )
    return pd.Series(lists, index=series.index, name=series.name, copy=False)


def _clean_list_chunk(lists: pa.ListArray) -> pa.ListArray:
    values = lists.flatten()
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return lists
    bad = pc.fill_null(pc.match_substring_regex(values, _CONTROL), False)
    if not pc.any(bad).as_py():
        return lists
    fixed = pa.array([clean_text(t) for t in values.filter(bad).to_pylist()], values.type)
    values = pc.replace_with_mask(values, bad, fixed)
    offsets = pc.subtract(lists.offsets, lists.offsets[0])
    return pa.ListArray.from_arrays(offsets, values, mask=lists.is_null())
