"""UniMed's retinal datasets in `Retina-Datasets/`, read through UniMed's tables.

Layout (UniMed's guide): one folder per dataset, named as FLAIR's collection names them
(`03_IDRiD/`, `08_ODIR-5K/`, ...), and UniMed's tables in `Retina-Annotations/*.csv`, one
per dataset. Image paths in the tables are relative to `Retina-Datasets/`: UniMed's
scripts join them to the folder of dataset folders, and FLAIR's tables, which UniMed's
derive from, write `NN_Name/<path inside the dataset>`. A table's kind is told by its
header, whatever its name (pandas' unnamed index column and other columns are ignored):
- captions (most tables): `filename`, `captions` (a Python-literal list of captions) and
  `sentence_level_captions` (one text; optional): every caption is kept;
- categories (`06_DEN.csv`, FLAIR's form): `image`, `categories` (a list), `atributes`
  (sic, not used): the categories without "year" and without "//" (UniMed's filter of
  ages and links) and with a letter are `findings`, captioned from templates later;
- one caption (`39_MM_Retinal_dataset.csv`): `image`, `caption`.
The image column may be `filename` or `image` in any kind. An image of no caption and no
finding is a `no_caption` reject. Tables named in the entry's `excluded_tables` (UniMed
keeps `_revised` EyePACS, LAG and OIA-DDR for zero-shot evaluation) are skipped.
`dataset` is the table's name without its number and `_revised`/`_dataset` suffix
(`08_ODIR.csv` -> ODIR). There is no official split.

Not verified (UniMed's annotation links are dead, issues #1, #18): the exact headers of
the caption tables, and whether MM-Retinal's paths carry its folder. So a path that is
no file is also tried inside the dataset folders whose number matches the table's
(`39_MM_Retinal_dataset.csv` -> `39_*/`); MM-Retinal's angiography and OCT images, if its
table lists them, are recorded as fundus images too.
"""

from __future__ import annotations

import ast
import contextlib
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from unimed_kedro.schema import make_sample_id
from unimed_kedro.sources.base import LayoutError
from unimed_kedro.sources.imagetext.base import ImageTextSource
from unimed_kedro.sources.paths import Where
from unimed_kedro.sources.tables import csv_records, read_csv_rows

log = logging.getLogger(__name__)

ANNOTATIONS = "Retina-Annotations"
MODALITY = "fundus"
EXCLUDED = ("01_EYEPACS_revised.csv", "07_LAG_revised.csv", "28_OIA-DDR_revised.csv")
IMAGE_COLUMNS = ("filename", "image")
# (kind, the column that tells it) in the order they are tried
KINDS = (("captions", "captions"), ("categories", "categories"), ("caption", "caption"))
SENTENCE = "sentence_level_captions"
EXPECTED = (
    "filename,captions[,sentence_level_captions] (06_DEN.csv: image,categories,atributes; "
    "39_MM_Retinal_dataset.csv: image,caption)"
)


@dataclass(frozen=True)
class Table:
    path: Path
    kind: str  # captions / categories / caption
    image: str  # the header's name of the image column
    dataset: str
    number: str  # the NN of `NN_Name.csv`, "" without one


class Retina(ImageTextSource):
    findings_suffice = True  # DEN's categories: captioned from templates
    checks_files_when_read = True  # a path may sit in a dataset folder numbered as its table

    def layout(self) -> list[Table]:
        folder = self.root / ANNOTATIONS
        paths = sorted(folder.glob("*.csv")) if folder.is_dir() else []
        if not paths:
            raise LayoutError(
                f"{self.root}: expected UniMed's {ANNOTATIONS}/*.csv tables with columns "
                f"{EXPECTED} beside the dataset folders (UniMed's Retina-Datasets layout)"
            )
        excluded = set(self.options.get("excluded_tables", EXCLUDED) or ())
        tables = []
        for path in paths:
            if path.name in excluded:
                log.info(
                    "%s: %s skipped (excluded_tables: kept for evaluation)", self.root, path.name
                )
                continue
            tables.append(table(path))
        return tables

    def records(self, layout: list[Table]) -> Iterator[dict]:
        numbered: dict[str, list[str]] = {}
        for entry in sorted(os.scandir(self.root), key=lambda e: e.name):
            match = re.match(r"(\d+)_", entry.name)
            if match and entry.is_dir():
                numbered.setdefault(match.group(1), []).append(entry.name)
        located: dict[str, str | None] = {}
        for tab in layout:
            folders = numbered.get(tab.number, [])
            for line, row in read_csv_rows(tab.path, table_columns(tab), self.rejects, self.root):
                record = self._row(tab, line, row, located, folders)
                if record is not None:
                    yield record

    def _row(
        self,
        tab: Table,
        line: int,
        row: dict[str, str],
        located: dict[str, str | None],
        folders: list[str],
    ) -> dict | None:
        file = f"{ANNOTATIONS}/{tab.path.name}"
        cell = row[tab.image].strip().replace("\\", "/").removeprefix("./")
        where: Where = {"file": file, "row": line, "sample_id": None}
        if not cell:
            self.rejects.add("bad_csv_row", f"column {tab.image!r} is empty", **where)
            return None
        where["sample_id"] = make_sample_id(self.source.name, os.path.splitext(cell)[0])
        try:
            captions, findings = texts(tab, row)
        except ValueError as err:
            self.rejects.add("bad_csv_row", str(err), **where)
            return None
        if cell not in located:  # later rows of an image rejected here add no reject
            located[cell] = self._locate(cell, folders, where)
        rel = located[cell]
        if rel is None:
            return None
        return self.record(
            rel,
            os.path.splitext(rel)[0],
            captions=captions,
            where=where,
            dataset=tab.dataset,
            modality=MODALITY,
            findings=findings,
        )

    def _locate(self, rel: str, folders: list[str], where: Where) -> str | None:
        """`rel` when it is a file inside the folder, else `<dataset folder>/<rel>` for
        the first folder numbered as the table holding it; else a reject."""
        return self.first_file([rel, *(f"{folder}/{rel}" for folder in folders)], where)


