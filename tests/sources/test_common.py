import math
from pathlib import Path

import pytest

from unimed_kedro.sources.common import (
    LayoutError,
    Memo,
    Rejects,
    harmonise,
    normalise_view,
    parse_age,
    parse_label,
    read_csv_rows,
    resolve_inside,
)


def test_resolve_inside_rejects_escapes(tmp_path: Path):
    assert resolve_inside(tmp_path, "a/b.jpg") == str(tmp_path / "a" / "b.jpg")
    assert resolve_inside(tmp_path, "../../etc/passwd") is None
    assert resolve_inside(tmp_path, "/etc/passwd") is None
    assert resolve_inside(tmp_path, "a/../../x.jpg") is None
    assert resolve_inside(tmp_path, "..") is None


@pytest.mark.parametrize("cell,expected", [("1.0", 1.0), ("0.0", 0.0), ("-1.0", -1.0), ("1", 1.0)])
def test_parse_label_values(cell, expected):
    assert parse_label(cell, "Edema") == expected


def test_parse_label_blank_is_not_annotated():
    assert math.isnan(parse_label("  ", "Edema"))


@pytest.mark.parametrize("cell", ["2.5", "abc", "0.5"])
def test_parse_label_rejects_other_values_naming_column(cell):
    with pytest.raises(ValueError, match="'Edema'.*expected 1.0, 0.0, -1.0 or blank"):
        parse_label(cell, "Edema")


def test_parse_age_forms():
    assert parse_age("058Y", "Patient Age") == 58
    assert parse_age("0", "Age") == 0
    assert math.isnan(parse_age("", "Age"))
    with pytest.raises(ValueError, match="'Age'"):
        parse_age("old", "Age")


def test_harmonise_priority_and_missing():
    mapping = {"Infiltration": "infiltration", "Infiltrate": "infiltration", "Mass": "mass"}
    out = harmonise({"Infiltration": 0.0, "Infiltrate": 1.0, "Mass": math.nan}, mapping)
    assert out == {"label_infiltration": 1.0}


def test_normalise_view(vocabulary):
    views = vocabulary["views"]
    assert normalise_view("pa", views) == "PA"
    assert normalise_view("", views) == "UNKNOWN"
    assert normalise_view("AP  AXIAL", views) == "AP"
    assert normalise_view("SWIMMERS", views) == "SWIMMERS"


def test_read_csv_rows_bad_field_count_becomes_reject(tmp_path: Path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n3\n4,5\n")
    rejects = Rejects("x")
    rows = list(read_csv_rows(path, ["a"], rejects, tmp_path))
    assert [line for line, _ in rows] == [2, 4]
    assert rejects.rows[0]["row"] == 3 and rejects.rows[0]["reason"] == "bad_csv_row"
    assert "expected 2 fields, found 1" in rejects.rows[0]["detail"]


def test_read_csv_rows_missing_column_names_file_and_columns(tmp_path: Path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(LayoutError, match=r"t\.csv, line 1: missing columns \['Path'\]"):
        list(read_csv_rows(path, ["Path"], Rejects("x"), tmp_path))


def test_read_csv_rows_skips_blank_and_whitespace_only_rows(tmp_path: Path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n\n , \n,\n3, \n")
    rejects = Rejects("x")
    assert [line for line, _ in read_csv_rows(path, ["a"], rejects, tmp_path)] == [2, 6]
    assert rejects.rows == []


def test_memo_caches_results_but_not_errors():
    calls = []

    def age(cell: str) -> float:
        calls.append(cell)
        return parse_age(cell, "Age")

    memo = Memo(age)
    assert memo["60"] == memo["60"] == 60.0 and calls == ["60"]
    for _ in range(2):
        with pytest.raises(ValueError, match="'Age'"):
            memo["old"]
    assert calls == ["60", "old", "old"] and "old" not in memo
