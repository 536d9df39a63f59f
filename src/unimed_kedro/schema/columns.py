"""Records gathered column by column.

A reader yields one dict per record; held as dicts, a 1M-row index costs ~1.5 KB a row
(a dict, its boxed values). `records_frame` turns them into Arrow columns a chunk at a
time, so memory holds the text's bytes (and a dict per record of one chunk only): lists
of texts become Arrow lists, strings Arrow strings, and a text column of few values (a
source's name, licence, file) a categorical, a few bytes a row. `plain` turns
categoricals back into text; `list_values` gives list cells as Python lists where a
reader works row by row. List columns leave ingest as Arrow lists; `arrow_table` writes
them as Python lists would be written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from unimed_kedro.allocator import trim
from unimed_kedro.schema.base import is_missing
from unimed_kedro.schema.text import clean_value

CHUNK = 1 << 14  # records held as dicts at once
_FEW = 16


def records_frame(
    records: Iterable[dict], columns: Sequence[str], *, chunk: int = CHUNK
) -> pd.DataFrame:
    """A frame of `columns` (absent keys: missing) from `records`, built a chunk at a
    time. A column's chunks are unified (all-missing chunks take the others' type); list
    columns are `pd.ArrowDtype` lists, integer columns with a missing value float64 (as
    pandas builds them from dicts)."""
    return table_frame(records_table(records, columns, chunk=chunk))


def records_table(
    records: Iterable[dict], columns: Sequence[str], *, chunk: int = CHUNK
) -> pa.Table:
    """The Arrow table `records_frame` makes its frame of."""
    chunks: list[list[pa.Array]] = [[] for _ in columns]
    pending: list[list[Any]] = [[] for _ in columns]
    for record in records:
        for values, column in zip(pending, columns):
            values.append(record.get(column))
        if len(pending[0]) >= chunk:
            _store(pending, chunks)
            pending = [[] for _ in columns]
    _store(pending, chunks)
    arrays = {}
    for name, parts in zip(columns, chunks):  # a column at a time: one column copied twice
        arrays[name] = concatenated(parts)
        parts.clear()
    return pa.table(arrays)


def table_frame(table: pa.Table) -> pd.DataFrame:
    """A table of `records_table` as `records_frame` gives it, its buffers let go as the
    columns are converted."""
    return table.to_pandas(types_mapper=_lists_as_arrow, self_destruct=True)


def taken_table(columns: dict[str, pa.ChunkedArray], rows: np.ndarray) -> pa.Table:
    """The rows `rows` of the columns of a table of `records_table` as `records_table`
    would make them of those rows' records: a column missing in every row taken holds
    nulls, not its type. A column at a time, each let go (popped) once taken."""
    taken = {}
    for name in list(columns):
        column = columns.pop(name).take(pa.array(rows))
        taken[name] = pa.nulls(len(rows)) if column.null_count == len(rows) else column
    return pa.table(taken)


def _store(pending: list[list[Any]], chunks: list[list[pa.Array]]) -> None:
    for values, parts in zip(pending, chunks):
        parts.append(_few_values(array_of(values)))


def _few_values(array: pa.Array) -> pa.Array:
    """A text chunk of few distinct values (one in 16 rows or fewer) dictionary-encoded."""
    if not pa.types.is_string(array.type) or len(array) < _FEW:
        return array
    encoded = array.dictionary_encode()
    return encoded if len(encoded.dictionary) * _FEW <= len(array) else array


def concatenated(parts: list[pa.Array]) -> pa.Array:
    """One array of a column's chunks (Arrow's `take` over many chunks would first copy
    them into one), of one type: all-missing chunks take the others' type, int chunks
    and float ones are floats, and dictionary chunks are decoded where other chunks are
    plain text (the column's values varied more there)."""
    if len({p.type for p in parts} - {pa.null()}) > 1:
        parts = [p.cast(pa.string()) if pa.types.is_dictionary(p.type) else p for p in parts]
    tables = [pa.table({"v": part}) for part in parts]
    return pa.concat_tables(tables, promote_options="permissive").column("v").combine_chunks()


def array_of(values: list[Any]) -> pa.Array:
    """One chunk of a column. Text that is not UTF-8 (surrogates of undecoded bytes) is
    cleaned here, as every text cell is by `finish`; values of mixed types (a reader's
    slip) are kept as their text rather than stopping the read."""
    try:
        return pa.array(values, from_pandas=True)
    except UnicodeEncodeError:
        return array_of([clean_value(v) for v in values])
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if is_missing(v) else str(v) for v in values])


