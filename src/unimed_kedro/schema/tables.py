"""Tables read and written a batch of rows, or a few columns, at a time.

A stage that adds a column to every row, or needs three columns of a table, never needs
the table whole: held as a pandas frame, a 5M-record manifest with its captions would
not fit in the parent's memory. `Table` is a parquet file opened lazily (what the table
datasets load when `lazy`); `Batches` the frames a node returns one at a time (what the
table datasets write as they come). `frame_of` and `batches_of` take a Table, Batches or
a DataFrame, so node functions and their tests accept either.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from os import PathLike
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from unimed_kedro.io.atomic import scratch_dir
from unimed_kedro.schema.columns import arrow_table

BATCH = 1 << 15  # rows per batch: ~50 MB of a wide CXR row with its captions


@functools.lru_cache(maxsize=16)
def _footer(path: str, state: tuple[int, int, int]) -> pq.FileMetaData:
    """A parquet file's footer, read once per process and file state (size, mtime, inode).
    A worker writing shard after shard from one table parsed it per task: every row
    group's metadata, so the tasks of a 343k-sample files layout cost twice their work."""
    return pq.read_metadata(path)


class Table:
    """A parquet table on disk, or `selected` columns of it. Frames read from it have the
    dtypes `pd.read_parquet` gives and a RangeIndex from 0. Pickled, it is its path: a
    task sent to a worker carries where its rows are, not the rows."""

    def __init__(self, path: str | PathLike, selected: list[str] | None = None):
        self.path = str(path)
        self.selected = selected
        self._file: pq.ParquetFile | None = None

    def __reduce__(self):
        return Table, (self.path, self.selected)

    def _parquet(self) -> pq.ParquetFile:
        if self._file is None:
            info = os.stat(self.path)
            footer = _footer(self.path, (info.st_size, info.st_mtime_ns, info.st_ino))
            self._file = pq.ParquetFile(self.path, metadata=footer)
        return self._file

    def memo_source(self) -> tuple[str, list[str] | None]:
        """`engine.memo`: the file this table is read from, and which of its columns."""
        return self.path, self.selected

    def select(self, columns: list[str]) -> Table:
        return Table(self.path, list(columns))

    @property
    def columns(self) -> list[str]:
        if self.selected is not None:
            return list(self.selected)
        return [c for c in self._parquet().schema_arrow.names if not c.startswith("__index")]

    def __len__(self) -> int:
        return self._parquet().metadata.num_rows

    def read(self, columns: list[str] | None = None) -> pd.DataFrame:
        return pd.read_parquet(self.path, columns=columns or self.selected)

    def rows(self, positions: np.ndarray) -> pd.DataFrame:
        """The rows at `positions` (row numbers, in the order given), reading only the
        row groups that hold them."""
        meta = self._parquet().metadata
        sizes = np.array([meta.row_group(i).num_rows for i in range(meta.num_row_groups)])
        starts = np.cumsum(sizes) - sizes
        group = np.searchsorted(starts + sizes, positions, side="right")
        held = np.unique(group)
        base = np.cumsum(sizes[held]) - sizes[held]  # each held group's first row, as read
        local = base[np.searchsorted(held, group)] + positions - starts[group]
        part = self._parquet().read_row_groups(held.tolist(), columns=self.selected)
        part = part.take(pa.array(local, type=pa.int64()))
        return self._frame(part)

    def _frame(self, part: pa.Table) -> pd.DataFrame:
        # the file's schema carries pandas' metadata (categoricals, the index)
        metadata = self._parquet().schema_arrow.metadata
        return part.replace_schema_metadata(metadata).to_pandas().reset_index(drop=True)

    def batches(
        self, columns: list[str] | None = None, rows: int | None = None
    ) -> Iterator[pd.DataFrame]:
        rows, columns = rows or BATCH, columns or self.selected
        if not len(self):  # one empty batch: its columns and types
            yield self.read(columns)
        for batch in self._parquet().iter_batches(batch_size=rows, columns=columns):
            yield self._frame(pa.Table.from_batches([batch]))


