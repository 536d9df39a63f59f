"""Tests for the raw chest X-ray sample generator.

The expectations `generate_cxr` returns are what the pipeline's conservation tests rely
on, so here they are checked against an independent, deliberately naive reader of the
written files. The quirk tests pin the official-layout details the readers must handle.
"""

from __future__ import annotations

import ast
import contextlib
import csv
import gzip
import hashlib
import io
import os
import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tests.conftest import tree_digests
from unimed_kedro.sampledata import cxr, generate_cxr
from unimed_kedro.sampledata.__main__ import main
from unimed_kedro.sampledata.cxr import MARKER

SOURCES = ("chexpert", "nih", "mimic", "openi")
MIN_SIDE = {"chexpert": 256, "nih": 512, "mimic": 512, "openi": 256}
CHEXPERT_VALUES = {"1.0", "0.0", "-1.0", ""}
IMAGE_SUFFIXES = {".jpg", ".png"}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two independent runs with the same seed (a generation takes seconds, so only two):
    the API into an empty folder, and the CLI with --force over a folder holding a stale
    file and an edited CSV, which --force must wipe."""
    first, second = tmp_path_factory.mktemp("run_a"), tmp_path_factory.mktemp("run_b")
    stale = second / "openi" / "ecgen-radiology" / "999.xml"
    stale.parent.mkdir(parents=True)
    stale.write_text("left by an older run")
    (second / "CheXpert-v1.0-small").mkdir()
    (second / "CheXpert-v1.0-small" / "train.csv").write_text("edited\n")
    for folder in ("openi", "CheXpert-v1.0-small"):  # generated earlier, so marked
        (second / folder / MARKER).write_text("older run\n")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(["--out", str(second), "--seed", "0", "--force"])
    return {
        "root": first,
        "expected": generate_cxr(first, seed=0),
        "root_b": second,
        "cli_status": status,
        "cli_lines": out.getvalue().splitlines(),
    }


def _read_csv(path: Path) -> list[list[str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def _open_image(path: Path) -> Image.Image | None:
    try:
        img = Image.open(path)
        img.load()
    except OSError:
        return None
    return img


def _gray(img: Image.Image) -> np.ndarray:
    """8-bit-scale pixels; 16-bit films are min-max windowed first."""
    if img.mode.startswith("I"):
        pixels = np.asarray(img, dtype=np.float64)
        return (pixels - pixels.min()) / max(np.ptp(pixels), 1.0) * 255.0
    return np.asarray(img.convert("L"), dtype=np.float64)


def _image_reason(path: Path, min_side: int) -> str | None:
    if not path.is_file():
        return "missing_file"
    img = _open_image(path)
    if img is None:
        return "corrupt_image"
    if min(img.size) < min_side:
        return "too_small"
    if _gray(img).std() < 5.0:
        return "low_contrast"
    return None


def _outside(raw: Path, base: Path, rel: str) -> bool:
    target = os.path.normpath(os.path.join(os.path.abspath(base), rel))
    return not target.startswith(os.path.abspath(raw) + os.sep)


# ---------------------------------------------------------------- independent readers
def _read_chexpert(raw: Path) -> tuple[int, Counter, set]:
    root = raw / "CheXpert-v1.0-small"
    records, rejects, patients, seen = 0, Counter(), set(), set()
    for name in ("train.csv", "valid.csv"):
        header, *rows = _read_csv(root / name)
        for row in rows:
            records += 1
            patients.update(re.findall(r"patient\d{5}", row[0]))
            if (
                len(row) != len(header)
                or not set(row[5:]) <= CHEXPERT_VALUES
                or not row[2].isdigit()
            ):
                rejects["bad_csv_row"] += 1
            elif _outside(raw, raw, row[0]):
                rejects["outside_raw_root"] += 1
            elif row[0] in seen:
                rejects["duplicate_record"] += 1
            else:
                seen.add(row[0])
                rejects[_image_reason(raw / row[0], MIN_SIDE["chexpert"])] += 1
    return records, rejects, patients


def _read_nih(raw: Path) -> tuple[int, Counter, set]:
    root = raw / "chest_xray8"
    images = {p.name: p for p in root.glob("images_*/images/*.png")}
    _, *rows = _read_csv(root / "Data_Entry_2017_v2020.csv")
    rejects, patients = Counter(), set()
    for row in rows:
        if len(row) != 11:
            rejects["bad_csv_row"] += 1
            continue
        patients.add(row[3])
        if "/" in row[0] or _outside(raw, root, row[0]):
            rejects["outside_raw_root"] += 1
        elif row[0] not in images:
            rejects["missing_file"] += 1
        else:
            rejects[_image_reason(images[row[0]], MIN_SIDE["nih"])] += 1
    return len(rows), rejects, patients


def _read_mimic(raw: Path) -> tuple[int, Counter, set]:
    root = raw / "mimic-cxr-jpg" / "2.0.0"
    _, *rows = _read_csv(root / "mimic-cxr-2.0.0-metadata.csv.gz")
    rejects, patients = Counter(), set()
    for dicom, subject, study, *_ in rows:
        patients.add(subject)
        path = root / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}" / f"{dicom}.jpg"
        rejects[_image_reason(path, MIN_SIDE["mimic"])] += 1
    return len(rows), rejects, patients


def _read_openi(raw: Path) -> tuple[int, Counter, set]:
    root = raw / "openi"
    records, rejects, patients = 0, Counter(), set()
    for xml in sorted((root / "ecgen-radiology").glob("*.xml")):
        try:
            tree = ET.parse(xml)
        except ET.ParseError:
            records += 1
            rejects["bad_xml"] += 1
            continue
        uid = tree.find("uId").get("id")
        patients.add(uid)
        ids = [node.get("id") for node in tree.iter("parentImage")]
        if not ids:
            records += 1
            rejects["no_images"] += 1
        for image in ids:
            records += 1
            if _outside(raw, root / "NLMCXR_png", image + ".png"):
                rejects["outside_raw_root"] += 1
            else:
                rejects[_image_reason(root / "NLMCXR_png" / f"{image}.png", MIN_SIDE["openi"])] += 1
    return records, rejects, patients


READERS = {"chexpert": _read_chexpert, "nih": _read_nih, "mimic": _read_mimic, "openi": _read_openi}


# ---------------------------------------------------------------- generic properties
def test_two_runs_are_byte_identical(generated: dict) -> None:
    first, second = tree_digests(generated["root"]), tree_digests(generated["root_b"])
    assert first == second  # also: --force removed the stale file and the edited CSV
    assert len(first) > 100


def test_cli_prints_one_line_per_source(generated: dict) -> None:
    assert generated["cli_status"] == 0
    lines = generated["cli_lines"]
    assert len(lines) == 5 and [line.split()[0] for line in lines[:4]] == list(SOURCES)
    for line, (key, exp) in zip(lines, generated["expected"].items()):
        assert f"{exp['records']} records, {exp['patients']} patients" in line, key
        assert f"expected rejects {sum(exp['rejects'].values())} " in line


def test_layouts_present(generated: dict) -> None:
    raw = generated["root"]
    assert sorted(p.name for p in raw.iterdir()) == sorted(cxr.SOURCE_DIRS.values())
    for rel in (
        "CheXpert-v1.0-small/train.csv",
        "CheXpert-v1.0-small/valid.csv",
        "CheXpert-v1.0-small/chexpert_with_captions_only_frontal_view.csv",
        "chest_xray8/Data_Entry_2017_v2020.csv",
        "chest_xray8/train_val_list.txt",
        "chest_xray8/test_list.txt",
        "mimic-cxr-jpg/2.0.0/mimic-cxr-2.0.0-metadata.csv.gz",
        "mimic-cxr-jpg/2.0.0/mimic-cxr-2.0.0-chexpert.csv.gz",
        "mimic-cxr-jpg/2.0.0/mimic-cxr-2.0.0-split.csv.gz",
    ):
        assert (raw / rel).is_file(), rel
    assert list((raw / "CheXpert-v1.0-small/train").glob("patient*/study*/view*_*.jpg"))
    assert list((raw / "CheXpert-v1.0-small/valid").glob("patient*/study*/view*_*.jpg"))
    assert list((raw / "mimic-cxr-jpg/2.0.0/files").glob("p1?/p1*/s5*/*.jpg"))
    assert list((raw / "mimic-cxr-jpg/2.0.0/files").glob("p1?/p1*/s5*.txt"))
    assert list((raw / "openi/ecgen-radiology").glob("*.xml"))
    assert list((raw / "openi/NLMCXR_png").glob("CXR*.png"))


@pytest.mark.parametrize("source", SOURCES)
def test_expectations_match_written_files(generated: dict, source: str) -> None:
    records, rejects, patients = READERS[source](generated["root"])
    rejects.pop(None, None)
    expected = generated["expected"][source]
    assert set(expected) == {"records", "rejects", "corrections", "patients"}
    assert expected["records"] == records
    assert expected["rejects"] == dict(rejects)
    assert expected["patients"] == len(patients)
    assert 24 <= records <= 40


def test_every_reason_code_occurs(generated: dict) -> None:
    seen = Counter()
    for exp in generated["expected"].values():
        seen.update(exp["rejects"])
    assert set(seen) == set(cxr.REASONS)


def test_expected_rejects_per_source(generated: dict) -> None:
    exp = generated["expected"]
    assert exp["chexpert"]["rejects"] == {
        "bad_csv_row": 2,
        "corrupt_image": 1,
        "duplicate_record": 1,
        "missing_file": 1,
        "outside_raw_root": 1,
        "too_small": 1,
    }
    assert exp["nih"]["rejects"] == {
        "bad_csv_row": 1,
        "corrupt_image": 1,
        "low_contrast": 1,
        "missing_file": 1,
        "outside_raw_root": 1,
    }
    assert exp["mimic"]["rejects"] == {"corrupt_image": 1, "missing_file": 1, "too_small": 1}
    assert exp["openi"]["rejects"] == {
        "bad_xml": 1,
        "corrupt_image": 1,
        "missing_file": 1,
        "no_images": 1,
        "outside_raw_root": 1,
    }


def _nih_age_typos(raw: Path) -> Counter:
    """Good NIH images (well-formed row, readable film) whose age cannot be right."""
    root = raw / "chest_xray8"
    images = {p.name: p for p in root.glob("images_*/images/*.png")}
    _, *rows = _read_csv(root / "Data_Entry_2017_v2020.csv")
    return Counter(
        "age_out_of_range"
        for row in rows
        if len(row) == 11
        and row[0] in images
        and not 0 <= int(row[4]) <= 130
        and _image_reason(images[row[0]], MIN_SIDE["nih"]) is None
    )


def _chexpert_age_placeholders(raw: Path) -> Counter:
    """Kept CheXpert rows whose Age is 0, CheXpert's mark for an unrecorded age."""
    root = raw / "CheXpert-v1.0-small"
    rows = _read_csv(root / "train.csv")[1:] + _read_csv(root / "valid.csv")[1:]
    return Counter("age_placeholder" for r in _good_chexpert_rows(raw, rows) if r[2] == "0")


