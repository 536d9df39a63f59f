import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tests.sources.helpers import write_jpeg, write_png
from unimed_kedro.sampledata.unimed import retina as sample
from unimed_kedro.sources.base import LayoutError
from unimed_kedro.sources.imagetext.retina import Retina
from unimed_kedro.sources.registry import entry

ODIR = "08_ODIR-5K/preprocessed_images"
TABLES = "Retina-Annotations"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _read(root: Path, **options):
    return Retina(root, {}, name="retina", options=options or entry("retina").options).read()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "Retina-Datasets"
    for seed, name in enumerate(("0_left", "0_right")):
        write_jpeg(root / ODIR / f"{name}.jpg", seed=seed)
    write_png(root / "15_APTOS/train_images/000c1434d8d7.png", seed=2)
    write_png(root / "15_APTOS/train_images/001639a390f0.png", seed=3)
    for seed, number in enumerate((1000, 1001, 1002)):
        write_jpeg(root / f"06_DEN/{number}.jpg", seed=4 + seed)
    for seed, number in enumerate(range(3)):
        write_jpeg(root / f"39_MM_Retinal_dataset/CFP/cfp_{number}.jpg", seed=7 + seed)
    write_jpeg(root / "01_EYEPACS/train/10_left.jpeg", seed=10)
    _write(
        root / TABLES / "08_ODIR.csv",
        ",filename,captions,sentence_level_captions\n"
        f"0,{ODIR}/0_left.jpg,\"['a fundus photograph', 'drusen.']\",The left eye has drusen.\n"
        f"1,{ODIR}/0_right.jpg,\"['normal fundus']\",\n"
        f"2,{ODIR}/0_left.jpg,\"['a fundus photograph', 'mild retinopathy']\",Second row.\n"
        f"3,{ODIR}/3_left.jpg,\"['missing']\",No image.\n"
        f'4,{ODIR}/0_right.jpg,"[\'unclosed",x\n',
    )
    _write(
        root / TABLES / "15_APTOS.csv",
        "filename,captions\n"
        "15_APTOS/train_images/000c1434d8d7.png,\"['moderate diabetic retinopathy']\"\n"
        "15_APTOS/train_images/001639a390f0.png,[]\n",
    )
    _write(
        root / TABLES / "06_DEN.csv",
        ",image,atributes,categories\n"
        "0,06_DEN/1000.jpg,[],\"['diabetic retinopathy', '56-year-old male', 'macular edema.']\"\n"
        "1,06_DEN/1001.jpg,[],\"['retinitis pigmentosa', 'see https://example.org']\"\n"
        "2,06_DEN/1002.jpg,[],\"['45-year-old woman', '//']\"\n"
        "3,06_DEN/1003.jpg,[],\"__import__('os').getcwd()\"\n",
    )
    _write(
        root / TABLES / "39_MM_Retinal_dataset.csv",
        "image,caption\n"
        "39_MM_Retinal_dataset/CFP/cfp_0.jpg,Color fundus photograph with drusen.\n"
        "CFP/cfp_1.jpg,A path relative to its dataset folder.\n"
        "39_MM_Retinal_dataset/CFP/cfp_2.jpg,\n"
        "../../etc/passwd,Outside.\n",
    )
    _write(
        root / TABLES / "01_EYEPACS_revised.csv",
        "filename,captions,sentence_level_captions\n"
        "01_EYEPACS/train/10_left.jpeg,\"['held for evaluation']\",x\n",
    )
    return root


def test_records(root):
    manifest, _, _ = _read(root)
    by_path = manifest.set_index("raw_relpath")
    assert sorted(by_path.index) == [
        "06_DEN/1000.jpg",
        "06_DEN/1001.jpg",
        f"{ODIR}/0_left.jpg",
        f"{ODIR}/0_right.jpg",
        "15_APTOS/train_images/000c1434d8d7.png",
        "39_MM_Retinal_dataset/CFP/cfp_0.jpg",
        "39_MM_Retinal_dataset/CFP/cfp_1.jpg",
    ]
    assert set(manifest["modality"]) == {"fundus"}
    assert manifest["official_split"].isna().all()
    assert by_path.loc[f"{ODIR}/0_left.jpg"].dataset == "ODIR"
    assert by_path.loc["06_DEN/1000.jpg"].dataset == "DEN"
    assert by_path.loc["39_MM_Retinal_dataset/CFP/cfp_0.jpg"].dataset == "MM_Retinal"
    assert (
        manifest.set_index("sample_id").loc["retina-06_den_1000"].raw_relpath == "06_DEN/1000.jpg"
    )


