"""Tests for the SAT-DS sample generator (`unimed_kedro.sampledata.satds`).

The expectations `generate_satds` returns are what the satds pipeline's conservation tests
rely on, so they are checked here against deliberately naive readers of the written
files; the quirk tests pin the official-layout details the readers must handle, and the
phantom tests check that masks sit exactly on their organs in every stored orientation.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
from collections import Counter
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
import yaml
from nibabel.processing import resample_to_output
from scipy import ndimage

import unimed_kedro
from tests.conftest import tree_digests
from unimed_kedro.sampledata import generate_satds
from unimed_kedro.sampledata.__main__ import main
from unimed_kedro.sampledata.cxr import MARKER
from unimed_kedro.sampledata.satds import (
    FOLDERS,
    REASONS,
    TRUNK_STRUCTURES,
    TS_GROUPS,
    TS_MISSING_STRUCTURE,
    TS_STRUCTURES,
)

# The structures the brief (and SAT-DS's TotalSegmentator splits) need as files.
REQUIRED_TS = [
    "spleen",
    "kidney_right",
    "kidney_left",
    "gallbladder",
    "liver",
    "stomach",
    "pancreas",
    "adrenal_gland_right",
    "adrenal_gland_left",
    "lung_upper_lobe_left",
    "lung_lower_lobe_left",
    "lung_upper_lobe_right",
    "lung_middle_lobe_right",
    "lung_lower_lobe_right",
    "esophagus",
    "trachea",
    "small_bowel",
    "duodenum",
    "colon",
    "urinary_bladder",
    "atrial_appendage_left",
    "brachiocephalic_trunk",
    "brachiocephalic_vein_left",
    "brachiocephalic_vein_right",
    "common_carotid_artery_left",
    "common_carotid_artery_right",
    "costal_cartilages",
    "heart",
    "kidney_cyst_left",
    "kidney_cyst_right",
    "prostate",
    "pulmonary_vein",
    "skull",
    "spinal_cord",
    "sternum",
    "subclavian_artery_left",
    "subclavian_artery_right",
    "superior_vena_cava",
    "thyroid_gland",
    "vertebrae_S1",
]
TS_HEADER = [
    "image_id",
    "age",
    "gender",
    "institute",
    "study_type",
    "split",
    "manufacturer",
    "scanner_model",
    "kvp",
    "pathology",
    "pathology_location",
]
ORGAN_HU = {
    "spleen": 100,
    "liver": 60,
    "kidney_left": 185,
    "heart": 45,
    "vertebrae_L3": 715,
    "aorta": 160,
    "rib_left_6": 605,
}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two independent runs with the same seed: the API into an empty folder, and the CLI
    with --force over a marked folder holding a stale file, which --force must wipe."""
    first, second = tmp_path_factory.mktemp("satds_a"), tmp_path_factory.mktemp("satds_b")
    stale = second / "satds" / "Task09_Spleen" / "imagesTr" / "spleen_99.nii.gz"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"older run")
    (second / "satds" / "Task09_Spleen" / MARKER).write_text("older run\n")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(["--out", str(second), "--collection", "satds", "--force"])
    return {
        "root": first / "satds",
        "expected": generate_satds(first, seed=0),
        "root_b": second / "satds",
        "cli_status": status,
        "cli_lines": out.getvalue().splitlines(),
    }


def _canonical(path: Path) -> tuple[np.ndarray, np.ndarray]:
    img = nib.as_closest_canonical(nib.load(path))
    return np.asanyarray(img.dataobj), img.affine


def _volumes(root: Path) -> list[Path]:
    return sorted(
        p for p in root.rglob("*") if p.name.endswith((".nii.gz", ".mhd")) and p.name[0] != "."
    )


# ---------------------------------------------------------------- determinism, size, CLI
def test_two_runs_are_byte_identical(generated: dict) -> None:
    tree = tree_digests(generated["root"])
    assert tree == tree_digests(generated["root_b"])  # the stale spleen_99 is gone too
    assert len(tree) > 300