class Batches:
    """Frames of one table, produced one at a time (a generator, consumed once)."""

    def __init__(self, frames: Iterable[pd.DataFrame]):
        self._frames = iter(frames)

    def __iter__(self) -> Iterator[pd.DataFrame]:
        return self._frames


@dataclass(frozen=True)
class Rows:
    """Some rows of a table by number, in the order given, read where they are used. A
    task sent to a worker carries a `Table`'s path and the numbers, and the worker reads
    only the row groups holding them; a frame's rows are copied out when pickled. So a
    job's tasks share one table and the parent never holds every task's rows."""

    table: pd.DataFrame | Table
    positions: np.ndarray

    def frame(self) -> pd.DataFrame:
        if isinstance(self.table, Table):
            return self.table.rows(self.positions)
        return self.table.iloc[self.positions].reset_index(drop=True)

    def __len__(self) -> int:
        return len(self.positions)

    def __reduce__(self):
        if isinstance(self.table, Table):
            return Rows, (self.table, self.positions)
        return Rows, (self.frame(), np.arange(len(self)))


Tabular: TypeAlias = pd.DataFrame | Table | Batches


def frame_of(table: Tabular, columns: list[str] | None = None) -> pd.DataFrame:
    """The whole table (or `columns` of it) as one frame."""
    if isinstance(table, Table):
        return table.read(columns)
    if isinstance(table, Batches):
        parts = [part if columns is None else part[columns] for part in table]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    return table if columns is None else table[columns]


def batches_of(
    table: Tabular, columns: list[str] | None = None, rows: int | None = None
) -> Iterator[pd.DataFrame]:
    """The table `rows` at a time, in order (an empty table: one empty batch, so its
    columns travel on); a frame's batches are slices of it."""
    rows = rows or BATCH
    if isinstance(table, Table):
        yield from table.batches(columns, rows)
    elif isinstance(table, Batches):
        yield from (part if columns is None else part[columns] for part in table)
    else:
        frame = table if columns is None else table[columns]
        for start in range(0, max(len(frame), 1), rows):
            yield frame.iloc[start : start + rows].reset_index(drop=True)


def narrowed(table: Tabular, columns: list[str]) -> pd.DataFrame | Table:
    """`columns` of the table, left on disk when it is there (for `Rows`)."""
    return table.select(columns) if isinstance(table, Table) else frame_of(table, columns)


def arrow_of(table: Tabular | pa.Table, columns: list[str] | None = None) -> pa.Table:
    """`columns` of the table (all: None) as Arrow: text without a Python object per cell."""
    if isinstance(table, pa.Table):
        return table if columns is None else table.select(columns)
    if isinstance(table, Table):
        return pq.read_table(table.path, columns=columns or table.selected)
    return pa.Table.from_pandas(frame_of(table, columns), preserve_index=False)


def compacted(table: pa.Table) -> pa.Table:
    """A copy holding only the table's own rows: a slice pickles its parent's buffers."""
    return table.take(pa.array(np.arange(table.num_rows, dtype=np.int64)))


def rereadable(table: Tabular | pa.Table) -> pd.DataFrame | Table | pa.Table:
    """The table as something that can be read more than once: `Batches` (a generator,
    consumed once) become one frame."""
    return frame_of(table) if isinstance(table, Batches) else table


def compact_frame(
    table: Tabular | pa.Table,
    columns: list[str] | None,
    coded: Iterable[str] = (),
    *,
    order: np.ndarray | None = None,
    float32: Iterable[str] = (),
) -> tuple[pd.DataFrame, dict[str, pa.Array]]:
    """`columns` of the table as a frame, each of `coded` as a number per distinct text
    (float64: missing stays missing), and those texts by column. For ids a node only
    compares or counts: 8 bytes a row, where a Python string costs ~100. `order`: the rows
    to take, in that order; `float32`: columns cast to it. Read, coded, cast and reordered
    a column at a time: the whole table read and then reordered held ~700 MB of copies
    beside the frame at 1M samples."""
    table = rereadable(table)
    names = list(columns) if columns is not None else columns_of(table)
    coded, float32 = set(coded), set(float32)
    rows = None if order is None else pa.array(order, type=pa.int64())
    parts, texts = {}, {}
    for name in names:
        column = arrow_of(table, [name])[name].combine_chunks()
        if name in coded:
            encoded = column.dictionary_encode()
            column, texts[name] = encoded.indices, encoded.dictionary
        elif name in float32:
            column = column.cast(pa.float32())
        if rows is not None:
            column = column.take(rows)
        if name in texts:
            parts[name] = pd.Series(column.to_numpy(zero_copy_only=False).astype("float64"))
        else:
            parts[name] = column.to_pandas()
    return pd.DataFrame(parts, columns=names), texts