def test_captions_sentence_column_and_merged_rows(root):
    manifest, _, _ = _read(root)
    captions = dict(zip(manifest["raw_relpath"], map(list, manifest["source_captions"])))
    # two rows of one image: one record with both rows' captions, repeats once
    assert captions[f"{ODIR}/0_left.jpg"] == [
        "a fundus photograph",
        "drusen.",
        "The left eye has drusen.",
        "mild retinopathy",
        "Second row.",
    ]
    assert captions[f"{ODIR}/0_right.jpg"] == ["normal fundus"]  # empty sentence cell
    assert captions["15_APTOS/train_images/000c1434d8d7.png"] == ["moderate diabetic retinopathy"]
    assert captions["39_MM_Retinal_dataset/CFP/cfp_1.jpg"] == [
        "A path relative to its dataset folder."
    ]


def test_den_findings_follow_unimeds_filter(root):
    manifest, _, _ = _read(root)
    den = manifest[manifest["dataset"] == "DEN"].set_index("raw_relpath")
    assert list(den.loc["06_DEN/1000.jpg"].findings) == ["diabetic retinopathy", "macular edema"]
    assert list(den.loc["06_DEN/1001.jpg"].findings) == ["retinitis pigmentosa"]
    assert all(len(c) == 0 for c in den["source_captions"])  # templates caption them later


def test_rejects(root):
    _, rejects, _ = _read(root)
    got = sorted(zip(rejects["reason"], rejects["file"], rejects["row"]))
    assert got == [
        ("bad_csv_row", f"{TABLES}/06_DEN.csv", 5),
        ("bad_csv_row", f"{TABLES}/08_ODIR.csv", 6),
        ("missing_file", f"{TABLES}/08_ODIR.csv", 5),
        ("no_caption", f"{TABLES}/06_DEN.csv", 4),  # only an age and a bare "//"
        ("no_caption", f"{TABLES}/15_APTOS.csv", 3),
        ("no_caption", f"{TABLES}/39_MM_Retinal_dataset.csv", 4),
        ("outside_raw_root", f"{TABLES}/39_MM_Retinal_dataset.csv", 5),
    ]


def test_excluded_tables_are_skipped_with_a_log_line(root, caplog):
    with caplog.at_level(logging.INFO, logger="unimed_kedro.sources.imagetext.retina"):
        manifest, _, _ = _read(root)
    assert not manifest["raw_relpath"].str.startswith("01_EYEPACS").any()
    assert "01_EYEPACS_revised.csv skipped" in caplog.text
    included, _, _ = _read(root, excluded_tables=["06_DEN.csv"])
    assert included["raw_relpath"].str.startswith("01_EYEPACS").sum() == 1
    assert not included["raw_relpath"].str.startswith("06_DEN").any()


def test_without_annotations_is_a_layout_error(tmp_path):
    root = tmp_path / "Retina-Datasets"
    write_jpeg(root / ODIR / "0_left.jpg")
    with pytest.raises(LayoutError, match="Retina-Annotations"):
        _read(root)


def test_table_of_unknown_columns_is_a_layout_error(root):
    _write(root / TABLES / "12_ARIA.csv", "path,label\nx,y\n")
    with pytest.raises(LayoutError, match=r"12_ARIA\.csv.*filename,captions"):
        _read(root)


def test_sample_data_expectations(tmp_path):
    expected = sample.write(tmp_path, np.random.default_rng(5))
    manifest, rejects, _ = _read(tmp_path / "Retina-Datasets")
    found = Counter(rejects["reason"])
    found["corrupt_image"] = 0  # found when normalized, not by the reader
    want = dict(expected["rejects"], corrupt_image=0)
    assert dict(found) == want
    assert len(manifest) + len(rejects) == expected["records"]
    assert expected["held_out"] == 0 and manifest["official_split"].isna().all()
    assert len(manifest) - expected["rejects"]["corrupt_image"] == expected["exported"]
    assert (tmp_path / "Retina-Datasets" / ".unimed-sample").is_file()
