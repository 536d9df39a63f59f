import csv
import gzip
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.sources.helpers import write_gz
from unimed_kedro.sources.base import LayoutError, Rejects
from unimed_kedro.sources.tables import Memo, XMLError, read_csv_rows, read_xml


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


# --- bad bytes (issue 15): a bad byte is a bad row, an unreadable file a clear LayoutError


def test_undecodable_bytes_and_nul_reject_their_row_only(tmp_path: Path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"a,b\n1,2\ncaf\xe9,3\n4,5\x00\n6,7\n")
    rejects = Rejects("x")
    rows = list(read_csv_rows(path, ["a"], rejects, tmp_path))
    assert [(line, row["a"]) for line, row in rows] == [(2, "1"), (5, "6")]
    assert [(r["file"], r["row"], r["reason"]) for r in rejects.rows] == [
        ("t.csv", 3, "bad_csv_row"),
        ("t.csv", 4, "bad_csv_row"),
    ]
    assert rejects.rows[0]["detail"] == "column 'a': bytes that are not UTF-8 in b'caf\\xe9'"
    assert rejects.rows[1]["detail"] == "column 'b': NUL byte in b'5\\x00'"


def test_an_oversized_field_is_a_bad_row_and_reading_goes_on(tmp_path: Path):
    path = tmp_path / "t.csv"
    huge = "x" * (csv.field_size_limit() + 10)
    path.write_text(f'a,b\n1,2\n{huge},3\n4,5\n"{huge}\nmore ""quoted"" text\n",6\n7,8\n')
    rejects = Rejects("x")
    rows = list(read_csv_rows(path, ["a"], rejects, tmp_path))
    assert [(line, row["a"]) for line, row in rows] == [(2, "1"), (4, "4"), (8, "7")]
    assert [(r["row"], r["reason"], r["file"]) for r in rejects.rows] == [
        (3, "bad_csv_row", "t.csv"),
        (5, "bad_csv_row", "t.csv"),
    ]
    assert rejects.rows[0]["detail"].startswith("line 3: not a readable CSV record (field larger")
    assert rejects.rows[1]["detail"].startswith("lines 5-7: not a readable CSV record")


def test_unusable_rows_of_a_table_that_is_no_record_go_to_malformed(tmp_path: Path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"k,v\n1,caf\xe9\n" + b"2," + b"y" * (csv.field_size_limit() + 1) + b"\n")
    seen = []
    rows = read_csv_rows(path, ["k"], Rejects("x"), tmp_path, malformed=lambda *a: seen.append(a))
    assert list(rows) == []
    assert [(line, cells.get("k")) for line, cells, _ in seen] == [(2, "1"), (3, None)]


def test_a_truncated_gz_is_a_layout_error_naming_file_and_line(tmp_path: Path):
    path = tmp_path / "t.csv.gz"
    write_gz(path, "a,b\n" + "".join(f"{i},{i * 7919 % 10007}\n" for i in range(20000)))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(LayoutError, match=r"t\.csv\.gz, line \d+: cannot be read past") as err:
        list(read_csv_rows(path, ["a"], Rejects("x"), tmp_path))
    assert "truncated or corrupt" in str(err.value)
    path.write_bytes(b"\x1f\x8b\x08\x00garbage that is no deflate stream")
    with pytest.raises(LayoutError, match=r"t\.csv\.gz, line 1: cannot be read past"):
        list(read_csv_rows(path, ["a"], Rejects("x"), tmp_path))


def test_an_unreadable_header_is_a_layout_error(tmp_path: Path):
    path = tmp_path / "t.csv"
    path.write_text("a" * (csv.field_size_limit() + 1) + ",b\n1,2\n")
    with pytest.raises(LayoutError, match=r"t\.csv, line 1: not a readable CSV record"):
        list(read_csv_rows(path, ["a"], Rejects("x"), tmp_path))


HEADER = b"Path,Sex,Age\n"
GOOD_ROW = b"train/p1/s1/v1.jpg,Female,68\n"
RANDOM_LINE = st.binary(max_size=40).map(
    lambda b: b.replace(b"\n", b"").replace(b"\r", b"") + b"\n"
)
RANDOM = settings(
    database=None, deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow]
)