def groups_of(values: pa.ChunkedArray | pa.Array) -> dict[Any, np.ndarray]:
    """The row numbers (ascending) of each distinct value, by value."""
    encoded = pa.chunked_array([values] if isinstance(values, pa.Array) else values)
    encoded = encoded.combine_chunks().dictionary_encode()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    order = np.argsort(codes, kind="stable")
    parts = np.split(order, np.flatnonzero(np.diff(codes[order])) + 1) if len(order) else []
    names = encoded.dictionary.to_pylist()
    return dict(sorted((names[codes[part[0]]], part) for part in parts))


def columns_of(table: Tabular) -> list[str]:
    return table.columns if isinstance(table, Table) else list(frame_of(table).columns)


def present(table: Tabular, columns: list[str]) -> list[str]:
    """Those of `columns` the table has, in the order given."""
    have = set(columns_of(table))
    return [c for c in dict.fromkeys(columns) if c in have]


def write_batches(
    frames: Iterable[pd.DataFrame], where: object, *, spill: str | None = None, **kwargs
) -> int:
    """Write `frames` as one parquet file, each frame its row groups, to `where` (a path
    or an open binary file); returns the rows written. A column missing in every frame so
    far (Arrow's null type: a report column before the first source with reports) has no
    type yet, so those frames wait in files under `spill` (a folder; the system's temporary
    one by default) until a frame gives it one; the file's schema is then the one a
    whole-frame write would have, and every frame is cast to it."""
    writer, rows = None, 0
    group_rows = kwargs.pop("row_group_size", None)  # of each write, not of the writer
    with scratch_dir(spill or tempfile.gettempdir(), "spill") as folder:
        waiting: list[tuple[str, pa.Schema]] = []
        try:
            for frame in frames:
                if not isinstance(frame.index, pd.RangeIndex):  # as a column, it would vary
                    frame = frame.reset_index(drop=True)
                table, rows = arrow_table(frame), rows + len(frame)  # lists readable by pandas
                if writer is None:
                    waiting.append(_spilled(table, folder, len(waiting)))
                    schema = _unified([s for _, s in waiting])
                    if any(pa.types.is_null(f.type) for f in schema):
                        continue
                    writer = pq.ParquetWriter(where, schema, **kwargs)
                    _drain(waiting, writer, group_rows)
                else:
                    writer.write_table(table.cast(writer.schema), row_group_size=group_rows)
            if writer is None:
                empty = [s for _, s in waiting] or [pa.Table.from_pandas(pd.DataFrame()).schema]
                writer = pq.ParquetWriter(where, _unified(empty), **kwargs)
                _drain(waiting, writer, group_rows)
        finally:
            if writer is not None:
                writer.close()
    return rows


def write_sorted(frames: Iterable[pd.DataFrame], where: object, key: str, *, spill: str) -> int:
    """`write_batches` of the frames' rows in `key` order (stable): written as they come to
    a file under `spill` (a folder), then read back in order (`taken`), so they never all
    sit in memory. Returns the rows written."""
    with scratch_dir(spill, "sort") as folder:
        path = os.path.join(folder, "unsorted.parquet")
        write_batches(frames, path, spill=folder)
        order = pc.sort_indices(pq.read_table(path, columns=[key])[key]).to_numpy()
        return write_batches(taken(Table(path), order), where, spill=folder)