def test_expected_corrections_per_source(generated: dict) -> None:
    exp = generated["expected"]
    assert {key: e["corrections"] for key, e in exp.items()} == {
        "chexpert": {"age_placeholder": 2},
        "nih": {"age_out_of_range": 1},
        "mimic": {},
        "openi": {},
    }
    assert exp["nih"]["corrections"] == dict(_nih_age_typos(generated["root"]))
    assert exp["chexpert"]["corrections"] == dict(_chexpert_age_placeholders(generated["root"]))


def test_films_are_distinct_and_have_contrast(generated: dict) -> None:
    raw = generated["root"]
    films = [p for p in sorted(raw.rglob("*")) if p.suffix in IMAGE_SUFFIXES]
    digests = [hashlib.sha256(p.read_bytes()).hexdigest() for p in films]
    assert len(set(digests)) == len(digests)
    flat = []
    for path in films:
        img = _open_image(path)
        if img is not None and _gray(img).std() < 20:
            flat.append(path.relative_to(raw).as_posix())
    assert flat == ["chest_xray8/images_002/images/00000006_003.png"]


def test_render_is_seeded_per_sample() -> None:
    one = cxr._render(cxr._rng(0, "nih", 0), (64, 80))
    two = cxr._render(cxr._rng(1, "nih", 0), (64, 80))
    assert one.shape == two.shape == (80, 64)
    assert not np.array_equal(one, two)
    assert np.array_equal(one, cxr._render(cxr._rng(0, "nih", 0), (64, 80)))


