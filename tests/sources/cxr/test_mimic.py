from pathlib import Path

import pytest

from tests.sources.helpers import write_gz, write_jpeg
from unimed_kedro.sources.cxr import mimic
from unimed_kedro.sources.cxr.mimic import MIMIC

META = (
    "dicom_id,subject_id,study_id,PerformedProcedureStepDescription,ViewPosition,Rows,"
    "Columns,StudyDate,StudyTime,ProcedureCodeSequence_CodeMeaning,"
    "ViewCodeSequence_CodeMeaning,PatientOrientationCodeSequence_CodeMeaning"
)
LABELS = (
    "subject_id,study_id,Atelectasis,Cardiomegaly,Consolidation,Edema,"
    "Enlarged Cardiomediastinum,Fracture,Lung Lesion,Lung Opacity,No Finding,"
    "Pleural Effusion,Pleural Other,Pneumonia,Pneumothorax,Support Devices"
)
D1 = "02aa804e-bde0afdd-112c0b34-7bc16630-4e384014"
D2 = "174413ec-4ec4c1f7-34ea26b7-c5f994f8-79ef1962"
D3 = "2a2277a9-b0ded155-c0de8eb9-c124d10e-82c5caab"
REPORT = """                                 FINAL REPORT
 EXAMINATION:  CHEST (PA AND LAT)

 INDICATION:  ___F with cough

 FINDINGS:  The lungs are clear. There is no pleural effusion or
 pneumothorax.

 IMPRESSON:  No acute cardiopulmonary process.
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "mimic-cxr-jpg"
    base = root / "2.0.0"
    study = base / "files" / "p10" / "p10000032" / "s50414267"
    write_jpeg(study / f"{D1}.jpg")
    write_jpeg(study / f"{D2}.jpg", seed=1)
    (study.parent / "s50414267.txt").write_text(REPORT)
    write_gz(
        base / "mimic-cxr-2.0.0-metadata.csv.gz",
        "\n".join(
            [
                META,
                f"{D1},10000032,50414267,CHEST (PA AND LAT),PA,3056,2544,21800506,213014.531,x,y,z",
                f"{D2},10000032,50414267,CHEST (PA AND LAT),LATERAL,3056,2544,21800506,213014.531,x,y,z",
                f"{D3},10000033,50414268,CHEST (PA AND LAT),,3056,2544,21800506,213014.531,x,y,z",
            ]
        )
        + "\n",
    )
    # Atelectasis blank, Cardiomegaly 1.0, ..., Support Devices -1.0 (14 label columns)
    labels = ["", "1.0"] + [""] * 11 + ["-1.0"]
    write_gz(
        base / "mimic-cxr-2.0.0-chexpert.csv.gz",
        f"{LABELS}\n10000032,50414267,{','.join(labels)}\n",
    )
    write_gz(
        base / "mimic-cxr-2.0.0-split.csv.gz",
        f"dicom_id,study_id,subject_id,split\n{D1},50414267,10000032,validate\n"
        f"{D2},50414267,10000032,validate\n",
    )
    return root


def test_records_labels_report_and_split(root, vocabulary):
    manifest, rejects, _ = MIMIC(root, vocabulary).read()
    assert list(manifest["sample_id"]) == [f"mimic-{D1}", f"mimic-{D2}"]
    first = manifest.iloc[0]
    assert first.patient_id == "mimic:10000032" and first.study_id == "s50414267"
    assert first.raw_relpath == f"2.0.0/files/p10/p10000032/s50414267/{D1}.jpg"
    assert first.view == "PA" and manifest.iloc[1].view == "LATERAL"
    assert first.label_cardiomegaly == 1 and first.label_support_devices == -1
    assert first.report_findings.startswith("The lungs are clear. There is no pleural")
    assert first.report_impression == "No acute cardiopulmonary process."
    assert set(manifest["official_split"]) == {"val"}
    assert list(rejects["reason"]) == ["missing_file"] and rejects.iloc[0].row == 4


def _conserved(manifest, rejects) -> bool:
    """Every metadata row is a kept record or a reject; table rows are neither."""
    return len(manifest) + len(rejects) == 3


def test_malformed_label_row_rejects_its_study_naming_the_row(root, vocabulary):
    labels = ",".join(["", "1.0"] + [""] * 11 + ["-1.0"])
    write_gz(
        root / "2.0.0" / "mimic-cxr-2.0.0-chexpert.csv.gz",
        f"{LABELS}\n10000032,50414267,{labels},extra\n",
    )
    source = MIMIC(root, vocabulary)
    manifest, rejects, corrections = source.read()
    assert len(manifest) == 0 and _conserved(manifest, rejects)
    bad = rejects[rejects["reason"].eq("bad_csv_row")]
    assert list(bad["sample_id"]) == [f"mimic-{D1}", f"mimic-{D2}"]
    assert set(bad["detail"]) == {
        "mimic-cxr-2.0.0-chexpert.csv.gz line 2: expected 16 fields, found 17"
    }
    assert set(bad["file"]) == {"2.0.0/mimic-cxr-2.0.0-metadata.csv.gz"}
    assert len(corrections) == 0


def test_malformed_split_row_rejects_its_image_naming_the_row(root, vocabulary):
    write_gz(
        root / "2.0.0" / "mimic-cxr-2.0.0-split.csv.gz",
        f"dicom_id,study_id,subject_id,split\n{D1},50414267,10000032,validate,x\n"
        f"{D2},50414267,10000032,validate\n",
    )
    manifest, rejects, _ = MIMIC(root, vocabulary).read()
    assert list(manifest["sample_id"]) == [f"mimic-{D2}"] and _conserved(manifest, rejects)
    assert list(manifest["official_split"]) == ["val"]
    bad = rejects.set_index("reason").loc["bad_csv_row"]
    assert bad.sample_id == f"mimic-{D1}"
    assert bad.detail == "mimic-cxr-2.0.0-split.csv.gz line 2: expected 4 fields, found 5"


def test_bad_table_row_naming_no_image_is_a_correction(root, vocabulary):
    labels = ",".join(["", "1.0"] + [""] * 11 + ["-1.0"])
    write_gz(
        root / "2.0.0" / "mimic-cxr-2.0.0-chexpert.csv.gz",
        f"{LABELS}\n10000032,50414267,{labels}\ngarbage\n"
        f"10000099,50000000,{labels.replace('-1.0', '7')}\n",
    )
    source = MIMIC(root, vocabulary)
    manifest, rejects, corrections = source.read()
    assert len(manifest) == 2 and manifest["label_cardiomegaly"].eq(1).all()
    assert list(rejects["reason"]) == ["missing_file"] and _conserved(manifest, rejects)
    assert set(corrections["reason"]) == {"table_row_ignored"}
    assert corrections[["file", "row"]].values.tolist() == [
        ["2.0.0/mimic-cxr-2.0.0-chexpert.csv.gz", 3],  # a wrong field count, no key
        ["2.0.0/mimic-cxr-2.0.0-chexpert.csv.gz", 4],
    ]  # a bad value, of an unlisted study
    assert corrections.iloc[0].detail.startswith("expected 16 fields, found 1")
    assert "10000099/50000000" in corrections.iloc[1].detail


def test_missing_metadata_names_expected_file(tmp_path, vocabulary):
    with pytest.raises(ValueError, match="mimic-cxr-2.0.0-metadata"):
        MIMIC(tmp_path, vocabulary).read()


def test_report_sections_variants(tmp_path):
    path = tmp_path / "s1.txt"
    path.write_text(" FINAL REPORT\n FINDINGS AND IMPRESSION: Clear lungs.\n")
    assert mimic._report_sections(path) == ("Clear lungs.", None, False)
    path.write_text(" FINAL REPORT\n IMPRESSION: Small effusion.\n")
    assert mimic._report_sections(path) == (None, "Small effusion.", False)
    assert mimic._report_sections(tmp_path / "absent.txt") == (None, None, False)
