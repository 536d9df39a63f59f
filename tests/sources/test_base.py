"""The shared `finish` of every reader (issue 15): sample ids obey the id rule or the reader
is wrong, two raw ids folding to one sample id are a reject naming both, and every text
cell leaves ingest valid UTF-8 without control characters."""

from __future__ import annotations

import math
import unicodedata

import pandas as pd
import pytest

from unimed_kedro.schema import IMAGE, make_sample_id
from unimed_kedro.schema.base import SampleIdError
from unimed_kedro.sources.base import ID_COLLISION, Rejects, finish

LABELS = ["cardiomegaly"]


def _record(raw_id: str, line: int, **extra) -> dict:
    return {
        "sample_id": make_sample_id("toy", raw_id),
        "source": "toy",
        "patient_id": f"toy:{raw_id}",
        "study_id": raw_id,
        "raw_relpath": f"images/{raw_id}.png",
        "view": "PA",
        "sex": None,
        "age": math.nan,
        "official_split": None,
        "license": "CC0",
        "report_findings": None,
        "report_impression": None,
        "_file": "index.csv",
        "_row": line,
        "_raw_id": raw_id,
        **extra,
    }


def test_two_raw_ids_folding_to_one_id_are_a_collision_naming_both():
    rejects = Rejects("toy")
    records = [_record(r, k) for k, r in enumerate(["a.b", "c", "a_b", "A.B", "c"], 2)]
    manifest, rejected, _ = finish(records, rejects, IMAGE, LABELS)
    assert manifest["sample_id"].tolist() == ["toy-a_b", "toy-c"]
    assert manifest["raw_relpath"].tolist() == ["images/a.b.png", "images/c.png"]
    assert rejected[["reason", "row", "sample_id"]].values.tolist() == [
        [ID_COLLISION, 4, "toy-a_b"],
        [ID_COLLISION, 5, "toy-a_b"],
        ["duplicate_record", 6, "toy-c"],  # the same raw record again, as before
    ]
    first = rejected.iloc[0]
    assert first.file == "index.csv" and first.detail == (
        "raw id 'a_b' gives sample id toy-a_b, as does raw id 'a.b' (index.csv line 2), "
        "which is kept: ids fold every character outside [a-z0-9_-] to '_'"
    )
    assert rejected.iloc[2].detail == "sample toy-c already listed earlier"


def test_without_a_raw_id_the_raw_path_tells_a_collision_from_a_duplicate():
    rejects = Rejects("toy")
    records = [_record("x", 2), _record("x", 3, raw_relpath="other/x.png")]
    for record in records:
        del record["_raw_id"]
    _, rejected, _ = finish(records, rejects, IMAGE, LABELS)
    assert rejected["reason"].tolist() == [ID_COLLISION]
    assert "'other/x.png'" in rejected.iloc[0].detail


@pytest.mark.parametrize("bad", ["toy-a.b", "toy-a/b", "other-a", "toy-", "TOY-a"])
def test_a_reader_breaking_the_id_rule_fails_loudly(bad):
    with pytest.raises(SampleIdError, match="break the id rule"):
        finish([_record("a", 2, sample_id=bad)], Rejects("toy"), IMAGE, LABELS)
    rejects = Rejects("toy")
    rejects.add("missing_file", "gone", file="index.csv", row=3, sample_id=bad)
    with pytest.raises(SampleIdError, match="break the id rule"):
        finish([], rejects, IMAGE, LABELS)


def test_text_cells_leave_clean_whatever_the_raw_bytes_held():
    rejects = Rejects("toy")
    rejects.add("bad_csv_row", "field 'x': b'caf\\xe9' \udce9\x00", file="t\udcff.csv", row=9)
    records = [
        _record("a", 2, report_findings="Clear\x00 lungs\x85 \x1b[31m", study_id="s\udce9"),
        _record("b", 3, raw_relpath="images/b\udcff.png", source_captions=["one\ntwo", None]),
    ]
    manifest, rejected, _ = finish(records, rejects, IMAGE, LABELS)
    assert manifest["report_findings"].tolist()[0] == "Clear lungs  [31m"
    assert manifest["study_id"].tolist() == ["s\ufffd", "b"]
    assert manifest["raw_relpath"].tolist()[1] == "images/b\ufffd.png"
    assert rejected.iloc[0].detail == "field 'x': b'caf\\xe9' \ufffd"
    assert rejected.iloc[0].file == "t\ufffd.csv"
    assert manifest["source_captions"].tolist()[1] == ["one two", None]
    for frame in (manifest, rejected):
        for value in _texts(frame):
            value.encode("utf-8")  # raises on a surrogate
            assert not any(unicodedata.category(c) == "Cc" for c in value), value


def _texts(frame: pd.DataFrame) -> list[str]:
    cells = frame.to_numpy(dtype=object).ravel().tolist()
    flat = [v for cell in cells for v in (cell if isinstance(cell, list) else [cell])]
    return [v for v in flat if isinstance(v, str)]


def test_repeated_sample_ids_keep_the_first_listed_and_the_rest_in_id_order():
    records = [_record(raw, line) for line, raw in enumerate(["b", "a.x", "c", "a_x", "b"], 2)]
    rejects = Rejects("toy")
    manifest, found, _ = finish(records, rejects, IMAGE, LABELS)
    assert manifest["sample_id"].tolist() == ["toy-a_x", "toy-b", "toy-c"]
    assert manifest["study_id"].tolist() == ["a.x", "b", "c"]  # the first of each id kept
    assert found["row"].tolist() == [5, 6]  # rejected in the order they were listed
    assert found["reason"].tolist() == [ID_COLLISION, "duplicate_record"]