def test_synthetic_fallback_without_pydicom_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cxr, "_load_rg1", lambda: None)
    cxr._base_image.cache_clear()
    try:
        first = cxr._render(cxr._rng(0, "openi", 3), (512, 620))
        cxr._base_image.cache_clear()
        second = cxr._render(cxr._rng(0, "openi", 3), (512, 620))
    finally:
        cxr._base_image.cache_clear()
    assert np.array_equal(first, second)
    assert first.std() > 20


# ---------------------------------------------------------------- CheXpert
def _good_chexpert_rows(raw: Path, rows: list[list[str]]) -> list[list[str]]:
    """Rows the reader keeps: well formed, inside the raw root, first seen, good film."""
    good, seen = [], set()
    for row in rows:
        if (
            len(row) != 19
            or not set(row[5:]) <= CHEXPERT_VALUES
            or ".." in row[0]
            or row[0] in seen
        ):
            continue
        seen.add(row[0])
        if _image_reason(raw / row[0], MIN_SIDE["chexpert"]) is None:
            good.append(row)
    return good


def test_chexpert_quirks(generated: dict) -> None:
    root = generated["root"] / "CheXpert-v1.0-small"
    first_line = (root / "train.csv").read_text().splitlines()[0]
    assert first_line == ",".join(cxr.CHEXPERT_HEADER)
    assert first_line.startswith("Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding,")
    _, *train = _read_csv(root / "train.csv")
    _, *valid = _read_csv(root / "valid.csv")
    good = _good_chexpert_rows(generated["root"], train)
    assert len(good) == 23
    assert all(r[0].startswith("CheXpert-v1.0-small/train/patient") for r in good)
    assert {r[4] for r in good if r[3] == "Frontal"} == {"AP", "PA", "LL", "RL"}
    # as in the real file: LL and RL only on frontal films, whatever their view number
    decubitus = [r[0].rsplit("/", 1)[1] for r in good if r[4] in ("LL", "RL")]
    assert sorted(decubitus) == ["view1_frontal.jpg", "view1_frontal.jpg", "view2_frontal.jpg"]
    assert [r[2] for r in train].count("0") == 3  # Age 0 on 3 rows, as in the real file
    assert {r[4] for r in good + valid if r[3] == "Lateral"} == {""}
    assert any(r[0].endswith("view3_frontal.jpg") for r in good)
    assert [r[1] for r in good].count("Unknown") >= 1 and "0" in {r[2] for r in good}
    assert {v for r in good for v in r[5:]} == CHEXPERT_VALUES
    assert {r[5] for r in good} == {"1.0", ""}  # No Finding is only ever 1.0 or blank
    assert {v for r in valid for v in r[5:]} == {"0.0", "1.0"}
    assert all(r[0].startswith("CheXpert-v1.0-small/valid/") for r in valid)
    train_patients = {r[0].split("/")[2] for r in good}
    valid_patients = {r[0].split("/")[2] for r in valid}
    assert not train_patients & valid_patients
    studies = Counter(r[0].split("/")[2] for r in good if "view1" in r[0])
    assert max(studies.values()) >= 3
    paths = [r[0] for r in train]
    assert "CheXpert-v1.0-small/../../../etc/passwd" in paths
    assert len(paths) - len(set(paths)) == 1
    modes = Counter(Image.open(generated["root"] / r[0]).mode for r in good + valid)
    assert modes == {"L": len(good) + len(valid) - 1, "RGB": 1}
    frontal = Image.open(generated["root"] / good[0][0])
    assert frontal.format == "JPEG" and min(frontal.size) == 320
    assert 5_000 < (generated["root"] / good[0][0]).stat().st_size < 40_000


