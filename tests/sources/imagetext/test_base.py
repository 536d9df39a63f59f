"""What every image–text reader inherits: rows naming one image are one record
(`PerImage`), whatever the order of the rows, with the most held-out split of them."""

from __future__ import annotations

from unimed_kedro.schema.columns import plain
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
