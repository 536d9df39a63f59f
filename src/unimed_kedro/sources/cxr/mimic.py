"""MIMIC-CXR-JPG 2.x as PhysioNet distributes it (optionally with MIMIC-CXR's reports).

The metadata, CheXpert-label and split tables sit in `mimic-cxr-jpg/` or in its version
folder (`2.0.0/`, `2.1.0/`), plain or `.gz`. Images are
`files/p<first 2 digits>/p<subject>/s<study>/<dicom_id>.jpg`; labels are per study and are
joined on (subject_id, study_id); a free-text report, when present, is the study folder's
sibling `s<study>.txt`, whose FINDINGS and IMPRESSION sections are extracted.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from pathlib import Path

from unimed_kedro.sources.base import LayoutError, Rejects, Source, SourceInfo
from unimed_kedro.sources.cxr.values import harmonise, normalise_view, parse_label
from unimed_kedro.sources.paths import SourceFolder
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
TABLES = {"metadata": "mimic-cxr-2.0.0-metadata", "labels": "mimic-cxr-2.0.0-chexpert",
          "split": "mimic-cxr-2.0.0-split"}
META_COLUMNS = ["dicom_id", "subject_id", "study_id", "ViewPosition"]
SPLITS = {"train": "train", "validate": "val", "test": "test"}
# Report headers as written, typos included (official section_parser statistics).
SECTION_ALIASES = {
    "FINDINGS": "findings", "FINDING": "findings", "FINDNGS": "findings",
    "IMPRESSION": "impression", "IMPRESSIONS": "impression", "IMPRESSON": "impression",
    "CONCLUSION": "impression", "FINDINGS AND IMPRESSION": "findings",
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
        labels = _study_labels(base, self.root, self.rejects)
        splits = _splits(base, self.root, self.rejects)
        file = str(meta.relative_to(self.root))
        for line, row in read_csv_rows(meta, META_COLUMNS, self.rejects, self.root):
            record = _record(self.folder, base, file, line, row, self.vocabulary, labels,
                             splits)
            if record is not None:
                yield record


def _record(folder: SourceFolder, base: Path, file: str, line: int, row: dict, vocab: dict,
            labels: dict, splits: dict) -> dict | None:
    root = folder.root
    dicom = row["dicom_id"].strip()
    where = {"file": file, "row": line, "sample_id": "mimic-" + dicom.lower()}
    subject, study = row["subject_id"].strip(), row["study_id"].strip()
    prefix = "" if base == root else f"{base.relative_to(root).as_posix()}/"
    rel = f"{prefix}files/p{subject[:2]}/p{subject}/s{study}/{dicom}.jpg"
    path = folder.inside(rel, **where)
    if path is None:
        return None
    study_labels = labels.get((subject, study), {})
    problem = None if subject.isdigit() and study.isdigit() and dicom else (
        f"expected numeric subject_id/study_id and a dicom_id, got {subject!r}/{study!r}/"
        f"{dicom!r}")
    problem = problem or study_labels.get("_error")
    if problem:
        folder.rejects.add("bad_csv_row", problem, **where)
        return None
    if not folder.exists(path, **where):
        return None
    findings, impression = _report_sections(Path(os.path.dirname(path) + ".txt"))
    return {
        "sample_id": where["sample_id"], "source": INFO.name, "patient_id": f"mimic:{subject}",
        "study_id": f"s{study}", "raw_relpath": rel,
        "view": normalise_view(row["ViewPosition"], vocab["views"]), "sex": None,
        "age": math.nan, "official_split": splits.get(dicom), "license": INFO.license,
        "report_findings": findings, "report_impression": impression,
        **harmonise(study_labels, vocab["labels"]["sources"][INFO.name]),
        "_file": file, "_row": line,
    }


def _table_folder(root: Path) -> Path:
    for folder in [root] + sorted(root.glob("*"), reverse=True):
        if _find(folder, TABLES["metadata"]) is not None:
            return folder
    raise LayoutError(f"{root}: expected {TABLES['metadata']}.csv(.gz) in it or in a version "
                      "folder such as 2.0.0/ (MIMIC-CXR-JPG layout)")


def _find(folder: Path, stem: str) -> Path | None:
    return next((folder / f"{stem}{ext}" for ext in (".csv.gz", ".csv")
                 if (folder / f"{stem}{ext}").is_file()), None)


def _table(base: Path, key: str) -> Path:
    path = _find(base, TABLES[key])
    if path is None:
        raise LayoutError(f"{base}: expected {TABLES[key]}.csv or .csv.gz")
    return path


def _study_labels(base: Path, root: Path, rejects: Rejects) -> dict:
    """(subject, study) -> {label name: value}; a malformed row maps to `_error`, which
    rejects that study's images instead of silently leaving them unlabelled."""
    path = _find(base, TABLES["labels"])
    if path is None:
        return {}
    out: dict = {}
    for line, row in read_csv_rows(path, ["subject_id", "study_id"], Rejects(INFO.name), root):
        key = (row.pop("subject_id").strip(), row.pop("study_id").strip())
        try:
            out[key] = {name: parse_label(value, name) for name, value in row.items()}
        except ValueError as err:
            out[key] = {"_error": f"{path.name} line {line}: {err}"}
    return out


def _splits(base: Path, root: Path, rejects: Rejects) -> dict[str, str]:
    path = _find(base, TABLES["split"])
    if path is None:
        return {}
    rows = read_csv_rows(path, ["dicom_id", "split"], Rejects(INFO.name), root)
    return {row["dicom_id"].strip(): SPLITS.get(row["split"].strip(), None) for _, row in rows}


def _report_sections(path: Path) -> tuple[str | None, str | None]:
    """FINDINGS and IMPRESSION of a MIMIC-CXR report; either may be absent."""
    if not path.is_file():
        return None, None
    sections: dict[str, list[str]] = {}
    current = None
    for line in path.read_text(errors="replace").splitlines():
        header = _HEADER.match(line)
        if header:
            current = SECTION_ALIASES.get(" ".join(header.group(1).split()))
            if current and current not in sections:
                sections[current] = []
            line = header.group(2)
        if current:
            sections[current].append(line.strip())
    text = {k: " ".join(" ".join(v).split()) or None for k, v in sections.items()}
    return text.get("findings"), text.get("impression")