def test_chexpert_caption_csv(generated: dict) -> None:
    root = generated["root"] / "CheXpert-v1.0-small"
    header, *rows = _read_csv(root / "chexpert_with_captions_only_frontal_view.csv")
    assert header == ["filename", "labels", "captions"]
    train_paths = {r[0] for r in _read_csv(root / "train.csv")[1:]}
    assert 3 <= len(rows) < len(train_paths)
    for filenames, labels, captions in rows:
        files = ast.literal_eval(filenames)
        assert len(files) == 1 and files[0] in train_paths and "_frontal" in files[0]
        assert set(ast.literal_eval(labels)) <= set(cxr.CHEXPERT_LABELS)
        assert len(ast.literal_eval(captions)) == 3


# ---------------------------------------------------------------- NIH
def test_nih_quirks(generated: dict) -> None:
    root = generated["root"] / "chest_xray8"
    entry = root / "Data_Entry_2017_v2020.csv"
    assert entry.read_text().splitlines()[0] == cxr.NIH_HEADER
    frame = pd.read_csv(entry, on_bad_lines="skip", dtype=str)
    assert list(frame.columns)[-4:] == [
        "OriginalImage[Width",
        "Height]",
        "OriginalImagePixelSpacing[x",
        "y]",
    ]
    assert len(frame.columns) == 11
    good = frame[frame["Image Index"].str.fullmatch(r"\d{8}_\d{3}\.png")]
    labels = {x for cell in good["Finding Labels"] for x in cell.split("|")}
    assert "No Finding" in labels and labels - {"No Finding"} <= set(cxr.NIH_LABELS)
    assert good["Finding Labels"].str.contains("|", regex=False).any()
    assert set(frame["View Position"]) == {"PA", "AP"}
    for name, pid, follow in zip(good["Image Index"], good["Patient ID"], good["Follow-up #"]):
        assert name == f"{int(pid):08d}_{int(follow):03d}.png"
    assert {p.parent.parent.name for p in root.glob("images_*/images/*.png")} == {
        "images_001",
        "images_002",
    }
    names = [r[0] for r in _read_csv(entry)[1:]]
    train_val = (root / "train_val_list.txt").read_text().split()
    test = (root / "test_list.txt").read_text().split()
    assert sorted(train_val + test) == sorted(names) and not set(train_val) & set(test)
    test_patients = {n[:8] for n in test}
    assert test_patients and not test_patients & {n[:8] for n in train_val}
    modes = Counter()
    for path in root.glob("images_*/images/*.png"):
        img = _open_image(path)
        if img is not None:
            modes[img.mode] += 1
            assert img.size == (1024, 1024)
    assert modes["P"] == 1 and set(modes) == {"L", "P"}


