"""CheXpert-v1.0-small as Stanford (and Kaggle) distribute it.

Layout: `train.csv`, `valid.csv`, `train/patientNNNNN/studyN/viewK_{frontal,lateral}.jpg`.
`Path` cells carry the dataset folder as a prefix (`CheXpert-v1.0-small/train/...`), which
Kaggle copies rename, so the first component is dropped whatever it is called. Labels are
1.0 / 0.0 / -1.0 (uncertain) / blank (not annotated). `Frontal/Lateral` says which film a
row is; `AP/PA` only names a frontal film's projection. Age 0 stands for an unrecorded age.
UniMed's caption CSV, when present, adds its pre-generated captions to the frontal rows it
lists.
"""

from __future__ import annotations

import ast
import functools
import logging
import operator
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from unimed_kedro.schema import make_sample_id
from unimed_kedro.sources.base import LayoutError, Source, SourceInfo
from unimed_kedro.sources.cxr.values import (
    harmonise,
    kept_age,
    normalise_sex,
    normalise_view,
    parse_age,
    parse_label,
)
from unimed_kedro.sources.paths import SourceFolder, Where
from unimed_kedro.sources.tables import Memo, csv_records, read_csv_rows

log = logging.getLogger(__name__)

INFO = SourceInfo(
    name="chexpert",
    title="CheXpert-v1.0-small",
    license="Stanford University School of Medicine CheXpert Dataset Research Use Agreement",
    redistributable=False,
    citation="Irvin J. et al. CheXpert: A Large Chest Radiograph Dataset with Uncertainty "
    "Labels and Expert Comparison. AAAI 2019.",
    patient_note="patient = the patientNNNNN folder",
)
SPLIT_FILES = {"train.csv": "train", "valid.csv": "val"}
META_COLUMNS = ["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA"]
LABEL_COLUMNS = [
    "No Finding",
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
]
UNIMED_CAPTIONS = "chexpert_with_captions_only_frontal_view.csv"
_LABEL_CELLS = operator.itemgetter(*LABEL_COLUMNS)  # a row's label cells as one tuple
_PATH_RE = re.compile(r"^(train|valid)/(patient\d+)/(study\d+)/(view\d+_(frontal|lateral))\.jpg$")
# The normalised views that fit each `Frontal/Lateral` value.
_FITTING_VIEWS = {"FRONTAL": frozenset({"AP", "PA"}), "LATERAL": frozenset({"LATERAL", "LL", "RL"})}
# CheXpert writes Age 0 when it recorded none (3 of the real train.csv's 223,414 rows).
PLACEHOLDER_AGE = 0.0


@dataclass
class _Reader:
    """Per-read state of the row loop: the folder checks and the per-value caches (a
    CheXpert column repeats a handful of values, and the 14 label cells of a row often
    repeat another row's), built once so each row only looks them up."""

    folder: SourceFolder
    labels: Memo  # tuple of the 14 label cells -> harmonised label columns
    views: Memo  # (Frontal/Lateral, AP/PA) cells -> normalised view
    sexes: Memo
    ages: Memo  # Age cell -> `Age`; raises ValueError (uncached) on a non-numeric one

    @classmethod
    def create(cls, folder: SourceFolder, vocab: Mapping) -> _Reader:
        mapping = vocab["labels"]["sources"][INFO.name]
        return cls(
            folder,
            Memo(functools.partial(_labels, mapping=mapping)),
            Memo(functools.partial(_view, views=vocab["views"])),
            Memo(normalise_sex),
            Memo(functools.partial(parse_age, column="Age", placeholder=PLACEHOLDER_AGE)),
        )


class CheXpert(Source):
    info = INFO

    def layout(self) -> list[str]:
        present = [name for name in SPLIT_FILES if (self.root / name).is_file()]
        if not present:
            raise LayoutError(f"{self.root}: expected train.csv and/or valid.csv (CheXpert layout)")
        return present

    def records(self, layout: list[str]) -> Iterator[dict]:
        captions = _unimed_captions(self.root / UNIMED_CAPTIONS)
        reader = _Reader.create(self.folder, self.vocabulary)
        for name in layout:
            rows = read_csv_rows(
                self.root / name, META_COLUMNS + LABEL_COLUMNS, self.rejects, self.root
            )
            for line, row in rows:
                record = _record(reader, name, line, row)
                if record is not None:
                    record["source_captions"] = captions.get(record["raw_relpath"])
                    yield record


