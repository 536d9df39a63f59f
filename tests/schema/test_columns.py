"""Records gathered column by column (`records_frame`): the frame holds what the dicts
held, whatever the chunking, and a column of few values costs a few bytes a row."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from unimed_kedro.schema.columns import (
    decoded_lists,
    list_values,
    plain,
    records_frame,
    records_table,
    taken_table,
    text_series,
)

COLUMNS = ["name", "source", "row", "captions", "note"]


def _records(count: int) -> list[dict]:
    return [
        {
            "name": f"image-{k}",
            "source": "toy" if k < 40 else "other",  # few values, varying across chunks
            "row": None if k == 3 else k,
            "captions": [f"caption {k}"] if k % 2 else [],
            **({"note": "n\udce9"} if k == 7 else {}),  # undecodable bytes; absent elsewhere
        }
        for k in range(count)
    ]


@pytest.mark.parametrize("chunk", [1, 7, 16, 1000])
def test_the_frame_holds_what_the_records_held_whatever_the_chunks(chunk):
    records = _records(70)
    frame = plain(records_frame(records, COLUMNS, chunk=chunk))
    assert frame["name"].tolist() == [r["name"] for r in records]
    assert frame["source"].tolist() == [r["source"] for r in records]
    rows = frame["row"].tolist()
    assert math.isnan(rows[3]) and rows[:3] + rows[4:] == [
        r["row"] for r in records if r["row"] is not None
    ]
    assert list_values(frame["captions"]) == [r["captions"] for r in records]
    assert frame["note"].tolist()[7] == "n\ufffd" and frame["note"].isna().sum() == 69


def test_a_column_of_few_values_is_categorical_until_made_plain():
    frame = records_frame(
        ({"source": "toy", "name": f"x{k}"} for k in range(5000)), ["source", "name"]
    )
    assert isinstance(frame["source"].dtype, pd.CategoricalDtype)
    assert frame["source"].memory_usage(deep=True) < 5000 * 2 + 1000
    assert frame["name"].dtype == "str"
    assert plain(frame)["source"].dtype == "str"


def test_mixed_types_in_a_column_are_kept_as_text_and_empty_input_gives_no_row():
    frame = records_frame([{"a": 1}, {"a": "b"}, {"a": None}], ["a"])
    assert frame["a"].tolist()[:2] == ["1", "b"] and pd.isna(frame["a"].tolist()[2])
    empty = records_frame([], ["a", "b"])
    assert list(empty.columns) == ["a", "b"] and len(empty) == 0
    assert pa.types.is_null(pa.array(empty["a"], from_pandas=True).type)


def test_rows_taken_from_a_records_table_are_typed_as_a_table_of_those_records():
    records = [{"name": f"n{k}", "note": "late" if k == 3 else None} for k in range(4)]
    columns = dict(zip(["name", "note"], records_table(records, ["name", "note"]).columns))
    taken = taken_table(columns, np.array([2, 0]))
    assert not columns  # each column let go once taken
    assert taken.equals(records_table([records[2], records[0]], ["name", "note"]))
    assert taken.column("note").type == pa.null()


def _dictionary_lists(indices: list[int], offsets: list[int], texts: list[str]) -> pd.Series:
    items = pa.DictionaryArray.from_arrays(pa.array(indices, pa.int32()), pa.array(texts))
    lists = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), items)
    return pd.Series(pd.arrays.ArrowExtensionArray(lists))


def test_lists_naming_their_texts_in_order_decode_to_the_texts_themselves():
    texts = ["a", "b", "c", "d"]
    frame = pd.DataFrame({"lists": _dictionary_lists([0, 1, 2, 3], [0, 2, 2, 4], texts)})
    dictionary = pa.array(frame["lists"].array).flatten().dictionary
    lists = pa.array(decoded_lists(frame)["lists"].array)
    assert lists.type == pa.list_(pa.string())
    assert lists.to_pylist() == [["a", "b"], [], ["c", "d"]]
    # no copy: the decoded lists hold the dictionary's own bytes
    assert lists.values.buffers()[2].address == dictionary.buffers()[2].address


def test_lists_naming_their_texts_out_of_order_decode_to_a_copy():
    texts = ["a", "b", "c", "d"]
    frame = pd.DataFrame({"lists": _dictionary_lists([3, 1, 1], [0, 1, 1, 3], texts)})
    lists = pa.array(decoded_lists(frame)["lists"].array)
    assert lists.type == pa.list_(pa.string())
    assert lists.to_pylist() == [["d"], [], ["b", "b"]]


def test_a_text_column_is_built_of_python_or_arrow_chunks():
    chunks = [["a", None], pa.array(["b"], pa.string()), []]
    series = text_series(chunks, pd.RangeIndex(3))
    assert series.isna().tolist() == [False, True, False]
    assert series.dropna().tolist() == ["a", "b"]


def test_plain_text_is_what_astype_str_gives_for_text_and_other_categories():
    frame = pd.DataFrame(
        {"text": pd.Categorical(["x", None, "y", "x"]), "number": pd.Categorical([1, 2, None, 1])}
    )
    expected = frame.astype({"text": "str", "number": "str"})
    made = plain(frame.copy())
    assert made.equals(expected) and made.dtypes.tolist() == expected.dtypes.tolist()
    assert pa.array(made["text"].array).type == pa.array(expected["text"].array).type