def table(path: Path) -> Table:
    """What a table holds, from its header; a `LayoutError` naming the file and the
    expected columns when it is unreadable or fits no kind."""
    header = read_header(path)
    kind = next((kind for kind, column in KINDS if column in header), None)
    image = next((header[c] for c in IMAGE_COLUMNS if c in header), None)
    if kind is None or image is None:
        raise LayoutError(
            f"{path}, line 1: expected columns {EXPECTED}; found {list(header.values())}"
        )
    number, _, _ = path.stem.partition("_")
    name = re.sub(r"^\d+_", "", path.stem)
    name = re.sub(r"_(revised|dataset)$", "", name, flags=re.IGNORECASE)
    return Table(path, kind, image, name or path.stem, number if number.isdigit() else "")


def read_header(path: Path) -> dict[str, str]:
    """Column name without surrounding spaces -> as the header writes it."""
    try:
        with contextlib.closing(csv_records(path)) as records:
            first = next(records, None)
    except OSError as err:
        raise LayoutError(f"{path}: cannot be read ({err}); expected columns {EXPECTED}") from err
    if first is None or (first[2] and not first[1]):
        raise LayoutError(f"{path}: empty or unreadable, expected columns {EXPECTED}")
    return {name.strip(): name for name in first[1]}


def table_columns(tab: Table) -> list[str]:
    """The columns `read_csv_rows` must find: the header's own spelling of each."""
    header = read_header(tab.path)
    wanted = [tab.image, header[tab.kind]]
    if tab.kind == "captions" and SENTENCE in header:
        wanted.append(header[SENTENCE])
    return wanted


def texts(tab: Table, row: dict[str, str]) -> tuple[list[str], list[str]]:
    """(captions, findings) of a row; a ValueError naming the column for a cell that is
    no Python literal of the expected shape (parsed with `ast.literal_eval`, never run)."""
    cells = {name.strip(): value for name, value in row.items()}
    if tab.kind == "caption":
        return [cells["caption"]], []
    if tab.kind == "categories":
        categories = literal_list(cells["categories"], "categories")
        return [], [c for c in (clean(c) for c in categories if usable(c)) if wordy(c)]
    return [*literal_list(cells["captions"], "captions"), cells.get(SENTENCE, "")], []


def usable(category: str) -> bool:
    """UniMed's filter of DEN categories: no age ("56-year-old") and no "//"."""
    text = category.strip("/")
    return "year" not in text and "//" not in text


def wordy(text: str) -> bool:
    """A finding must hold a word: UniMed's filter lets a bare "//" through."""
    return any(ch.isalpha() for ch in text)


def clean(text: str) -> str:
    return " ".join(text.split()).rstrip(".").strip()


def literal_list(cell: str, column: str) -> list[str]:
    """A Python-literal list of texts (a lone string is a list of one; empty: none)."""
    if not cell.strip():
        return []
    try:
        value = ast.literal_eval(cell.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise ValueError(
            f"column {column!r}: expected a Python list of texts, got {cell[:120]!r}"
        ) from None
    if isinstance(value, str):
        return [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"column {column!r}: expected a list of texts, got {cell[:120]!r}")
    return list(value)