@RANDOM
@given(
    st.lists(st.one_of(st.just(GOOD_ROW), RANDOM_LINE), max_size=12),
    st.binary(max_size=30),
    st.sampled_from(["csv", "gz", "truncated gz"]),
)
def test_read_csv_rows_over_random_bytes(lines, tail, form):
    """Random lines (and a random tail) after a header: no crash; every kept row is whole
    and clean text; every good line is kept; every other line is kept, rejected as a
    bad_csv_row naming the file and line, or blank; a file that cannot be read on is a
    LayoutError naming it and the line."""
    text = data = HEADER + b"".join(lines) + tail
    if form != "csv":
        data = gzip.compress(text, mtime=0)
        data = data[: len(data) // 2] if form == "truncated gz" else data
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("t.csv" if form == "csv" else "t.csv.gz")
        path.write_bytes(data)
        rejects = Rejects("x")
        try:
            rows = list(read_csv_rows(path, ["Path", "Age"], rejects, Path(folder)))
        except LayoutError as err:
            assert form == "truncated gz", err
            assert re.search(rf"{re.escape(str(path))}, line \d+: cannot be read past", str(err))
            return
    kept = {line for line, _ in rows}
    rejected = {r["row"] for r in rejects.rows}
    assert all(r["reason"] == "bad_csv_row" and r["file"] == path.name for r in rejects.rows)
    assert not kept & rejected and all(r["detail"] for r in rejects.rows)
    for _, row in rows:
        assert list(row) == ["Path", "Sex", "Age"]
        "".join(row.values()).encode("utf-8")  # no undecodable byte in a kept row
        assert "\x00" not in "".join(row.values())
    if b'"' in text:  # a quoted field may span lines: only the above holds
        return
    for number, line in enumerate(lines, 2):
        if line == GOOD_ROW:
            assert number in kept
        else:
            blank = not line.decode("utf-8", "surrogateescape").replace(",", "").strip()
            assert number in kept | rejected or blank, (number, line)


# --- XML: entities refused whatever the expat version, bytes that are not UTF-8 replaced

LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "lol">'
    + b"".join(
        f'<!ENTITY {chr(98 + k)} "{("&" + chr(97 + k) + ";") * 10}">'.encode() for k in range(8)
    )
    + b"]><r>&i;</r>"
)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (LAUGHS, "entity declaration 'a': entities are not allowed"),
        (b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///SECRET">]><r>&x;</r>', "entity declaration"),
        (b'<!DOCTYPE r [<!ENTITY % p SYSTEM "file:///SECRET"> %p;]><r/>', "entity declaration"),
        (b"<r>&x;</r>", "undefined entity"),
        (b"<r><a>", "no element found"),
        (b"", "no element found"),
        (b"<r>\x00</r>", "not well-formed"),
    ],
)
def test_read_xml_refuses_entities_and_malformed_files(tmp_path: Path, data: bytes, message):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    path = tmp_path / "r.xml"
    path.write_bytes(data.replace(b"file:///SECRET", secret.as_uri().encode()))
    with pytest.raises(XMLError, match=message) as err:
        read_xml(path)
    assert err.value.line >= 1


def test_billion_laughs_stdlib_limits_and_read_xml_refuses(tmp_path: Path):
    """What ElementTree does here (expat >= 2.4 caps entity amplification; older expat
    builds do not), and what `read_xml` does whatever the expat: no entity at all."""
    from xml.etree import ElementTree as ET

    with pytest.raises(ET.ParseError, match="amplification"):
        ET.fromstring(LAUGHS)
    path = tmp_path / "laughs.xml"
    path.write_bytes(LAUGHS)
    with pytest.raises(XMLError, match="entities are not allowed"):
        read_xml(path)


def test_read_xml_replaces_bytes_that_are_not_utf8(tmp_path: Path):
    path = tmp_path / "r.xml"
    path.write_bytes(b'<?xml version="1.0" encoding="utf-8"?><r id="1">caf\xe9 \xc2\x85ok</r>')
    root, replaced = read_xml(path)
    assert (root.text, root.get("id"), replaced) == ("caf\ufffd \x85ok", "1", True)
    path.write_bytes('<?xml version="1.0" encoding="iso-8859-1"?><r>café</r>'.encode("latin-1"))
    assert read_xml(path)[0].text == "café" and read_xml(path)[1] is False
    path.write_bytes(b"<r>caf\xe9</r")  # not well-formed either way: the first error
    with pytest.raises(XMLError, match="not well-formed"):
        read_xml(path)