def test_another_seed_changes_the_phantoms_only(generated: dict, tmp_path: Path) -> None:
    generate_satds(tmp_path, seed=1)
    a, b = tree_digests(generated["root"]), tree_digests(tmp_path / "satds")
    changed = {k.split("/")[0] for k in a if a[k] != b.get(k)}
    # the brain is the real template (no seed in it); notes/ is text
    assert changed == set(FOLDERS) - {"Dataset201_BrainTissue", "notes"}


def test_sizes_are_small(generated: dict) -> None:
    files = [p for p in generated["root"].rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 15_000_000
    assert max(p.stat().st_size for p in files) < 1_000_000
    for path in _volumes(generated["root"]):
        if path.suffix == ".mhd":
            shape = sitk.ReadImage(str(path)).GetSize()
        else:
            shape = nib.load(path).shape[:3]
        limit = 70 if "BrainTissue" in path.as_posix() else 48
        assert all(8 <= n <= limit for n in shape), (path, shape)


def test_every_folder_is_marked_and_expectations_cover_them(generated: dict) -> None:
    assert sorted(p.name for p in generated["root"].iterdir()) == sorted(FOLDERS)
    assert all((generated["root"] / name / MARKER).is_file() for name in FOLDERS)
    expected = generated["expected"]
    assert list(expected) == list(FOLDERS)
    for exp in expected.values():
        assert set(exp["rejects"]) <= set(REASONS)
        exported = exp["records"] - sum(exp["rejects"].values())
        assert sum(exp["official_split"].values()) == exported
    assert [k for k, e in expected.items() if e["skipped"]] == ["notes"]


def test_cli_prints_one_line_per_folder(generated: dict) -> None:
    assert generated["cli_status"] == 0
    lines = generated["cli_lines"]
    assert len(lines) == len(FOLDERS) + 1 and lines[-1].startswith("done in")
    for line, (key, exp) in zip(lines, generated["expected"].items()):
        assert line.split()[0] == key
        assert f"{exp['records']} records, {exp['patients']} patients" in line
        assert f"expected rejects {sum(exp['rejects'].values())} " in line


def test_cli_refuses_a_satds_folder_holding_real_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real = tmp_path / "satds" / "Totalsegmentator_dataset_v201" / "meta.csv"
    real.parent.mkdir(parents=True)
    real.write_text("image_id;split\n")
    assert main(["--out", str(tmp_path), "--collection", "satds", "--force"]) == 2
    assert real.read_text() == "image_id;split\n" and len(list(tmp_path.rglob("*"))) == 3
    assert "Totalsegmentator_dataset_v201" in capsys.readouterr().err


def test_cli_force_deletes_the_chosen_collection_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = []

    def fake(name: str, keys: tuple[str, ...]):
        def generate(out: Path, *, seed: int) -> dict:
            calls.append((name, out, seed))
            return {k: {"records": 1, "rejects": {}, "patients": 1} for k in keys}

        return generate

    monkeypatch.setattr("unimed_kedro.sampledata.__main__.generate_satds", fake("satds", FOLDERS))
    cxr = tmp_path / "chest_xray8" / "old.png"  # a generated cxr folder
    spleen = tmp_path / "satds" / "Task09_Spleen" / "old.nii.gz"  # a generated satds one
    other = tmp_path / "satds" / "Dataset003_Liver" / "dataset.json"  # the user's own
    for path in (cxr, spleen, other):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"x")
    for path in (cxr, spleen):
        (path.parent / MARKER).write_text("older run\n")
    assert main(["--out", str(tmp_path), "--collection", "satds", "--force", "--seed", "2"]) == 0
    assert calls == [("satds", tmp_path, 2)]
    assert cxr.exists() and other.exists() and not spleen.parent.exists()
    assert len(capsys.readouterr().out.splitlines()) == len(FOLDERS) + 1
    monkeypatch.setattr("unimed_kedro.sampledata.__main__.generate_cxr", fake("cxr", ("nih",)))
    unimed = fake("unimed", ("rocov2",))
    monkeypatch.setattr("unimed_kedro.sampledata.__main__.generate_unimed", unimed)
    assert main(["--out", str(tmp_path), "--collection", "all"]) == 0
    assert [c[0] for c in calls[1:]] == ["cxr", "satds", "unimed"] and cxr.exists()
    assert len(capsys.readouterr().out.splitlines()) == 1 + len(FOLDERS) + 1 + 1