def _relpath(cell: str) -> str:
    """`Path` cell without its dataset-folder prefix (string ops: one call per row)."""
    text = cell.strip()
    head, _, tail = text.partition("/")
    return tail if head not in ("train", "valid", "") else text


def _labels(cells: tuple[str, ...], mapping: dict[str, str]) -> dict[str, float]:
    """A row's label cells (in LABEL_COLUMNS order) as harmonised label columns; every cell
    is parsed, mapped or not, so a bad value in any column rejects the row."""
    return harmonise({c: parse_label(v, c) for c, v in zip(LABEL_COLUMNS, cells)}, mapping)


def _view(cells: Sequence[str], views: Mapping[str, str]) -> str:
    """The view of a row from its (`Frontal/Lateral`, `AP/PA`) cells. `AP/PA` is kept only
    when it fits the film `Frontal/Lateral` names. The real train.csv has `LL` (16 rows)
    and `RL` (1) on `Frontal` rows whose files are `view*_frontal.jpg`: most likely
    lateral decubitus films (the patient lying on one side), which are frontal
    projections, with AP or PA not recorded; so they are FRONTAL, never a lateral view."""
    side, projection = (normalise_view(cell, views) for cell in cells)
    fitting = _FITTING_VIEWS.get(side)
    if fitting is None:  # no usable Frontal/Lateral cell: the AP/PA cell, when written
        return projection if projection != "UNKNOWN" else side
    return projection if projection in fitting else side


def _record(reader: _Reader, file: str, line: int, row: dict) -> dict | None:
    rel = _relpath(row["Path"])
    match = _PATH_RE.match(rel)
    sample_id = make_sample_id(INFO.name, *match.groups()[1:4]) if match else None
    where: Where = {"file": file, "row": line, "sample_id": sample_id}
    path = reader.folder.inside(rel, **where)
    if path is None:
        return None
    try:
        if match is None:
            raise ValueError(
                f"column 'Path': expected <split>/patientN/studyN/viewN_<frontal|"
                f"lateral>.jpg, got {row['Path']!r}"
            )
        labels = reader.labels[_LABEL_CELLS(row)]
        age = reader.ages[row["Age"]]
    except ValueError as err:
        reader.folder.rejects.add("bad_csv_row", str(err), **where)
        return None
    if not reader.folder.exists(path, **where):
        return None
    _, patient, study, _, _ = match.groups()
    return {
        "sample_id": sample_id,
        "source": INFO.name,
        "patient_id": f"chexpert:{patient}",
        "study_id": f"{patient}_{study}",
        "raw_relpath": rel,
        "view": reader.views[row["Frontal/Lateral"], row["AP/PA"]],
        "sex": reader.sexes[row["Sex"]],
        "age": kept_age(age, reader.folder.rejects, where),
        "official_split": SPLIT_FILES[file],
        "license": INFO.license,
        "report_findings": None,
        "report_impression": None,
        **labels,
        "_file": file,
        "_row": line,
        "_raw_id": rel,
    }


def _unimed_captions(path: Path) -> dict[str, list[str]]:
    """UniMed's `chexpert_with_captions_only_frontal_view.csv`: column 0 a Python-literal
    list of image paths, column 2 a list of captions. A bad line (a CSV error, bytes that
    are not UTF-8, no such lists) is logged and skipped: it is an annotation, not a raw
    image record."""
    if not path.is_file():
        return {}
    out: dict[str, list[str]] = {}
    records = csv_records(path)
    next(records, None)
    for line, fields, problem in records:
        try:
            if problem:
                raise ValueError(problem)
            files, captions = ast.literal_eval(fields[0]), ast.literal_eval(fields[2])
            out[_relpath(files[0])] = [str(c).strip() for c in captions if str(c).strip()]
        except (ValueError, SyntaxError, IndexError, TypeError, MemoryError, RecursionError):
            log.warning(
                "%s line %d: expected ['<path>'] and ['<caption>', ...]; skipped", path, line
            )
    return out
