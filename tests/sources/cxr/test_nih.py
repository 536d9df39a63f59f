import math
from pathlib import Path

import pytest

from tests.sources.helpers import write_png
from unimed_kedro.sources.cxr.nih import NIH

V2020 = (
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Sex,"
    "View Position,OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]"
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "chest_xray8"
    write_png(root / "images_001" / "images" / "00000001_000.png")
    write_png(root / "images_002" / "images" / "00000001_001.png", seed=1)
    write_png(root / "images" / "00000002_000.png", seed=2)
    rows = [
        V2020,
        "00000001_000.png,Cardiomegaly|Emphysema,0,1,58,M,PA,2682,2749,0.143,0.143",
        "00000001_001.png,No Finding,1,1,58,M,AP,2894,2729,0.143,0.143",
        "00000002_000.png,Infiltration,0,2,81,F,PA,2500,2048,0.168,0.168",
        "00000003_000.png,Mass,0,3,30,F,PA,2500,2048,0.168,0.168",  # missing
        "00000002_000.png,Hernia,0,2,81,F,PA,2500,2048,0.168,0.168,extra",  # field count
        "00000004_000.png,Pneumonitis,0,4,40,M,PA,2500,2048,0.168,0.168",  # unknown label
        "../../secret.png,Mass,0,5,30,F,PA,2500,2048,0.168,0.168",
    ]  # escape
    (root / "Data_Entry_2017_v2020.csv").write_text("\n".join(rows) + "\n")
    (root / "train_val_list.txt").write_text("00000002_000.png\n")
    (root / "test_list.txt").write_text("00000001_000.png\n00000001_001.png\n")
    return root


def test_records(root, vocabulary):
    manifest, _, _ = NIH(root, vocabulary).read()
    assert list(manifest["sample_id"]) == [
        "nih-00000001_000",
        "nih-00000001_001",
        "nih-00000002_000",
    ]
    first = manifest.iloc[0]
    assert first.patient_id == "nih:00000001" and first.study_id == "00000001_000"
    assert first.raw_relpath == "images_001/images/00000001_000.png"
    assert (first.label_cardiomegaly, first.label_emphysema, first.label_mass) == (1, 1, 0)
    assert first.label_no_finding == 0 and first.sex == "M" and first.age == 58
    assert manifest.iloc[1].label_no_finding == 1 and manifest.iloc[1].view == "AP"
    assert manifest.iloc[2].raw_relpath == "images/00000002_000.png"
    assert manifest.iloc[2].label_infiltration == 1
    # NIH does not annotate CheXpert-only findings: those stay missing, not negative
    assert manifest["label_support_devices"].isna().all()
    assert list(manifest["official_split"]) == ["test", "test", "train"]


def test_rejects(root, vocabulary):
    _, rejects, _ = NIH(root, vocabulary).read()
    got = sorted(zip(rejects["reason"], rejects["row"]))
    assert got == [
        ("bad_csv_row", 6),
        ("bad_csv_row", 7),
        ("missing_file", 5),
        ("outside_raw_root", 8),
    ]
    assert "Pneumonitis" in rejects.set_index("row").loc[7, "detail"]


def test_original_2017_file_with_gender_and_trailing_comma(tmp_path, vocabulary):
    root = tmp_path / "chest_xray8"
    write_png(root / "images" / "00000001_000.png")
    (root / "Data_Entry_2017.csv").write_text(
        V2020.replace("Patient Sex", "Patient Gender") + ",\n"
        "00000001_000.png,Effusion,0,1,058Y,F,PA,2682,2749,0.143,0.143,\n"
    )
    manifest, rejects, _ = NIH(root, vocabulary).read()
    assert len(rejects) == 0
    assert manifest.iloc[0].age == 58 and manifest.iloc[0].sex == "F"
    assert manifest.iloc[0].label_effusion == 1


def test_impossible_age_keeps_the_image_with_age_unknown_and_a_correction(tmp_path, vocabulary):
    # the real Data_Entry_2017 has ages such as 148 and 413 on good images
    root = tmp_path / "chest_xray8"
    write_png(root / "images" / "00000001_000.png")
    write_png(root / "images" / "00000001_001.png", seed=1)
    (root / "Data_Entry_2017_v2020.csv").write_text(
        "\n".join(
            [
                V2020,
                "00000001_000.png,Effusion,0,1,413,F,PA,2682,2749,0.143,0.143",
                "00000001_001.png,Effusion,1,1,old,F,PA,2682,2749,0.143,0.143",
            ]
        )
        + "\n"
    )
    source = NIH(root, vocabulary)
    manifest, rejects, corrections = source.read()
    assert list(manifest["sample_id"]) == ["nih-00000001_000"]
    assert math.isnan(manifest.iloc[0].age) and manifest.iloc[0].label_effusion == 1
    # a non-numeric age is still a malformed row
    assert list(zip(rejects["reason"], rejects["row"])) == [("bad_csv_row", 3)]
    corrections = corrections
    assert list(corrections.columns) == list(rejects.columns)
    assert corrections[["sample_id", "file", "row", "stage", "reason"]].values.tolist() == [
        ["nih-00000001_000", "Data_Entry_2017_v2020.csv", 2, "ingest", "age_out_of_range"]
    ]
    assert "'413'" in corrections.iloc[0].detail and "0..130" in corrections.iloc[0].detail