# ---------------------------------------------------------------- MSD
def _msd_outcomes(folder: Path) -> tuple[Counter[str], int]:
    """A naive reader of an MSD task: (rejects by reason, records)."""
    meta = json.loads((folder / "dataset.json").read_text())
    declared = {int(v) for v in meta["labels"]}
    rejects: Counter[str] = Counter()
    for entry in meta["training"]:
        image, label = folder / entry["image"], folder / entry["label"]
        if not image.is_file():
            rejects["missing_image"] += 1
            continue
        if not label.is_file():
            rejects["missing_mask"] += 1
            continue
        try:
            data = nib.load(image).get_fdata()
        except Exception:
            rejects["unreadable_image"] += 1
            continue
        mask = np.asarray(nib.load(label).dataobj)
        if mask.shape != data.shape[:3]:
            rejects["shape_mismatch"] += 1
        elif set(np.unique(mask).tolist()) - declared:
            rejects["undeclared_mask_value"] += 1
    rejects["no_mask"] += len(meta["test"])
    channels = len(meta["modality"])
    return +rejects, (len(meta["training"]) + len(meta["test"])) * channels


def test_msd_spleen_quirks(generated: dict) -> None:
    folder = generated["root"] / "Task09_Spleen"
    meta = json.loads((folder / "dataset.json").read_text())
    assert "relase" in meta and "release" not in meta and "licence" in meta
    assert meta["tensorImageSize"] == "3D" and meta["modality"] == {"0": "CT"}
    assert meta["labels"] == {"0": "background", "1": "spleen"}
    assert meta["numTraining"] == len(meta["training"]) and meta["numTest"] == len(meta["test"])
    assert all(isinstance(t, str) and t.startswith("./imagesTs/") for t in meta["test"])
    assert all(e["image"].startswith("./imagesTr/") for e in meta["training"])
    junk = sorted(folder.rglob("._*"))
    assert len(junk) == len([p for p in folder.rglob("*.nii.gz") if p.name[0] != "."])
    for path in junk:
        assert (path.parent / path.name[2:]).is_file()
        with pytest.raises(Exception):  # noqa: B017 - whatever nibabel raises
            nib.load(path).get_fdata()


@pytest.mark.parametrize("task", ["Task09_Spleen", "Task05_Prostate"])
def test_msd_expectations_match_a_naive_reader(generated: dict, task: str) -> None:
    rejects, records = _msd_outcomes(generated["root"] / task)
    exp = generated["expected"][task]
    assert dict(rejects) == exp["rejects"] and records == exp["records"]
    meta = json.loads((generated["root"] / task / "dataset.json").read_text())
    assert exp["patients"] == len(meta["training"]) + len(meta["test"])


def test_scaled_ct_reads_as_hounsfield_units(generated: dict) -> None:
    img = nib.load(generated["root"] / "Task09_Spleen" / "imagesTr" / "spleen_3.nii.gz")
    assert img.get_data_dtype() == np.uint16 and img.dataobj.inter == -1024
    assert -1024 <= img.get_fdata().min() < -990  # air, not 0..1024