# ---------------------------------------------------------------- MIMIC
def test_mimic_tables(generated: dict) -> None:
    root = generated["root"] / "mimic-cxr-jpg" / "2.0.0"
    for name in ("metadata", "chexpert", "split"):
        data = (root / f"mimic-cxr-2.0.0-{name}.csv.gz").read_bytes()
        assert data[:2] == b"\x1f\x8b" and data[4:8] == b"\0\0\0\0"  # gzip mtime 0
    header, *meta = _read_csv(root / "mimic-cxr-2.0.0-metadata.csv.gz")
    assert tuple(header) == cxr.MIMIC_METADATA_HEADER
    for dicom, subject, study, *_ in meta:
        assert re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{8}){4}", dicom)
        assert re.fullmatch(r"1\d{7}", subject) and re.fullmatch(r"5\d{7}", study)
    assert {r[4] for r in meta} == {"PA", "AP", "LATERAL", "LL", ""}
    assert all(re.fullmatch(r"2\d{7}", r[7]) and float(r[8]) >= 0 for r in meta)
    assert max(Counter(r[2] for r in meta).values()) >= 3
    studies = {(r[1], r[2]) for r in meta}
    label_header, *labels = _read_csv(root / "mimic-cxr-2.0.0-chexpert.csv.gz")
    assert label_header == ["subject_id", "study_id", *sorted(cxr.CHEXPERT_LABELS)]
    assert ",".join(label_header[2:]).startswith("Atelectasis,Cardiomegaly,Consolidation")
    labelled = [(r[0], r[1]) for r in labels]
    assert len(labelled) == len(set(labelled)) == len(studies) - 1
    assert set(labelled) < studies
    assert {v for r in labels for v in r[2:]} == CHEXPERT_VALUES
    split_header, *splits = _read_csv(root / "mimic-cxr-2.0.0-split.csv.gz")
    assert split_header == ["dicom_id", "study_id", "subject_id", "split"]
    assert sorted(r[0] for r in splits) == sorted(r[0] for r in meta)
    assert {r[3] for r in splits} == {"train", "validate", "test"}
    per_subject = {}
    for _, _, subject, split in splits:
        assert per_subject.setdefault(subject, split) == split


