"""What every image–text reader inherits: rows naming one image are one record
(`PerImage`), whatever the order of the rows, with the most held-out split of them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from unimed_kedro.schema.columns import decoded_lists, plain
from unimed_kedro.sources.imagetext import base
from unimed_kedro.sources.imagetext.base import PerImage

COLUMNS = ["raw_relpath", "official_split", "source_captions", "findings", "_row"]


def _row(image: str, line: int, captions: list[str], split: str | None = "train", findings=()):
    return {
        "raw_relpath": image,
        "official_split": split,
        "source_captions": captions,
        "findings": list(findings),
        "_row": line,
    }


def test_rows_of_one_image_are_one_record_with_every_caption_in_file_order():
    rows = [
        _row("a.jpg", 2, ["first"]),
        _row("b.jpg", 3, ["only"], split=None),
        _row("a.jpg", 4, ["second", "first"], findings=["nevus"]),
        _row("c.jpg", 5, []),
        _row("a.jpg", 6, ["third"], split="val"),
        _row("c.jpg", 7, ["late"], split="test"),
    ]
    frame = plain(PerImage().frame(rows, COLUMNS))
    assert frame["raw_relpath"].tolist() == ["a.jpg", "b.jpg", "c.jpg"]
    assert frame["_row"].tolist() == [2, 3, 5]  # where each image was first listed
    assert frame["source_captions"].tolist() == [["first", "second", "third"], ["only"], ["late"]]
    assert frame["findings"].tolist() == [["nevus"], [], []]
    # an image some row puts in evaluation data is evaluation data
    assert frame["official_split"].tolist()[0] == "val"
    assert frame["official_split"].isna().tolist() == [False, True, False]
    assert frame["official_split"].tolist()[2] == "test"


def test_no_rows_give_an_empty_frame_of_the_columns():
    frame = PerImage().frame([], COLUMNS)
    assert len(frame) == 0 and set(COLUMNS) <= set(frame.columns)


def test_captions_are_laid_out_in_the_arranged_order_whatever_the_chunks(monkeypatch):
    monkeypatch.setattr(base, "CHUNK", 2)  # entries held a few at a time: many chunks
    rows = [
        _row("c.jpg", 2, ["c1"]),
        _row("a.jpg", 3, ["a1", "a2"]),
        _row("b.jpg", 4, ["b1"]),
        _row("c.jpg", 5, ["c2", "c1"]),
        _row("a.jpg", 6, ["a3"]),
        _row("d.jpg", 7, []),
        _row("b.jpg", 8, ["b2"]),
    ]

    def by_path(frame: pd.DataFrame) -> np.ndarray:  # each image's place: path order
        return frame["raw_relpath"].astype(str).rank(method="first").to_numpy(int) - 1

    frame = PerImage().frame(rows, COLUMNS, arrange=by_path)
    assert frame["raw_relpath"].tolist() == ["c.jpg", "a.jpg", "b.jpg", "d.jpg"]
    expected = [["c1", "c2"], ["a1", "a2", "a3"], ["b1", "b2"], []]
    assert frame["source_captions"].tolist() == expected
    lists = pa.array(frame["source_captions"].array)
    # the texts themselves in path order, so records sorted so decode without a copy
    assert lists.flatten().dictionary.to_pylist() == ["a1", "a2", "a3", "b1", "b2", "c1", "c2"]
    in_order = decoded_lists(frame.iloc[[1, 2, 0, 3]].reset_index(drop=True))
    assert in_order["source_captions"].tolist() == [expected[i] for i in (1, 2, 0, 3)]