def test_truncated_image_has_a_whole_header_but_no_whole_data(generated: dict) -> None:
    """Cut off halfway, like an interrupted download. nibabel reads the header and
    raises on the data; SimpleITK 2.5 reads it without a word, zeros in the missing
    half, so a reader must not trust it for this check."""
    path = generated["root"] / "Task09_Spleen" / "imagesTr" / "spleen_10.nii.gz"
    with pytest.raises(EOFError):
        gzip.decompress(path.read_bytes())
    img = nib.load(path)
    assert len(img.shape) == 3
    with pytest.raises(EOFError):
        img.get_fdata()


def test_ct_volumes_are_stored_non_ras_and_anisotropic(generated: dict) -> None:
    codes = set()
    for path in _volumes(generated["root"]):
        if path.suffix == ".mhd" or "BrainTissue" in path.as_posix():
            continue  # MetaImage (LPS-based by nature), the brain (one case is RAS)
        img = nib.load(path)  # the truncated image too: its header is whole
        codes.add("".join(nib.aff2axcodes(img.affine)))
        assert "".join(nib.aff2axcodes(img.affine)) != "RAS", path
        zooms = img.header.get_zooms()[:3]
        assert len({round(float(z), 3) for z in zooms}) == 3, path
    assert len(codes) >= 5


def _eroded_mean(image: np.ndarray, mask: np.ndarray) -> float:
    core = ndimage.binary_erosion(mask)
    return float(image[core if core.any() else mask].mean())


def test_spleen_masks_sit_on_the_spleen_after_resampling(generated: dict) -> None:
    folder = generated["root"] / "Task09_Spleen"
    for number in (1, 2, 3, 5, 6):
        name = f"spleen_{number}.nii.gz"
        image = resample_to_output(nib.load(folder / "imagesTr" / name), (1, 1, 3), order=1)
        mask = resample_to_output(nib.load(folder / "labelsTr" / name), (1, 1, 3), order=0)
        assert np.allclose(image.affine, mask.affine) and image.shape == mask.shape
        spleen = np.asarray(mask.dataobj) == 1
        assert abs(_eroded_mean(image.get_fdata(), spleen) - 100) < 10, name


def test_prostate_is_four_d_with_both_zones(generated: dict) -> None:
    folder = generated["root"] / "Task05_Prostate"
    meta = json.loads((folder / "dataset.json").read_text())
    assert meta["tensorImageSize"] == "4D" and meta["modality"] == {"0": "T2", "1": "ADC"}
    assert meta["labels"] == {"0": "background", "1": "TZ", "2": "PZ"} and meta["test"] == []
    for entry in meta["training"]:
        image = nib.load(folder / entry["image"])
        labels = np.asarray(nib.load(folder / entry["label"]).dataobj)
        assert image.ndim == 4 and image.shape[3] == 2 and image.shape[:3] == labels.shape
        assert np.allclose(image.affine, nib.load(folder / entry["label"]).affine)
        assert set(np.unique(labels).tolist()) == {0, 1, 2}
        data = image.get_fdata()
        t2 = data[..., 0]  # the peripheral zone is bright on T2
        assert t2[labels == 2].mean() > t2[labels == 1].mean() + 100