def _spilled(table: pa.Table, folder: str, number: int) -> tuple[str, pa.Schema]:
    path = os.path.join(folder, f"{number}.parquet")
    pq.write_table(table, path)
    return path, table.schema


def _drain(
    waiting: list[tuple[str, pa.Schema]], writer: pq.ParquetWriter, group_rows: int | None
) -> None:
    for path, _ in waiting:
        writer.write_table(pq.read_table(path).cast(writer.schema), row_group_size=group_rows)
        os.remove(path)
    waiting.clear()


def _unified(schemas: list[pa.Schema]) -> pa.Schema:
    if len(schemas) == 1:
        return schemas[0]
    unified = pa.unify_schemas(schemas, promote_options="permissive")
    return unified.with_metadata(schemas[0].metadata)


def taken(table: Tabular, positions: np.ndarray, rows: int | None = None) -> Iterator[pd.DataFrame]:
    """The table's rows at `positions` (distinct row numbers), in that order, `rows` at a
    time. Streamed as stored when `positions` is every row in order; a table on disk is
    otherwise reordered through one bucket file per output batch beside it (each row
    written to the bucket of its new place, each bucket sorted as it is read back), so no
    more than a batch of rows is ever held."""
    positions, rows = np.asarray(positions, dtype=np.int64), rows or BATCH
    table = rereadable(table)
    if np.array_equal(positions, np.arange(len(table))):
        yield from batches_of(table, rows=rows)
    elif not isinstance(table, Table) or not len(positions):
        frame = frame_of(table)
        yield from batches_of(frame.iloc[positions].reset_index(drop=True), rows=rows)
    else:
        total = len(table)
        target = np.full(total, -1, dtype=np.int64)
        target[positions] = np.arange(len(positions))
        folder = os.path.dirname(os.path.abspath(table.path))
        with scratch_dir(folder, "reorder") as tmp:
            count = _scatter(table, target, rows, tmp)
            for bucket in range(count):
                yield _gathered(os.path.join(tmp, f"{bucket}.parquet"), table)


def _scatter(table: Table, target: np.ndarray, rows: int, folder: str) -> int:
    """Each row of `table` with a place in `target` appended to bucket place // rows;
    returns the number of buckets."""
    writers: dict[int, pq.ParquetWriter] = {}
    start = 0
    try:
        for batch in table._parquet().iter_batches(batch_size=rows, columns=table.selected):
            where = target[start : start + batch.num_rows]
            start += batch.num_rows
            picked = np.flatnonzero(where >= 0)
            picked = picked[np.argsort(where[picked] // rows, kind="stable")]
            buckets = where[picked] // rows
            bounds = np.flatnonzero(np.diff(buckets)) + 1
            for part in np.split(np.arange(len(picked)), bounds) if len(picked) else []:
                bucket, rows_of = int(buckets[part[0]]), picked[part]
                piece = pa.Table.from_batches([batch.take(pa.array(rows_of))])
                piece = piece.append_column(_PLACE, pa.array(where[rows_of]))
                if bucket not in writers:
                    path = os.path.join(folder, f"{bucket}.parquet")
                    writers[bucket] = pq.ParquetWriter(path, piece.schema)
                writers[bucket].write_table(piece)
    finally:
        for writer in writers.values():
            writer.close()
    return len(writers)  # places are 0..n-1: every bucket below the last got rows


def _gathered(path: str, table: Table) -> pd.DataFrame:
    piece = pq.read_table(path)
    os.remove(path)
    return table._frame(piece.take(pc.sort_indices(piece[_PLACE])).drop_columns([_PLACE]))


_PLACE = "__place"


def with_columns(batches: Iterable[pd.DataFrame], columns: pd.DataFrame) -> Iterator[pd.DataFrame]:
    """Each batch with the next rows of `columns` (one row per row of the batches, in
    order) as its last columns."""
    start = 0
    for batch in batches:
        part = columns.iloc[start : start + len(batch)].reset_index(drop=True)
        start += len(batch)
        yield pd.concat([batch, part], axis=1)
