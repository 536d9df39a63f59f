"""MIMIC-CXR-JPG 2.x as PhysioNet distributes it (optionally with MIMIC-CXR's reports).

The metadata, CheXpert-label and split tables sit in `mimic-cxr-jpg/` or in its version
folder (`2.0.0/`, `2.1.0/`), plain or `.gz`. Images are
`files/p<first 2 digits>/p<subject>/s<study>/<dicom_id>.jpg`; labels are per study and are
joined on (subject_id, study_id); a free-text report, when present, is the study folder's
sibling `s<study>.txt`, whose FINDINGS and IMPRESSION sections are extracted. A label or
split row that cannot be used (a bad label value, a wrong field count) rejects the images
it names as `bad_csv_row`, naming the table and line; one naming no listed image is a
`table_row_ignored` correction.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from unimed_kedro.schema import make_sample_id
from unimed_kedro.schema.text import clean_text, decode_text
from unimed_kedro.sources.base import (
    NOT_UTF8,
    UNDECODABLE_TEXT,
    LayoutError,
    Rejects,
    Source,
    SourceInfo,
)
from unimed_kedro.sources.cxr.values import harmonise, normalise_view, parse_label
from unimed_kedro.sources.paths import SourceFolder, Where
from unimed_kedro.sources.tables import read_csv_rows

INFO = SourceInfo(
    name="mimic",
    title="MIMIC-CXR-JPG",
    license="PhysioNet Credentialed Health Data License 1.5.0",
    redistributable=False,
    citation="Johnson A.E.W. et al. MIMIC-CXR-JPG, a large publicly available database of "
    "labeled chest radiographs. arXiv:1901.07042, 2019.",
    patient_note="patient = subject_id",
)
TABLES = {
    "metadata": "mimic-cxr-2.0.0-metadata",
    "labels": "mimic-cxr-2.0.0-chexpert",
    "split": "mimic-cxr-2.0.0-split",
}
META_COLUMNS = ["dicom_id", "subject_id", "study_id", "ViewPosition"]
LABEL_KEY = ["subject_id", "study_id"]
SPLITS = {"train": "train", "validate": "val", "test": "test"}
TABLE_ROW_IGNORED = "table_row_ignored"  # correction: a bad table row naming no image
# Report headers as written, typos included (official section_parser statistics).
SECTION_ALIASES = {
    "FINDINGS": "findings",
    "FINDING": "findings",
    "FINDNGS": "findings",
    "IMPRESSION": "impression",
    "IMPRESSIONS": "impression",
    "IMPRESSON": "impression",
    "CONCLUSION": "impression",
    "FINDINGS AND IMPRESSION": "findings",
}
_HEADER = re.compile(r"^\s*([A-Z][A-Z /&]{2,40}):\s*(.*)$")


class MIMIC(Source):
    info = INFO

    def layout(self) -> tuple[Path, Path]:
        """The folder holding the tables (the source folder or a version folder) and the
        metadata table."""
        base = _table_folder(self.root)
        return base, _table(base, "metadata")

    def records(self, layout: tuple[Path, Path]) -> Iterator[dict]:
        base, meta = layout
        tables = _Tables()
        _read_labels(base, self.root, tables)
        _read_splits(base, self.root, tables)
        file = str(meta.relative_to(self.root))
        for line, row in read_csv_rows(meta, META_COLUMNS, self.rejects, self.root):
            record = _record(self.folder, base, file, line, row, self.vocabulary, tables)
            if record is not None:
                yield record
        # A problem row naming no listed image costs no raw record: it is noted, not
        # rejected, so exported + rejected = metadata rows still holds.
        for key, problem in tables.unused():
            owner = "/".join(key) if any(key) else "an unreadable key"
            self.rejects.correct(
                TABLE_ROW_IGNORED,
                f"{problem.detail}; no image of the "
                f"metadata table belongs to {owner}, so none was rejected",
                file=problem.file,
                row=problem.line,
            )


@dataclass(frozen=True)
class _RowProblem:
    """A label or split table row that cannot be used as read, and where it is."""

    file: str  # relative to the source folder
    line: int
    detail: str

    def __str__(self) -> str:
        return f"{Path(self.file).name} line {self.line}: {self.detail}"


@dataclass
class _Tables:
    """The label and split tables as image records use them: labels per (subject, study),
    official split per dicom, and the problems of rows that could not be used, filed under
    the key the row names (`(subject, study)` or `(dicom,)`).

    Such a row is not a raw record, so it is never a reject itself: the images it concerns
    are rejected naming it (a study silently left unlabelled, or an image silently losing
    its official test split, would be worse than losing the images)."""

    labels: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    splits: dict[str, str | None] = field(default_factory=dict)
    problems: dict[tuple[str, ...], list[_RowProblem]] = field(default_factory=dict)
    matched: set[tuple[str, ...]] = field(default_factory=set)

    def file(self, key: tuple[str, ...], problem: _RowProblem) -> None:
        self.problems.setdefault(key, []).append(problem)

    def problem_of(self, subject: str, study: str, dicom: str) -> str | None:
        """Why this image's labels or split cannot be trusted (None: they can)."""
        if not self.problems:  # the usual case, once per metadata row
            return None
        keys = [key for key in ((subject, study), (dicom,)) if key in self.problems]
        self.matched.update(keys)
        return "; ".join(str(p) for key in keys for p in self.problems[key]) or None

    def unused(self) -> list[tuple[tuple[str, ...], _RowProblem]]:
        """Problems whose key no image of the metadata table named, by file and line."""
        found = [
            (key, problem)
            for key, problems in self.problems.items()
            if key not in self.matched
            for problem in problems
        ]
        return sorted(found, key=lambda item: (item[1].file, item[1].line))


