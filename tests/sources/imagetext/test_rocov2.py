from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tests.sources.helpers import write_jpeg
from unimed_kedro.sources.base import LayoutError
from unimed_kedro.sources.imagetext.rocov2 import ROCOv2


def _id(split: str, number: int) -> str:
    return f"ROCOv2_2023_{split}_{number:06d}"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _read(root: Path):
    return ROCOv2(root, {}, name="rocov2").read()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "ROCOV2"
    for number in (1, 2, 3, 5):
        write_jpeg(root / "train" / f"{_id('train', number)}.jpg", seed=number)
    write_jpeg(root / "valid" / f"{_id('valid', 1)}.jpg", seed=10)
    write_jpeg(root / "test" / f"{_id('test', 1)}.jpg", seed=11)
    _write(
        root / "train_captions.csv",
        "ID,Caption\n"
        f'{_id("train", 1)},"CT chest, axial: a ""ground-glass"" opacity\nin the right lobe."\n'
        f"{_id('train', 2)},Plain radiograph of the knee.\n"
        f"{_id('train', 3)},   \n"  # empty caption
        f"{_id('train', 4)},Ultrasound of the liver.\n"  # no image
        f"{_id('train', 5)},MRI of the brain,extra\n"  # a third field
        f"{_id('train', 5)}.jpg,Second caption of the same image.\n",
    )
    _write(root / "valid_captions.csv", f"ID , Caption \n{_id('valid', 1)},Valid caption.\n")
    _write(root / "test_captions.csv", f" ID,Caption\n{_id('test', 1)},Test caption.\n")
    _write(
        root / "train_concepts.csv",
        f"ID,CUIs\n{_id('train', 1)},C0040405;C0817096;C9999999\n{_id('train', 2)},C1306645\n",
    )
    _write(root / "train_concepts_manual.csv", f"ID,CUIs\n{_id('train', 1)},C0040405;C0024109\n")
    _write(
        root / "cui_mapping.csv",
        "CUI,Canonical name\nC0040405,X-Ray Computed Tomography\nC0817096,Chest\n"
        "C1306645,Plain x-ray\nC0024109,Lung\n",
    )
    return root


def test_records(root):
    manifest, _, _ = _read(root)
    assert list(manifest["sample_id"]) == [
        "rocov2-rocov2_2023_test_000001",
        "rocov2-rocov2_2023_train_000001",
        "rocov2-rocov2_2023_train_000002",
        "rocov2-rocov2_2023_train_000005",
        "rocov2-rocov2_2023_valid_000001",
    ]
    first = manifest.set_index("sample_id").loc["rocov2-rocov2_2023_train_000001"]
    assert first.raw_relpath == "train/ROCOv2_2023_train_000001.jpg"
    # the quoted comma, quotes and line break read whole (the break cleaned to a space)
    assert first.source_captions == ['CT chest, axial: a "ground-glass" opacity in the right lobe.']
    # concepts then manual concepts, named by cui_mapping.csv; the unnamed CUI left out
    assert first.findings == ["X-Ray Computed Tomography", "Chest", "Lung"]
    assert first.modality == "radiology" and first.official_split == "train"
    assert list(manifest["official_split"]) == ["test", "train", "train", "train", "val"]


def test_spaced_headers_and_a_repeated_id(root):
    manifest = _read(root).manifest
    by_id = manifest.set_index("sample_id")
    assert by_id.loc["rocov2-rocov2_2023_valid_000001"].source_captions == ["Valid caption."]
    assert by_id.loc["rocov2-rocov2_2023_test_000001"].source_captions == ["Test caption."]
    # the row with a third field is rejected; the `.jpg` row names the same image
    assert by_id.loc["rocov2-rocov2_2023_train_000005"].source_captions == [
        "Second caption of the same image."
    ]


def test_rejects(root):
    _, rejects, corrections = _read(root)
    assert sorted(zip(rejects["reason"], rejects["file"], rejects["row"])) == [
        ("bad_csv_row", "train_captions.csv", 7),
        ("missing_file", "train_captions.csv", 6),
        ("no_caption", "train_captions.csv", 5),
    ]
    assert corrections.empty


def test_split_without_its_image_folder(root):
    for path in (root / "valid").iterdir():
        path.unlink()
    (root / "valid").rmdir()
    manifest, rejects, _ = _read(root)
    assert "rocov2-rocov2_2023_valid_000001" not in set(manifest["sample_id"])
    missing = rejects[rejects.file == "valid_captions.csv"]
    assert list(missing["reason"]) == ["missing_file"] and "valid/" in missing.iloc[0].detail


def test_images_unpacked_into_a_folder_named_after_the_zip(root):
    (root / "test").rename(root / "test_images")
    (root / "test_images").mkdir(exist_ok=True)
    inner = root / "test_images" / "test"
    inner.mkdir()
    (root / "test_images" / f"{_id('test', 1)}.jpg").rename(inner / f"{_id('test', 1)}.jpg")
    manifest, _, _ = _read(root)
    assert "test_images/test/ROCOv2_2023_test_000001.jpg" in set(manifest["raw_relpath"])


def test_bad_concepts_row_is_a_correction(root):
    path = root / "train_concepts.csv"
    path.write_text(path.read_text() + f"{_id('train', 5)},C0024109,extra\n")
    manifest, rejects, corrections = _read(root)
    assert len(manifest) == 5 and len(rejects) == 3
    assert list(zip(corrections["reason"], corrections["file"], corrections["row"])) == [
        ("table_row_ignored", "train_concepts.csv", 4)
    ]


def test_layout_errors(tmp_path):
    (tmp_path / "train").mkdir()
    write_jpeg(tmp_path / "train" / "x.jpg")
    with pytest.raises(LayoutError, match="train_captions.csv"):
        _read(tmp_path)
    _write(tmp_path / "train_captions.csv", "ID,Text\nx,y\n")
    with pytest.raises(LayoutError, match=r"train_captions.csv.*missing columns \['Caption'\]"):
        _read(tmp_path)


def test_sample_data_reads_as_expected(tmp_path):
    from unimed_kedro.sampledata.unimed import rocov2

    expected = rocov2.write(tmp_path, np.random.default_rng(3))["rocov2"]
    manifest, rejects, _ = _read(tmp_path / "ROCOV2")
    assert len(manifest) + len(rejects) == expected["records"]
    assert dict(Counter(rejects["reason"])) == expected["rejects"]
    held_out = manifest["official_split"].isin(["val", "test"]).sum()
    assert held_out == expected["held_out"]
    assert len(manifest) - held_out == expected["exported"]
    assert set(expected["shared_with"]) <= set(manifest["sample_id"])
