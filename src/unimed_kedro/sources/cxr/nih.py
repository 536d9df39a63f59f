"""NIH ChestX-ray14 in `chest_xray8/`, as the NIH box share and Kaggle distribute it.

`Data_Entry_2017_v2020.csv` (or the original `Data_Entry_2017.csv`, whose lines end with a
comma) lists one image per row; `Finding Labels` are `|`-joined, `No Finding` otherwise.
Images sit flat in `images/` or in Kaggle's `images_0NN/images/`. The v2020 file renamed
`Patient Gender` to `Patient Sex`; the first release wrote ages as `058Y`. The official
patient-disjoint split is `train_val_list.txt` / `test_list.txt`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from unimed_kedro.schema import make_sample_id
from unimed_kedro.sources.base import LayoutError, Source, SourceInfo
from unimed_kedro.sources.cxr.values import (
    harmonise,
    kept_age,
    normalise_sex,
    normalise_view,
    parse_age,
)
from unimed_kedro.sources.paths import SourceFolder, Where
from unimed_kedro.sources.tables import read_csv_rows

INFO = SourceInfo(
    name="nih",
    title="NIH ChestX-ray14",
    license="NIH Clinical Center: unrestricted use with citation (CC0 1.0 on Kaggle)",
    redistributable=True,
    citation="Wang X. et al. ChestX-ray8: Hospital-scale Chest X-ray Database and Benchmarks "
    "on Weakly-Supervised Classification and Localization of Common Thorax Diseases. "
    "CVPR 2017.",
    patient_note="patient = Patient ID; each follow-up is a study",
)
DATA_ENTRY = [
    "Data_Entry_2017_v2020.csv",
    "Data_Entry_2017.csv",
    "Data_Entry_2017_v2020.csv.gz",
    "Data_Entry_2017.csv.gz",
]
REQUIRED = [
    "Image Index",
    "Finding Labels",
    "Follow-up #",
    "Patient ID",
    "Patient Age",
    "View Position",
]
SEX_COLUMNS = ["Patient Sex", "Patient Gender"]
SPLIT_LISTS = {"train_val_list.txt": "train", "test_list.txt": "test"}


class NIH(Source):
    info = INFO

    def layout(self) -> Path:
        entry = next((self.root / n for n in DATA_ENTRY if (self.root / n).is_file()), None)
        if entry is None:
            raise LayoutError(
                f"{self.root}: expected one of {DATA_ENTRY} (NIH ChestX-ray14 layout)"
            )
        return entry

    def records(self, layout: Path) -> Iterator[dict]:
        images = _image_index(self.folder)
        splits = _official_splits(self.root)
        for line, row in read_csv_rows(layout, REQUIRED, self.rejects, self.root):
            record = _record(self.folder, layout.name, line, row, self.vocabulary, images, splits)
            if record is not None:
                yield record


def _record(
    folder: SourceFolder,
    file: str,
    line: int,
    row: dict,
    vocab: Mapping,
    images: dict[str, str],
    splits: dict[str, str],
) -> dict | None:
    name = row["Image Index"].strip()
    # a name with a folder is no image of the flat index: no sample, and an id of the rule
    # would hide which path it was
    sample_id = make_sample_id(INFO.name, os.path.splitext(name)[0]) if "/" not in name else None
    where: Where = {"file": file, "row": line, "sample_id": sample_id}
    if folder.inside(name, **where) is None:
        return None
    mapping = vocab["labels"]["sources"][INFO.name]
    try:
        findings = _findings(row["Finding Labels"], mapping)
        patient = int(row["Patient ID"])
        followup = int(row["Follow-up #"])
        age = parse_age(row["Patient Age"], "Patient Age")
    except ValueError as err:
        folder.rejects.add("bad_csv_row", str(err), **where)
        return None
    if name not in images:
        folder.rejects.add(
            "missing_file", f"image {name!r} not found in images/ or images_0NN/images/", **where
        )
        return None
    sex = next((row[c] for c in SEX_COLUMNS if c in row), None)
    return {
        "sample_id": sample_id,
        "source": INFO.name,
        "patient_id": f"nih:{patient:08d}",
        "study_id": f"{patient:08d}_{followup:03d}",
        "raw_relpath": images[name],
        "view": normalise_view(row["View Position"], vocab["views"]),
        "sex": normalise_sex(sex),
        "age": kept_age(age, folder.rejects, where),
        "official_split": splits.get(name),
        "license": INFO.license,
        "report_findings": None,
        "report_impression": None,
        **harmonise({n: float(n in findings) for n in mapping}, mapping),
        "_file": file,
        "_row": line,
        "_raw_id": name,
    }


def _findings(cell: str, mapping: dict) -> set[str]:
    names = {part.strip() for part in cell.split("|") if part.strip()}
    unknown = sorted(names - set(mapping))
    if unknown or not names:
        raise ValueError(
            f"column 'Finding Labels': expected '|'-joined names from "
            f"{sorted(mapping)}, got {cell!r}"
        )
    return names


def _image_index(folder: SourceFolder) -> dict[str, str]:
    """File name -> path relative to the source folder, over `images/`,
    `images_0NN/images/` and `images_0NN/` (a Kaggle copy unpacked without the inner
    folder). A file reached through a link leading outside is left out: a row naming it
    is an `outside_raw_root` reject (`folder.inside`), not a `missing_file`."""
    root = folder.root
    folders = (
        [root / "images"]
        + sorted(root.glob("images_*/images"))
        + sorted(p for p in root.glob("images_*") if p.is_dir())
    )
    return folder.index_files(folders, ".png")


def _official_splits(root: Path) -> dict[str, str]:
    splits: dict[str, str] = {}
    for name, split in SPLIT_LISTS.items():
        path = root / name
        if path.is_file():  # a name with bytes that are not UTF-8 matches no image
            for line in path.read_text(encoding="utf-8", errors="surrogateescape").splitlines():
                if line.strip():
                    splits[line.strip()] = split
    return splits
