"""Reading index tables row by row and report files whole: a bad row becomes a reject
naming the file and line, a missing column or an unreadable file is a layout error; per-read
memos of values parsed once; XML parsed without entity declarations."""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import zlib
from collections.abc import Callable, Generator, Hashable, Iterable, Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET
from xml.parsers import expat

from unimed_kedro.schema.text import decode_text, has_undecodable, raw_bytes
from unimed_kedro.sources.base import LayoutError, Rejects


class Memo(dict):
    """Per-read cache of a pure function of one hashable value (a cell, a tuple of cells):
    a source repeats a handful of label, sex and view values over thousands of rows. A dict
    subclass, so a hit is one C-level lookup; a value whose call raises is not stored."""

    def __init__(self, function: Callable[[Any], object]):
        super().__init__()
        self.function = function

    def __missing__(self, key: Hashable) -> object:
        value = self[key] = self.function(key)
        return value


def open_text(path: Path) -> io.TextIOBase:
    """Open a .csv or .csv.gz as text; `utf-8-sig` drops a BOM if a copy added one. Bytes
    that are not UTF-8 come through as lone surrogates (`surrogateescape`), so the row
    holding them can be rejected instead of the whole read failing."""
    if path.suffix == ".gz":
        return io.TextIOWrapper(
            gzip.open(path, "rb"), encoding="utf-8-sig", errors="surrogateescape", newline=""
        )
    return open(path, encoding="utf-8-sig", errors="surrogateescape", newline="")


Malformed = Callable[[int, dict[str, str], str], None]


class _Lines:
    """The physical lines of a text file as a csv reader pulls them: counted, and the
    quote characters of the record being read, to skip what is left of a quoted field after
    a CSV error (the reader would otherwise read its remaining lines as records)."""

    __slots__ = ("number", "quotes", "_lines")

    def __init__(self, handle: Iterable[str]):
        self.number = 0
        self.quotes = 0
        self._lines = self._count(handle)

    def __iter__(self) -> Iterator[str]:
        return self._lines

    def _count(self, handle: Iterable[str]) -> Iterator[str]:
        for line in handle:
            self.number += 1
            if '"' in line:
                self.quotes += line.count('"')
            yield line

    def skip_open_field(self) -> None:
        """Skip lines while the record holds an odd number of quotes (a field left open)."""
        while self.quotes % 2 and next(self._lines, None) is not None:
            pass


def csv_records(path: Path) -> Generator[tuple[int, list[str], str | None], None, None]:
    """`(line, fields, problem)` for every record of a CSV file, the header included.

    `problem` says why a record cannot be used (None: it can): a CSV error such as a field
    over `csv.field_size_limit` (then `fields` is empty, `line` is where the record starts
    and the problem names its lines, up to the end of a quoted field it left open), bytes
    that are not UTF-8, a NUL byte. A file that cannot be read on (a truncated or corrupt
    `.gz`, a read error) is a `LayoutError` naming the file and the line where reading
    stopped: its records past that point are unknown."""
    header: list[str] = []
    with open_text(path) as handle:
        lines = _Lines(handle)
        reader = csv.reader(lines)
        while True:
            start, lines.quotes = lines.number + 1, 0
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                lines.skip_open_field()
                end = f"-{lines.number}" if lines.number > start else ""
                yield (
                    start,
                    [],
                    f"line{'s' * bool(end)} {start}{end}: not a readable CSV record ({err})",
                )
                continue
            except (EOFError, OSError, zlib.error) as err:
                raise LayoutError(
                    f"{path}, line {start}: cannot be read past this line ({err}); the file "
                    "is truncated or corrupt, get a complete copy"
                ) from err
            yield lines.number, fields, _field_problem(fields, header)
            header = header or fields


def _field_problem(fields: list[str], header: list[str]) -> str | None:
    """Why cells read from a file cannot be used as text, naming the first bad field by
    its column (the header's own fields by number)."""
    text = "".join(fields)
    if "\x00" not in text and not has_undecodable(text):
        return None
    for number, cell in enumerate(fields):
        name = f"column {header[number]!r}" if number < len(header) else f"field {number + 1}"
        if "\x00" in cell:
            return f"{name}: NUL byte in {raw_bytes(cell)[:80]!r}"
        if has_undecodable(cell):
            return f"{name}: bytes that are not UTF-8 in {raw_bytes(cell)[:80]!r}"
    return None


def read_csv_rows(
    path: Path,
    required: list[str],
    rejects: Rejects,
    root: Path,
    malformed: Malformed | None = None,
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield `(line number, row)` for well-formed rows. A row that cannot be used (a wrong
    field count, a CSV error, bytes that are not UTF-8, a NUL byte) becomes a `bad_csv_row`
    reject naming the file and line, or goes to `malformed(line, cells as far as they
    reach, detail)` for tables whose rows are not records. A missing required column, or a
    file that cannot be read on, is a layout error."""
    rel = str(path.relative_to(root))

    def bad(line: int, cells: dict[str, str], detail: str) -> None:
        if malformed is None:
            rejects.add("bad_csv_row", detail, file=rel, row=line)
        else:
            malformed(line, cells, detail)

    with contextlib.closing(csv_records(path)) as records:
        header = _header(path, next(records, None), required)
        width = len(header)
        for line, fields, problem in records:
            if not problem and not "".join(fields).strip():  # blank or whitespace-only
                continue
            if not problem and len(fields) != width:
                problem = f"expected {width} fields, found {len(fields)}"
            if problem:
                bad(line, dict(zip(header, fields)), problem)
                continue
            yield line, dict(zip(header, fields))


def _header(
    path: Path, first: tuple[int, list[str], str | None] | None, required: list[str]
) -> list[str]:
    if first is None:
        raise LayoutError(f"{path}: empty file, expected a header with {required}")
    line, header, problem = first
    if problem and not header:
        raise LayoutError(f"{path}, {problem}; expected a header with {required}")
    missing = [c for c in required if c not in header]
    if missing:
        raise LayoutError(f"{path}, line {line}: missing columns {missing}; found {header}")
    return header


class XMLError(ValueError):
    """A report file that is no usable XML, and the line where parsing stopped."""

    def __init__(self, message: str, line: int):
        super().__init__(message)
        self.line = line


def read_xml(path: Path) -> tuple[ET.Element, bool]:
    """The root element of an XML file, and whether bytes that are not UTF-8 (in a file
    that declares none other) had to be replaced by U+FFFD to read it.

    Parsed without entity declarations (no billion laughs, no external entities, whatever
    the expat version) and without fetching any DTD; not well-formed XML is an `XMLError`."""
    data = path.read_bytes()
    try:
        return _parse_xml(data), False
    except XMLError as first:
        error = first
    text, replaced = decode_text(data)
    if replaced:
        try:  # a str is parsed as UTF-8, whatever the file declares
            return _parse_xml(text), True
        except XMLError:
            pass
    raise error


def _parse_xml(data: bytes | str) -> ET.Element:
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data

    def no_entities(name: str, *_: object) -> None:
        raise XMLError(
            f"entity declaration {name!r}: entities are not allowed (line "
            f"{parser.CurrentLineNumber})",
            parser.CurrentLineNumber,
        )

    parser.EntityDeclHandler = no_entities
    try:
        parser.Parse(data, True)
    except expat.ExpatError as err:
        raise XMLError(str(err), err.lineno) from None
    return builder.close()