# ---------------------------------------------------------------- TotalSegmentator
def test_totalsegmentator_layout_and_meta(generated: dict) -> None:
    folder = generated["root"] / "Totalsegmentator_dataset_v201"
    raw = (folder / "meta.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == TS_HEADER and all(len(r) == len(TS_HEADER) for r in rows)
    splits = {r[0]: r[5] for r in rows[1:]}
    assert set(splits.values()) == {"train", "val", "test"}
    cases = sorted(p.name for p in folder.iterdir() if p.is_dir())
    assert cases == [f"s000{k}" for k in range(1, 7)]
    assert [c for c in cases if c not in splits] == ["s0006"]
    assert not (folder / "s0005" / "ct.nii.gz").exists()
    assert set(REQUIRED_TS) <= set(TS_STRUCTURES) and TS_MISSING_STRUCTURE in REQUIRED_TS
    for case in cases:
        files = {
            p.name.removesuffix(".nii.gz") for p in (folder / case / "segmentations").iterdir()
        }
        missing = {TS_MISSING_STRUCTURE} if case == "s0004" else set()
        assert files == set(TS_STRUCTURES) - missing, case
    exp = generated["expected"]["Totalsegmentator_dataset_v201"]
    assert exp["rejects"] == {"missing_image": 1, "missing_label_file": 1}
    assert exp["official_split"] == {"train": 2, "test": 1, "unknown": 1}
    assert exp["records"] == exp["patients"] == len(cases)


def test_totalsegmentator_masks_match_the_ct(generated: dict) -> None:
    folder = generated["root"] / "Totalsegmentator_dataset_v201"
    nonempty: Counter[str] = Counter()
    found: set[str] = set()
    cases = ("s0001", "s0002", "s0003", "s0004", "s0006")
    for case in cases:
        ct = nib.load(folder / case / "ct.nii.gz")
        hu = np.asarray(ct.dataobj)
        assert hu.dtype == np.int16 and hu.min() >= -1024 and (hu < -950).mean() > 0.1
        seen = np.zeros(hu.shape, bool)
        for structure in TS_STRUCTURES:
            if case == "s0004" and structure == TS_MISSING_STRUCTURE:
                continue
            img = nib.load(folder / case / "segmentations" / f"{structure}.nii.gz")
            mask = np.asarray(img.dataobj)
            assert mask.dtype == np.uint8 and img.shape == ct.shape
            assert np.allclose(img.affine, ct.affine) and set(np.unique(mask)) <= {0, 1}
            assert not (seen & (mask == 1)).any(), (case, structure)  # no overlap
            seen |= mask == 1
            if mask.any():
                nonempty[structure] += 1
                found.add(f"{case}/{structure}")
            if structure in ORGAN_HU:
                assert abs(hu[mask == 1].mean() - ORGAN_HU[structure]) < 10, (case, structure)
        assert sum(1 for s in TS_STRUCTURES if nonempty[s]) >= 12
    assert set(nonempty) <= set(TRUNK_STRUCTURES)
    for group, names in TS_GROUPS.items():  # no dataset cut from it has an empty case
        assert all(any(f"{case}/{n}" in found for n in names) for case in cases), group


def test_totalsegmentator_groups_match_the_registry(generated: dict) -> None:
    """The sample writes every structure file the registry's TotalSegmentator entries
    read, one group per entry."""
    registry = Path(unimed_kedro.__file__).parent / "sources" / "segmentation" / "registry.yml"
    if not registry.is_file():
        pytest.skip("no segmentation registry")
    entries = yaml.safe_load(registry.read_text())
    groups = {
        tuple(sorted(e["structures"]))
        for e in entries.values()
        if isinstance(e, dict) and e.get("folder") == "satds/Totalsegmentator_dataset_v201"
    }
    assert groups == set(TS_GROUPS.values())
    assert len(TS_STRUCTURES) == len(set(TS_STRUCTURES)) == 117


# ---------------------------------------------------------------- nnU-Net v2 brain
def test_brain_is_one_real_anatomy_in_three_orientations(generated: dict) -> None:
    folder = generated["root"] / "Dataset201_BrainTissue"
    meta = json.loads((folder / "dataset.json").read_text())
    assert meta["channel_names"] == {"0": "T1"} and meta["file_ending"] == ".nii.gz"
    assert meta["labels"] == {"background": 0, "gray matter": 1, "white matter": 2}
    cases = sorted(p.name.removesuffix(".nii.gz") for p in (folder / "labelsTr").iterdir())
    assert len(cases) == meta["numTraining"] == 3
    images = [folder / "imagesTr" / f"{c}_0000.nii.gz" for c in cases]
    codes = {"".join(nib.aff2axcodes(nib.load(p).affine)) for p in images}
    assert len(codes) == 3 and "RAS" in codes
    reference_t1, reference_affine = _canonical(images[0])
    reference_labels, _ = _canonical(folder / "labelsTr" / f"{cases[0]}.nii.gz")
    for case, image in zip(cases[1:], images[1:]):
        t1, affine = _canonical(image)
        labels, _ = _canonical(folder / "labelsTr" / f"{case}.nii.gz")
        assert np.array_equal(t1, reference_t1) and np.allclose(affine, reference_affine)
        assert np.array_equal(labels, reference_labels)
    assert set(np.unique(reference_labels).tolist()) == {0, 1, 2}
    white = reference_t1[reference_labels == 2].mean()
    grey = reference_t1[reference_labels == 1].mean()
    assert white > grey > reference_t1[reference_labels == 0].mean()  # T1 contrast
    assert np.allclose(np.abs(np.diag(reference_affine))[:3], 3.0)


# ---------------------------------------------------------------- pairs
def test_abdomenct1k_pairs(generated: dict) -> None:
    folder = generated["root"] / "AbdomenCT-1K"
    images = sorted((folder / "Images").iterdir())
    masks = {p.name for p in (folder / "Masks").iterdir()}
    assert [p.name for p in images] == [f"Case_0000{k}_0000.nii.gz" for k in range(1, 5)]
    without = [p.name for p in images if p.name.replace("_0000.nii", ".nii") not in masks]
    assert without == ["Case_00003_0000.nii.gz"]
    for name in masks:
        mask = nib.load(folder / "Masks" / name)
        image = nib.load(folder / "Images" / name.replace(".nii", "_0000.nii"))
        assert mask.shape == image.shape and np.allclose(mask.affine, image.affine)
        values = np.asarray(mask.dataobj)
        assert set(np.unique(values).tolist()) == {0, 1, 2, 3, 4}
        hu = np.asarray(image.dataobj)
        assert abs(_eroded_mean(hu, values == 3) - 100) < 10  # spleen
    exp = generated["expected"]["AbdomenCT-1K"]
    assert exp["rejects"] == {"missing_mask": 1} and exp["records"] == len(images)


def test_promise12_metaimage_pairs(generated: dict) -> None:
    folder = generated["root"] / "PROMISE12"
    images = sorted(
        p for p in folder.glob("TrainingData_Part*/Case*.mhd") if "segmentation" not in p.name
    )
    exp = generated["expected"]["PROMISE12"]
    assert len(images) == exp["records"] == 3 and exp["official_split"] == {"train": 3}
    assert {p.parent.name for p in images} == {"TrainingData_Part1", "TrainingData_Part2"}
    for path in images:
        image = sitk.ReadImage(str(path))
        seg = sitk.ReadImage(str(path.with_name(path.stem + "_segmentation.mhd")))
        assert image.GetSize() == seg.GetSize() and image.GetOrigin() == seg.GetOrigin()
        assert image.GetDirection() == seg.GetDirection()
        assert image.GetPixelID() == sitk.sitkInt16 and seg.GetPixelID() == sitk.sitkUInt8
        labels = sitk.GetArrayFromImage(seg)
        assert set(np.unique(labels).tolist()) == {0, 1}
        t2 = sitk.GetArrayFromImage(image)
        assert t2[labels == 1].mean() > t2[labels == 0].mean()
        assert "ElementDataFile = " + path.stem + ".raw" in path.read_text()
    assert sorted(p.name for p in (folder / "TestData").iterdir()) == ["Case30.mhd", "Case30.raw"]


def test_notes_is_a_folder_without_a_dataset(generated: dict) -> None:
    folder = generated["root"] / "notes"
    assert sorted(p.name for p in folder.iterdir()) == sorted([MARKER, "README.txt"])
    assert generated["expected"]["notes"] == {
        "records": 0,
        "rejects": {},
        "patients": 0,
        "official_split": {},
        "skipped": True,
    }
