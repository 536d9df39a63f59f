from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tests.sources.helpers import write_png
from unimed_kedro.sampledata.unimed import radimagenet as sample
from unimed_kedro.sources.base import LayoutError
from unimed_kedro.sources.imagetext.radimagenet import RadImageNet

LUNG = "radiology_ai/CT/lung/normal/lung-normal000001.png"
LUNG2 = "radiology_ai/CT/lung/normal/lung-normal000002.png"
KNEE = "radiology_ai/MR/knee/meniscal_tear/knee-meniscal_tear000001.png"
THYROID = "radiology_ai/US/thyroid_nodule/thyroid_nodule000001.png"
ABD = "radiology_ai/CT/abd/normal/abd-normal000001.png"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _read(root: Path):
    return RadImageNet(root, {}, name="radimagenet").read()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "radimagenet"
    for seed, rel in enumerate((LUNG, LUNG2, KNEE, THYROID, ABD)):
        write_png(root / rel, seed=seed)
    _write(
        root / "RadiologyAI_train.csv",
        "filename,label\n"
        f"{LUNG},CT-lung-normal\n"
        f"{KNEE.removeprefix('radiology_ai/')},MR-knee-meniscal_tear\n"  # no prefix
        f"{THYROID},US-thyroid_nodule\n"  # also in test: kept as test
        "radiology_ai/CT/lung/normal/lung-normal000009.png,CT-lung-normal\n"  # missing
        "../Quilt/quilt_1M_lookup.csv,CT-lung-normal\n"  # outside
        "radiology_ai/CT/lung-normal000001.png,CT-lung-normal\n"  # no class folders
        f"{ABD},CT-abd-normal,extra\n"  # a third field
        f"{ABD},CT-abd-normal\n",
    )
    _write(root / "RadiologyAI_val.csv", f"filename,label\n{LUNG2},CT-lung-normal\n")
    _write(root / "RadiologyAI_test.csv", f"filename,label\n{THYROID},US-thyroid_nodule\n")
    _write(
        root / "radiology_ai" / "radimagenet_with_captions_training_set.csv",
        "files,labels,captions\n"
        f"\"['{LUNG}']\",\"['CT-lung-normal']\",\"['A normal lung CT.', 'Clear lungs.']\"\n"
        f"\"['{KNEE}']\",\"['MR-knee-meniscal_tear']\",\"['A torn meniscus on MR.']\"\n"
        "\"['radiology_ai/CT/lung/normal/lung-normal000500.png']\",\"['x']\",\"['Unlisted.']\"\n"
        "\"['radiology_ai/CT/lung/normal/lung-normal000001.png'\",\"['x']\",\"['y']\"\n"
        "\"__import__('os').system('touch pwned')\",\"['x']\",\"['y']\"\n",
    )
    return root


def test_records(root):
    manifest, _, _ = _read(root)
    by_id = manifest.set_index("sample_id")
    assert list(manifest["sample_id"]) == [
        "radimagenet-ct_abd_normal_abd-normal000001",
        "radimagenet-ct_lung_normal_lung-normal000001",
        "radimagenet-ct_lung_normal_lung-normal000002",
        "radimagenet-mr_knee_meniscal_tear_knee-meniscal_tear000001",
        "radimagenet-us_thyroid_nodule_thyroid_nodule000001",
    ]
    lung = by_id.loc["radimagenet-ct_lung_normal_lung-normal000001"]
    assert lung.raw_relpath == LUNG and lung.modality == "CT" and lung.official_split == "train"
    assert list(lung.findings) == ["lung", "normal"] and lung.dataset is None
    assert list(by_id.loc["radimagenet-ct_abd_normal_abd-normal000001"].findings) == [
        "abdomen",
        "normal",
    ]
    knee = by_id.loc["radimagenet-mr_knee_meniscal_tear_knee-meniscal_tear000001"]
    assert knee.raw_relpath == KNEE and list(knee.findings) == ["knee", "meniscal tear"]
    thyroid = by_id.loc["radimagenet-us_thyroid_nodule_thyroid_nodule000001"]
    assert thyroid.modality == "US" and list(thyroid.findings) == ["thyroid nodule"]
    assert thyroid.official_split == "test"  # listed in train too: the evaluation split wins
    assert by_id.loc["radimagenet-ct_lung_normal_lung-normal000002"].official_split == "val"


