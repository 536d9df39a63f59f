from pathlib import Path

import pytest

from unimed_kedro.sources.base import LayoutError, Rejects
from unimed_kedro.sources.tables import Memo, read_csv_rows


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
        return float(cell) if cell.isdigit() else float("x" + cell)

    memo = Memo(age)
    assert memo["60"] == memo["60"] == 60.0 and calls == ["60"]
    for _ in range(2):
        with pytest.raises(ValueError, match="xold"):
            memo["old"]
    assert calls == ["60", "old", "old"] and "old" not in memo