def _lists_as_arrow(dtype: pa.DataType) -> pd.ArrowDtype | None:
    return pd.ArrowDtype(dtype) if pa.types.is_list(dtype) else None


def is_list_column(series: pd.Series) -> bool:
    return isinstance(series.dtype, pd.ArrowDtype) and pa.types.is_list(series.dtype.pyarrow_dtype)


def list_values(series: pd.Series) -> list[Any]:
    """The cells of a column as Python values: an Arrow list column's cells as lists
    (None where missing), any other column's as `tolist` gives them."""
    values = series.tolist()
    if is_list_column(series):
        return [None if v is pd.NA else v for v in values]
    return values


def decoded_lists(frame: pd.DataFrame) -> pd.DataFrame:
    """List columns of dictionary-encoded items (texts a reader keeps in file order while
    rows move, `PerImage`) as lists of the texts themselves, a column at a time."""
    for column in frame.columns:
        series = frame[column]
        if is_list_column(series) and pa.types.is_dictionary(series.dtype.pyarrow_dtype.value_type):
            lists = _decoded(pa.array(series.array))
            del series
            frame[column] = pd.Series(
                pd.arrays.ArrowExtensionArray(lists), index=frame.index, copy=False
            )
    return frame


def _decoded(lists: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Lists of dictionary-encoded texts as lists of the texts: the dictionary itself, not
    a copy, when the lists name each of its texts once and in order (a reader laid them
    out in the order records are written, `Entries.grouped`)."""
    plain_type = pa.list_(lists.type.value_type.value_type)
    one = lists.chunk(0) if isinstance(lists, pa.ChunkedArray) and lists.num_chunks == 1 else lists
    if isinstance(one, pa.ListArray):
        items = one.flatten()
        dictionary = items.dictionary
        in_order = len(items) == len(dictionary) and items.null_count == 0
        if in_order and np.array_equal(items.indices, np.arange(len(items))):
            offsets = pc.subtract(one.offsets, one.offsets[0])
            mask = one.is_null() if one.null_count else None
            return pa.ListArray.from_arrays(offsets, dictionary, type=plain_type, mask=mask)
    return lists.cast(plain_type)


def python_lists(frame: pd.DataFrame) -> pd.DataFrame:
    """Arrow list columns as columns of Python lists (None where missing)."""
    for column in frame.columns:
        if is_list_column(frame[column]):
            values = list_values(frame[column])
            frame[column] = pd.Series(values, index=frame.index, dtype=object)
    return frame


def untyped_empty_lists(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` (a shallow copy when changed) with its Arrow list columns that hold no item
    as lists of nulls: Python lists, all empty, are written so (`list<null>`)."""
    empty = {}
    for column in frame.columns:
        series = frame[column]
        if is_list_column(series) and not series.list.len().fillna(0).any():
            mask = series.isna().to_numpy(dtype=bool)
            offsets = pa.array(np.zeros(len(series) + 1, dtype=np.int32))
            lists = pa.ListArray.from_arrays(offsets, pa.nulls(0), mask=pa.array(mask))
            empty[column] = pd.Series(pd.arrays.ArrowExtensionArray(lists), index=frame.index)
    return frame.assign(**empty) if empty else frame


def arrow_table(frame: pd.DataFrame, **from_pandas: Any) -> pa.Table:
    """`frame` as an Arrow table (`pa.Table.from_pandas`) whose pandas metadata names its
    Arrow list columns as columns of objects, as Python lists would be written: pandas
    rebuilds a dtype from that name when it reads the table, and cannot from a nested
    Arrow type's (`read_parquet` fails). Read back, they are lists as ever."""
    table = pa.Table.from_pandas(frame, **from_pandas)
    lists = {str(c) for c in frame.columns if is_list_column(frame[c])}
    metadata = table.schema.metadata or {}
    if not lists or b"pandas" not in metadata:
        return table
    pandas = json.loads(metadata[b"pandas"])
    for column in pandas["columns"]:
        if column["name"] in lists:
            column["numpy_type"] = "object"
    return table.replace_schema_metadata({**metadata, b"pandas": json.dumps(pandas).encode()})


def plain(frame: pd.DataFrame, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """The frame with its categorical columns (of `columns`, default all) as text (what
    `records_frame` encoded)."""
    for column in frame.columns if columns is None else columns:
        series = frame[column]
        if not isinstance(series.dtype, pd.CategoricalDtype):
            continue
        codes = pa.array(series.array)
        if pa.types.is_string(codes.type.value_type):  # `astype` makes a str a row
            del series
            # the `str` dtype's type, decoded in one copy (a cast decodes, then widens)
            wide = pa.DictionaryArray.from_arrays(
                codes.indices, codes.dictionary.cast(pa.large_string())
            )
            text = pa.chunked_array([wide.dictionary_decode()])
            del codes
            array = pd.arrays.ArrowStringArray(text, dtype=pd.StringDtype("pyarrow", np.nan))
            frame[column] = pd.Series(array, index=frame.index, copy=False)
        else:
            frame[column] = series.astype("str")
    return frame


def kept_rows(frame: pd.DataFrame, keep: np.ndarray) -> pd.DataFrame:
    """The rows `keep` (a mask) of `frame` (`taken_rows`); `frame` itself when every row
    is kept."""
    return frame if keep.all() else taken_rows(frame, np.flatnonzero(keep))


def taken_rows(
    frame: pd.DataFrame, rows: np.ndarray, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """`columns` (all by default) of `frame`'s rows at positions `rows`, in that order,
    taken a column at a time and removed from `frame` (which keeps the others): each old
    column is freed as soon as its copy is made, so the table is never held twice (`.loc`
    copies every column at once; at 650k Quilt images a second copy was ~200 MB of a
    1.1 GB peak)."""
    columns = list(frame.columns) if columns is None else columns
    trim()  # what earlier steps freed on the heap, given back before the copies are made
    index = frame.index.take(rows)  # once: a Series' `take` takes its own copy
    # removed from the frame in one `drop` (`pop` cost ~0.5 ms a column), then held by
    # this dict alone until copied
    arrays = {c: frame[c].array for c in columns}
    frame.drop(columns=columns, inplace=True)
    taken = {c: arrays.pop(c).take(rows) for c in columns}
    return pd.DataFrame(taken, index=index, columns=columns, copy=False)


def value_slices(
    frame: pd.DataFrame, columns: Sequence[str], *, chunk: int = CHUNK
) -> Iterator[list[list[Any]]]:
    """The values of `columns`, `chunk` rows at a time, as Python lists: a step that works
    row by row holds one chunk of boxed values, never a column of them."""
    for start in range(0, len(frame), chunk):
        yield [frame[c].iloc[start : start + chunk].tolist() for c in columns]


def text_series(chunks: Iterable[list[Any] | pa.Array], index: pd.Index) -> pd.Series:
    """A `str` column (Arrow text) of texts given a chunk at a time (Python values or Arrow
    text), as one array: how a column is chunked decides the bytes Parquet writes of it."""
    arrays = [v if isinstance(v, pa.Array) else pa.array(v, type=pa.string()) for v in chunks]
    text = pa.concat_arrays(arrays) if arrays else pa.array([], pa.string())
    return pd.Series(text.to_pandas().array, index=index)