def test_caption_file_joined_by_position(root):
    manifest, _, corrections = _read(root)
    captions = dict(zip(manifest["raw_relpath"], manifest["source_captions"]))
    assert list(captions[LUNG]) == ["A normal lung CT.", "Clear lungs."]
    assert list(captions[KNEE]) == ["A torn meniscus on MR."]  # matched despite the short path
    assert list(captions[ABD]) == []  # label-only: templates later, never a reject
    assert len(manifest) == 5  # the caption file adds no record
    assert sorted(zip(corrections["reason"], corrections["row"])) == [
        ("bad_caption_row", 5),
        ("bad_caption_row", 6),
        ("caption_without_record", 4),
    ]
    assert not (Path.cwd() / "pwned").exists()


def test_rejects(root):
    _, rejects, _ = _read(root)
    got = sorted(zip(rejects["reason"], rejects["file"], rejects["row"]))
    assert got == [
        ("bad_csv_row", "RadiologyAI_train.csv", 7),
        ("bad_csv_row", "RadiologyAI_train.csv", 8),
        ("duplicate_record", "RadiologyAI_train.csv", 4),
        ("missing_file", "RadiologyAI_train.csv", 5),
        ("outside_raw_root", "RadiologyAI_train.csv", 6),
    ]
    assert "no_caption" not in set(rejects["reason"])


def test_caption_file_at_top_level_with_other_header(root):
    (root / "radiology_ai" / "radimagenet_with_captions_training_set.csv").unlink()
    _write(
        root / "radimagenet_with_captions_training_set.csv",
        f"a,b,c\n\"['{LUNG2}']\",\"['CT-lung-normal']\",\"['Top-level caption.']\"\n",
    )
    manifest, _, _ = _read(root)
    captions = dict(zip(manifest["raw_relpath"], manifest["source_captions"]))
    assert list(captions[LUNG2]) == ["Top-level caption."]


def test_split_files_inside_radiology_ai(tmp_path):
    root = tmp_path / "radimagenet"
    write_png(root / LUNG)
    _write(
        root / "radiology_ai" / "RadiologyAI_val.csv", f"filename,label\n{LUNG},CT-lung-normal\n"
    )
    manifest, rejects, _ = _read(root)
    assert list(manifest["official_split"]) == ["val"] and rejects.empty


def test_no_split_file_is_a_layout_error(tmp_path):
    root = tmp_path / "radimagenet"
    write_png(root / LUNG)
    with pytest.raises(LayoutError, match="RadiologyAI_train.csv"):
        _read(root)


def test_split_file_without_its_columns_is_a_layout_error(tmp_path):
    root = tmp_path / "radimagenet"
    _write(root / "RadiologyAI_train.csv", "path,class\nx,y\n")
    with pytest.raises(LayoutError, match=r"RadiologyAI_train\.csv.*missing columns"):
        _read(root)


def test_sample_data_expectations(tmp_path):
    expected = sample.write(tmp_path, np.random.default_rng(3))
    manifest, rejects, _ = _read(tmp_path / "radimagenet")
    assert dict(Counter(rejects["reason"])) == expected["rejects"]
    assert len(manifest) + len(rejects) == expected["records"]
    held = manifest["official_split"].isin(["val", "test"]).sum()
    assert held == expected["held_out"]
    assert len(manifest) - held == expected["exported"]
    assert (tmp_path / "radimagenet" / ".unimed-sample").is_file()
    images = list((tmp_path / "radimagenet").rglob("*.png"))
    assert len({p.read_bytes() for p in images}) == len(images)  # no two equal images
