"""ROCOv2 sample in its Zenodo layout: `ROCOV2/{train,valid,test}/ROCOv2_2023_<split>_NNNNNN.jpg`,
`{split}_captions.csv` (`ID,Caption`, IDs without extension), `{split}_concepts.csv` and
`train_concepts_manual.csv` (`ID,CUIs`, `;`-separated UMLS CUIs) and `cui_mapping.csv`
(`CUI,Canonical name`).

Pixels: crops of pydicom-data's CT, MR and ultrasound images and of the NEMA chest film
(`sampledata.unimed.pmc_oa.figure`); three files are byte-identical to PMC-OA and LLaVA-Med
ones (`shared_with`), one of them a valid image (evaluation data: every copy is held out).
Quirks: captions holding commas, quotes and a line break; a header with spaces around the
column names (valid); a CUI the mapping does not name. Bad records: an empty caption
(`no_caption`), an ID whose image is not in `train/` (`missing_file`), a row with a third
field (`bad_csv_row`). valid and test are evaluation data (`held_out`).
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import numpy as np

from unimed_kedro.sampledata.unimed.pmc_oa import (
    SHARED,
    caption,
    figure,
    marker,
    put,
    shared_image,
    stream,
)
from unimed_kedro.sources.registry import entry

NAME = "rocov2"
# (kind or shared key, concept CUIs, manual CUIs) per image, by split; the number is the
# position + 1
_TRAIN = (
    ("ct", "C0024109;C0006826", "C0040405;C0817096"),
    ("xray", "C0032326", "C1306645;C0817096"),
    ("mr", "C0022646", "C0024485;C0000726"),
    ("s1", "C0018670;C9999999", "C0040405;C0018670"),  # C9999999: not in cui_mapping.csv
    ("us", "C0022646", "C0041618;C0000726"),
    ("ct", "C0023884;C0006826", "C0040405;C0000726"),
    ("xray", "C0024109", "C1306645;C0817096"),
    ("mr", "", "C0024485"),
    ("s3", "C0022646;C0006826", "C0024485;C0000726"),
    ("ct", "C0022646", "C0040405;C0000726"),
    ("xray", "C0032326;C0024109", "C1306645;C0817096"),
    ("us", "", "C0041618"),
)
_VALID = (("ct", "C0018670"), ("s2", "C0022646"), ("xray", "C0032326"), ("us", "C0022646"))
_TEST = (("mr", "C0023884"), ("ct", "C0006826"), ("xray", "C0024109"))
_MAPPING = (
    ("C0040405", "X-Ray Computed Tomography"),
    ("C0024485", "Magnetic Resonance Imaging"),
    ("C0041618", "Ultrasonography"),
    ("C1306645", "Plain x-ray"),
    ("C0817096", "Chest"),
    ("C0018670", "Head"),
    ("C0000726", "Abdomen"),
    ("C0024109", "Lung"),
    ("C0006826", "Malignant Neoplasms"),
    ("C0032326", "Pneumothorax"),
    ("C0022646", "Kidney"),
    ("C0023884", "Liver"),
)
_QUOTED = 'Contrast-enhanced CT, axial view: a "target" sign in the right lower quadrant, with\nfree fluid.'


def _id(split: str, number: int) -> str:
    return f"ROCOv2_2023_{split}_{number:06d}"


def write(root: Path, rng: np.random.Generator) -> dict:
    """Write `ROCOV2/` under `root` (the raw_root); the expectations of reading it, keyed by
    source name: records (caption rows), rejects by reason, held out (valid and test
    records), exported, and `shared_with` (sample id -> its file, split and the sample ids
    of its byte-identical copies in the other sources)."""
    rng = stream(rng, NAME)
    folder = root / entry(NAME).folder
    rejects: Counter[str] = Counter()
    rows = _train(folder, rng, rejects)
    _csv(folder / "train_captions.csv", "ID,Caption", rows)
    concepts = [[_id("train", n), c] for n, (_, c, _) in enumerate(_TRAIN, 1)]
    manual = [[_id("train", n), m] for n, (_, _, m) in enumerate(_TRAIN, 1)]
    _csv(folder / "train_concepts.csv", "ID,CUIs", concepts)
    _csv(folder / "train_concepts_manual.csv", "ID,CUIs", manual)
    held_out = 0
    for split, plan, header in (("valid", _VALID, "ID, Caption"), ("test", _TEST, "ID,Caption")):
        rows = []
        for number, (kind, _) in enumerate(plan, 1):
            put(folder / split / f"{_id(split, number)}.jpg", _image(kind, rng))
            rows.append([_id(split, number), caption(SHARED.get(kind, kind), rng)])
        _csv(folder / f"{split}_captions.csv", header, rows)
        cuis = [[_id(split, n), c] for n, (_, c) in enumerate(plan, 1)]
        _csv(folder / f"{split}_concepts.csv", "ID,CUIs", cuis)
        held_out += len(plan)
    _csv(folder / "cui_mapping.csv", "CUI,Canonical name", [list(m) for m in _MAPPING])
    marker(folder)
    records = len(_TRAIN) + 1 + len(_VALID) + len(_TEST)  # + the bad row
    return {NAME: _expectations(records, rejects, held_out)}


def _image(kind: str, rng: np.random.Generator) -> bytes:
    return shared_image(kind) if kind in SHARED else figure(kind, rng)


def _train(folder: Path, rng: np.random.Generator, rejects: Counter[str]) -> list[list[str]]:
    """The train images and caption rows, bad ones included (counted in `rejects`)."""
    rows = []
    for number, (kind, _, _) in enumerate(_TRAIN, 1):
        image_id = _id("train", number)
        text = caption(SHARED.get(kind, kind), rng)
        if number == 6:
            text = _QUOTED
        elif number == 8:
            text, reason = "  ", "no_caption"
            rejects[reason] += 1
        if number == 12:  # listed, never unpacked
            rejects["missing_file"] += 1
        else:
            put(folder / "train" / f"{image_id}.jpg", _image(kind, rng))
        rows.append([image_id, text])
    rows.insert(5, [_id("train", 13), "Axial CT of the abdomen", "extra field"])
    rejects["bad_csv_row"] += 1
    return rows


def _csv(path: Path, header: str, rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    buffer.write(header + "\n")
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    put(path, buffer.getvalue().encode("utf-8"))


def _expectations(records: int, rejects: Counter[str], held_out: int) -> dict:
    shared = (
        (_id("train", 4), "train", ["pmc_oa-pmc2386234_fig2_1", "llava_med_alignment-15862911_f2"]),
        (_id("train", 9), "train", ["llava_med_instruct-24940083_f2-imcrj-7-093"]),
        (_id("valid", 2), "val", ["pmc_oa-pmc2386234_fig5_1"]),
    )
    return {
        "records": records,
        "rejects": dict(sorted(rejects.items())),
        "held_out": held_out,
        "exported": records - sum(rejects.values()) - held_out,
        "shared_with": {
            f"{NAME}-{image_id.lower()}": {
                "file": f"{image_id.split('_')[2]}/{image_id}.jpg",
                "split": split,
                "copies": copies,
            }
            for image_id, split, copies in shared
        },
    }