def test_mimic_reports(generated: dict) -> None:
    root = generated["root"] / "mimic-cxr-jpg" / "2.0.0"
    _, *meta = _read_csv(root / "mimic-cxr-2.0.0-metadata.csv.gz")
    studies = sorted({(r[1], r[2]) for r in meta})
    texts, missing = {}, []
    for subject, study in studies:
        path = root / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}.txt"
        if path.is_file():
            texts[study] = path.read_text()
        else:
            missing.append(study)
    assert len(missing) == 1
    for text in texts.values():
        lines = text.splitlines()
        assert lines[0].strip() == "FINAL REPORT" and lines[0].startswith(" ")
        assert all(line.startswith(" ") and len(line) <= 79 for line in lines)
        assert "EXAMINATION:" in text and "INDICATION:" in text and "___" in text
    bodies = list(texts.values())
    assert sum("FINDINGS:" not in t for t in bodies) >= 2
    assert sum(" IMPRESSON:" in t for t in bodies) == 1
    assert sum("FINDINGS AND IMPRESSION:" in t for t in bodies) == 1
    assert sum(" FINDINGS:" in t and " IMPRESSION:" in t for t in bodies) >= 5
    films = [_open_image(p) for p in root.glob("files/*/*/*/*.jpg")]
    short_sides = Counter(min(img.size) for img in films if img is not None)
    assert set(short_sides) == {96, 1024} and short_sides[96] == 1  # 96: the too_small one


# ---------------------------------------------------------------- OpenI
def test_openi_quirks(generated: dict) -> None:
    root = generated["root"] / "openi"
    images_per_report, empty, text = Counter(), Counter(), ""
    for xml in sorted((root / "ecgen-radiology").glob("*.xml")):
        try:
            tree = ET.parse(xml)
        except ET.ParseError:
            continue
        number = xml.stem
        assert tree.getroot().tag == "eCitation"
        assert tree.find("uId").get("id") == f"CXR{number}"
        assert tree.find("IUXRId").get("id") == number
        sections = tree.findall("MedlineCitation/Article/Abstract/AbstractText")
        assert [s.get("Label") for s in sections] == [
            "COMPARISON",
            "INDICATION",
            "FINDINGS",
            "IMPRESSION",
        ]
        empty.update(s.get("Label") for s in sections if not (s.text or "").strip())
        text += " ".join(s.text or "" for s in sections)
        assert tree.findall("MeSH/major")
        parents = tree.findall("parentImage")
        images_per_report[len(parents)] += 1
        for node in parents:
            assert node.findtext("figureId").startswith("F")
            assert node.findtext("caption") == "Xray Chest PA and Lateral"
            assert (
                node.findtext("panel/url")
                == f"/hadoop/storage/radiology/extract/{node.get('id')}.jpg"
            )
    assert {0, 1, 2, 3} <= set(images_per_report)
    assert {"FINDINGS", "COMPARISON"} <= set(empty) and "XXXX" in text
    names = sorted(p.name for p in (root / "NLMCXR_png").iterdir())
    assert all(re.fullmatch(r"CXR\d+(_\d+)?_IM-\d{4}-\d{4}\.png", n) for n in names)
    assert any(re.fullmatch(r"CXR\d+_\d+_IM-.*", n) for n in names)
    assert any(re.fullmatch(r"CXR\d+_IM-.*", n) for n in names)
    modes = Counter()
    for name in names:
        img = _open_image(root / "NLMCXR_png" / name)
        if img is not None:
            modes[img.mode] += 1
            if img.mode.startswith("I"):
                pixels = np.asarray(img)
                assert 300 <= pixels.min() < 600 and 3500 < pixels.max() <= 3800
    assert modes["L"] > 10 and sum(v for k, v in modes.items() if k.startswith("I")) == 1


