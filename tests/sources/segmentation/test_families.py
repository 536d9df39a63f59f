"""The segmentation family readers on folders in the official layouts, with their quirks
(files are placeholders: ingest lists records, the normalize workers read volumes)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from unimed_kedro.sources.base import LayoutError
from unimed_kedro.sources.segmentation.msd import MSD
from unimed_kedro.sources.segmentation.nnunet import NnUNet
from unimed_kedro.sources.segmentation.pairs import Pairs, template_regex
from unimed_kedro.sources.segmentation.totalsegmentator import TotalSegmentator

VOCABULARY = {"modalities": {"CT": "CT", "MRI": "MRI", "T2": "MRI", "ADC": "MRI", "T1": "MRI"}}


def touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"volume")


def msd_folder(root: Path, meta_extra: dict | None = None) -> Path:
    meta = {
        "name": "Spleen",
        "relase": "1.0 06/08/2018",  # the real typo
        "tensorImageSize": "3D",
        "modality": {"0": "CT"},
        "labels": {"0": "background", "1": "spleen"},
        "training": [
            {"image": "./imagesTr/spleen_1.nii.gz", "label": "./labelsTr/spleen_1.nii.gz"},
            {"image": "./imagesTr/spleen_2.nii.gz", "label": "./labelsTr/spleen_2.nii.gz"},
            {"image": "./imagesTr/spleen_3.nii.gz", "label": "./labelsTr/spleen_3.nii.gz"},
            {"image": "./imagesTr/spleen_4.nii.gz", "label": "../../../etc/passwd"},
        ],
        "test": ["./imagesTs/spleen_9.nii.gz"],
        **(meta_extra or {}),
    }
    touch(root, "imagesTr/spleen_1.nii.gz", "labelsTr/spleen_1.nii.gz")
    touch(root, "imagesTr/spleen_2.nii.gz", "imagesTr/spleen_4.nii.gz", "imagesTs/spleen_9.nii.gz")
    touch(root, "imagesTr/._spleen_1.nii.gz", "labelsTr/._spleen_1.nii.gz")  # AppleDouble
    (root / "dataset.json").write_text(json.dumps(meta))
    return root


def read(reader_class, root: Path, **options):
    options.setdefault("dataset", "Test")
    return reader_class(root, VOCABULARY, name="test", options=options).read()


def reasons(rejects: pd.DataFrame) -> dict:
    return rejects["reason"].value_counts().to_dict()


def test_msd_reads_the_real_dataset_json_quirks(tmp_path: Path) -> None:
    tables = read(MSD, msd_folder(tmp_path), labels={1: "spleen"})
    manifest = tables.manifest
    assert manifest["sample_id"].tolist() == ["test-spleen_1"]
    row = manifest.iloc[0]
    assert row["raw_relpath"] == "imagesTr/spleen_1.nii.gz"  # `./` dropped
    assert row["mask_relpath"] == "labelsTr/spleen_1.nii.gz"
    assert list(row["declared_keys"]) == ["1"] and list(row["declared_names"]) == ["spleen"]
    assert row["modality"] == "CT" and row["official_split"] == "train"
    assert row["patient_id"] == "test:spleen_1"
    # missing mask, missing image, a mask path leaving the folder, a test image without mask
    assert reasons(tables.rejects) == {
        "missing_mask": 1,
        "missing_image": 1,
        "outside_raw_root": 1,
        "no_mask": 1,
    }
    assert set(tables.rejects["sample_id"]) == {f"test-spleen_{i}" for i in (2, 3, 4, 9)}


def test_msd_four_d_images_give_a_sample_per_channel(tmp_path: Path) -> None:
    root = msd_folder(
        tmp_path,
        {
            "tensorImageSize": "4D",
            "modality": {"0": "T2", "1": "ADC"},
            "labels": {"0": "background", "1": "TZ", "2": "PZ"},
        },
    )
    tables = read(MSD, root)
    manifest = tables.manifest
    assert manifest["sample_id"].tolist() == ["test-spleen_1_adc", "test-spleen_1_t2"]
    assert manifest["channel"].tolist() == ["ADC", "T2"]
    assert manifest["channel_index"].tolist() == [1.0, 0.0]
    assert manifest["patient_id"].nunique() == 1
    assert list(manifest.iloc[0]["declared_names"]) == ["TZ", "PZ"]
    # every channel of a rejected case is a rejected record
    assert reasons(tables.rejects)["no_mask"] == 2


def test_msd_without_a_training_list_is_a_layout_error(tmp_path: Path) -> None:
    (tmp_path / "dataset.json").write_text(json.dumps({"name": "x"}))
    with pytest.raises(LayoutError, match="training"):
        read(MSD, tmp_path)


def test_an_unknown_modality_names_what_to_do(tmp_path: Path) -> None:
    root = msd_folder(tmp_path, {"modality": {"0": "Ultrasound"}})
    with pytest.raises(LayoutError, match="vocabulary.modalities"):
        read(MSD, root)


def test_nnunet_channels_labels_and_test_images(tmp_path: Path) -> None:
    meta = {
        "channel_names": {"0": "T1", "1": "T2"},
        "labels": {"background": 0, "gray matter": 1, "white matter": 2, "brain": [1, 2]},
        "numTraining": 2,
        "file_ending": ".nii.gz",
    }
    (tmp_path / "dataset.json").write_text(json.dumps(meta))
    touch(tmp_path, "imagesTr/brain_001_0000.nii.gz", "imagesTr/brain_001_0001.nii.gz")
    touch(tmp_path, "labelsTr/brain_001.nii.gz", "imagesTr/brain_002_0000.nii.gz")
    touch(tmp_path, "imagesTr/._brain_001_0000.nii.gz", "imagesTr/badname.nii.gz")
    touch(tmp_path, "imagesTs/brain_009_0000.nii.gz")
    tables = read(NnUNet, tmp_path)
    manifest = tables.manifest
    assert manifest["sample_id"].tolist() == ["test-brain_001_t1", "test-brain_001_t2"]
    assert list(manifest.iloc[0]["declared_names"]) == ["gray matter", "white matter"]
    assert list(manifest.iloc[0]["declared_keys"]) == ["1", "2"]  # the region is no label
    assert reasons(tables.rejects) == {"missing_mask": 1, "malformed_name": 1, "no_mask": 1}


def test_totalsegmentator_meta_csv_with_bom_and_splits(tmp_path: Path) -> None:
    for case in ("s0001", "s0002", "s0003", "s0004"):
        touch(tmp_path, f"{case}/ct.nii.gz", f"{case}/segmentations/spleen.nii.gz")
    touch(tmp_path, "s0005/segmentations/spleen.nii.gz")  # no ct.nii.gz
    meta = "image_id;age;gender;institute;study_type;split\ns0001;50;m;A;ct;train\n"
    meta += "s0002;60;f;B;ct;val\ns0003;70;m;C;ct;test\ns0005;1;m;A;ct;train\n"
    (tmp_path / "meta.csv").write_bytes("\ufeff".encode() + meta.encode())
    structures = {"spleen": "spleen", "kidney_left": "left kidney"}
    tables = read(TotalSegmentator, tmp_path, structures=structures, patient_group="ts")
    manifest = tables.manifest.set_index("sample_id")
    splits = {k: None if pd.isna(v) else v for k, v in manifest["official_split"].items()}
    assert splits == {
        "test-s0001": "train",
        "test-s0002": "train",  # TotalSegmentator's val is training data
        "test-s0003": "test",
        "test-s0004": None,  # not in meta.csv
    }
    assert manifest.loc["test-s0001", "mask_relpath"] == "s0001/segmentations"
    assert list(manifest.loc["test-s0001", "declared_keys"]) == [
        "spleen.nii.gz",
        "kidney_left.nii.gz",
    ]
    assert manifest.loc["test-s0001", "patient_id"] == "ts:s0001"
    assert reasons(tables.rejects) == {"missing_image": 1}


def test_pairs_templates_find_images_and_their_masks(tmp_path: Path) -> None:
    touch(tmp_path, "TrainingData_Part1/Case00.mhd", "TrainingData_Part1/Case00_segmentation.mhd")
    touch(tmp_path, "TrainingData_Part2/Case01.mhd", "TestData/Case30.mhd")
    tables = read(
        Pairs,
        tmp_path,
        image="TrainingData_Part{part:\\d+}/Case{case:\\d+}.mhd",
        mask="TrainingData_Part{part}/Case{case}_segmentation.mhd",
        patient="{case}",
        labels={1: "prostate"},
        modality="MRI",
    )
    assert tables.manifest["sample_id"].tolist() == ["test-1_00"]
    assert tables.manifest.iloc[0]["patient_id"] == "test:00"
    assert tables.manifest.iloc[0]["mask_relpath"] == "TrainingData_Part1/Case00_segmentation.mhd"
    assert reasons(tables.rejects) == {"missing_mask": 1}  # Case01; TestData is not matched


def test_template_regex_reuses_a_field() -> None:
    pattern = template_regex("{a}/x_{a}.nii.gz")
    assert pattern.fullmatch("p1/x_p1.nii.gz") and not pattern.fullmatch("p1/x_p2.nii.gz")