def _record(
    folder: SourceFolder,
    base: Path,
    file: str,
    line: int,
    row: dict,
    vocab: Mapping,
    tables: _Tables,
) -> dict | None:
    root = folder.root
    dicom = row["dicom_id"].strip()
    where: Where = {"file": file, "row": line, "sample_id": make_sample_id(INFO.name, dicom)}
    subject, study = row["subject_id"].strip(), row["study_id"].strip()
    from_tables = tables.problem_of(subject, study, dicom)
    prefix = "" if base == root else f"{base.relative_to(root).as_posix()}/"
    rel = f"{prefix}files/p{subject[:2]}/p{subject}/s{study}/{dicom}.jpg"
    path = folder.inside(rel, **where)
    if path is None:
        return None
    problem = (
        None
        if subject.isdigit() and study.isdigit() and dicom
        else (
            f"expected numeric subject_id/study_id and a dicom_id, got {subject!r}/{study!r}/"
            f"{dicom!r}"
        )
    )
    problem = problem or from_tables
    if problem:
        folder.rejects.add("bad_csv_row", problem, **where)
        return None
    if not folder.exists(path, **where):
        return None
    report = Path(os.path.dirname(path) + ".txt")
    findings, impression, replaced = _report_sections(report)
    if replaced:
        detail = f"report {Path(os.path.relpath(report, folder.base)).as_posix()}: {NOT_UTF8}"
        folder.rejects.correct(UNDECODABLE_TEXT, detail, **where)
    return {
        "sample_id": where["sample_id"],
        "source": INFO.name,
        "patient_id": f"mimic:{subject}",
        "study_id": f"s{study}",
        "raw_relpath": rel,
        "view": normalise_view(row["ViewPosition"], vocab["views"]),
        "sex": None,
        "age": math.nan,
        "official_split": tables.splits.get(dicom),
        "license": INFO.license,
        "report_findings": findings,
        "report_impression": impression,
        **harmonise(tables.labels.get((subject, study), {}), vocab["labels"]["sources"][INFO.name]),
        "_file": file,
        "_row": line,
        "_raw_id": dicom,
    }


def _table_folder(root: Path) -> Path:
    for folder in [root] + sorted(root.glob("*"), reverse=True):
        if _find(folder, TABLES["metadata"]) is not None:
            return folder
    raise LayoutError(
        f"{root}: expected {TABLES['metadata']}.csv(.gz) in it or in a version "
        "folder such as 2.0.0/ (MIMIC-CXR-JPG layout)"
    )


def _find(folder: Path, stem: str) -> Path | None:
    return next(
        (
            folder / f"{stem}{ext}"
            for ext in (".csv.gz", ".csv")
            if (folder / f"{stem}{ext}").is_file()
        ),
        None,
    )


def _table(base: Path, key: str) -> Path:
    path = _find(base, TABLES[key])
    if path is None:
        raise LayoutError(f"{base}: expected {TABLES[key]}.csv or .csv.gz")
    return path


def _read_labels(base: Path, root: Path, tables: _Tables) -> None:
    """Labels per (subject, study); a bad label value is a problem of that study."""
    path = _find(base, TABLES["labels"])
    if path is None:
        return
    rel = str(path.relative_to(root))
    for line, row in _table_rows(path, LABEL_KEY, LABEL_KEY, root, tables):
        key = (row.pop("subject_id").strip(), row.pop("study_id").strip())
        try:
            tables.labels[key] = {name: parse_label(value, name) for name, value in row.items()}
        except ValueError as err:
            tables.file(key, _RowProblem(rel, line, str(err)))


def _read_splits(base: Path, root: Path, tables: _Tables) -> None:
    path = _find(base, TABLES["split"])
    if path is None:
        return
    for _, row in _table_rows(path, ["dicom_id", "split"], ["dicom_id"], root, tables):
        tables.splits[row["dicom_id"].strip()] = SPLITS.get(row["split"].strip())


def _table_rows(
    path: Path, required: list[str], key: list[str], root: Path, tables: _Tables
) -> Iterator[tuple[int, dict[str, str]]]:
    """Well-formed rows of a label or split table. A row with the wrong field count is
    filed as a problem under the key its `key` cells name: a table row is not a raw
    record, so it is no reject of its own."""
    rel = str(path.relative_to(root))

    def misread(line: int, cells: dict[str, str], detail: str) -> None:
        tables.file(tuple(cells.get(c, "").strip() for c in key), _RowProblem(rel, line, detail))

    yield from read_csv_rows(path, required, Rejects(INFO.name), root, malformed=misread)


def _report_sections(path: Path) -> tuple[str | None, str | None, bool]:
    """FINDINGS and IMPRESSION of a MIMIC-CXR report (either may be absent), and whether
    bytes that are not UTF-8 had to be replaced by U+FFFD."""
    if not path.is_file():
        return None, None, False
    text, replaced = decode_text(path.read_bytes())
    sections: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        header = _HEADER.match(line)
        if header:
            current = SECTION_ALIASES.get(" ".join(header.group(1).split()))
            if current and current not in sections:
                sections[current] = []
            line = header.group(2)
        if current:
            sections[current].append(line.strip())
    found = {k: " ".join(clean_text(" ".join(v)).split()) or None for k, v in sections.items()}
    return found.get("findings"), found.get("impression"), replaced