def test_openi_mesh_shapes(generated: dict) -> None:
    """The MeSH shapes of the real reports that the labels must read as the source means
    them: `No Indexing` (with and without automatic terms), plural automatic terms, and a
    normal report whose FINDINGS and IMPRESSION are both empty (a label caption)."""
    reports = {}
    for xml in sorted((generated["root"] / "openi" / "ecgen-radiology").glob("*.xml")):
        with contextlib.suppress(ET.ParseError):
            reports[xml.stem] = ET.parse(xml)
    with_images = {n: t for n, t in reports.items() if t.findall("parentImage")}
    not_indexed = [t for t in with_images.values() if t.findtext("MeSH/major") == "No Indexing"]
    assert len(not_indexed) == 2 and sum(bool(t.findall("MeSH/automatic")) for t in not_indexed)
    automatic = {a.text for t in with_images.values() for a in t.iter("automatic")}
    assert {"atelectases", "infiltrates", "pleural effusions"} <= automatic
    findings = {
        n: t.findtext(".//AbstractText[@Label='FINDINGS']") or "" for n, t in with_images.items()
    }
    negated = [n for n, text in findings.items() if "No pleural effusions" in text]
    assert len(negated) == 1 and with_images[negated[0]].findtext("MeSH/automatic") == (
        "pleural effusions"
    )
    bare = [
        t
        for t in with_images.values()
        if not any(
            (s.text or "").strip()
            for s in t.iter("AbstractText")
            if s.get("Label") in ("FINDINGS", "IMPRESSION")
        )
    ]
    assert [t.findtext("MeSH/major") for t in bare] == ["normal"]


# ---------------------------------------------------------------- CLI
def test_cli_without_force_deletes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = []

    def fake(out_root: Path, *, seed: int) -> dict:
        calls.append((out_root, seed))
        return {key: {"records": 1, "rejects": {}, "patients": 1} for key in SOURCES}

    monkeypatch.setattr("unimed_kedro.sampledata.__main__.generate_cxr", fake)
    stale = tmp_path / "chest_xray8" / "old.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"x")
    (stale.parent / MARKER).write_text("older run\n")
    assert main(["--out", str(tmp_path), "--seed", "3"]) == 0
    assert calls == [(tmp_path, 3)] and stale.exists()
    assert len(capsys.readouterr().out.splitlines()) == 5


def test_cli_refuses_folders_holding_real_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real = tmp_path / "CheXpert-v1.0-small" / "train.csv"
    real.parent.mkdir(parents=True)
    real.write_text("Path,Sex\n")
    assert main(["--out", str(tmp_path), "--force"]) == 2
    assert real.read_text() == "Path,Sex\n" and len(list(tmp_path.rglob("*"))) == 2
    assert "CheXpert-v1.0-small" in capsys.readouterr().err


def test_gzip_bytes_do_not_depend_on_clock(tmp_path: Path) -> None:
    rows = [["a", "1"], ["b", "2"]]
    cxr._write_csv(tmp_path / "x.csv.gz", ("k", "v"), rows, gz=True)
    first = (tmp_path / "x.csv.gz").read_bytes()
    os.utime(tmp_path / "x.csv.gz", (0, 0))
    cxr._write_csv(tmp_path / "x.csv.gz", ("k", "v"), rows, gz=True)
    assert (tmp_path / "x.csv.gz").read_bytes() == first
    assert gzip.decompress(first).decode() == "k,v\na,1\nb,2\n"
    assert pd.read_csv(io.BytesIO(first), compression="gzip").shape == (2, 2)
