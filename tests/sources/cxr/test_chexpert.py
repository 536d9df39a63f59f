import math
from pathlib import Path

import pandas as pd
import pytest

from tests.sources.helpers import write_jpeg
from unimed_kedro.sources.base import LayoutError
from unimed_kedro.sources.cxr import chexpert
from unimed_kedro.sources.cxr.chexpert import CheXpert

HEADER = ",".join(chexpert.META_COLUMNS + chexpert.LABEL_COLUMNS)
BLANKS = "," * (len(chexpert.LABEL_COLUMNS) - 1)


def _row(path: str, sex="Female", age="87", fl="Frontal", appa="AP", labels=None) -> str:
    cells = labels or [""] * len(chexpert.LABEL_COLUMNS)
    return ",".join([path, sex, age, fl, appa] + cells)


def _labels(**values) -> list[str]:
    return [values.get(c.replace(" ", "_"), "") for c in chexpert.LABEL_COLUMNS]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "CheXpert-v1.0-small"
    for rel in [
        "train/patient00001/study1/view1_frontal.jpg",
        "train/patient00001/study1/view2_lateral.jpg",
        "train/patient00002/study2/view1_frontal.jpg",
        "valid/patient64541/study1/view1_frontal.jpg",
    ]:
        write_jpeg(root / rel)
    p = "CheXpert-v1.0-small/"
    train = [
        HEADER,
        _row(
            p + "train/patient00001/study1/view1_frontal.jpg",
            labels=_labels(Cardiomegaly="1.0", Edema="-1.0", Pleural_Effusion="0.0"),
        ),
        _row(p + "train/patient00001/study1/view2_lateral.jpg", fl="Lateral", appa=""),
        _row(
            p + "train/patient00002/study2/view1_frontal.jpg",
            sex="Unknown",
            age="0",
            appa="LL",
            labels=_labels(No_Finding="1.0"),
        ),
        _row(p + "train/patient00003/study1/view1_frontal.jpg"),  # missing
        _row(p + "train/patient00002/study2/view1_frontal.jpg"),  # duplicate
        _row(
            p + "train/patient00001/study1/view1_frontal.jpg", labels=_labels(Edema="2.5")
        ),  # bad value
        p + "train/patient00001/study1/view1_frontal.jpg,Male",  # short row
        _row(p + "../../../etc/passwd"),
    ]  # escape
    (root / "train.csv").write_text("\n".join(train) + "\n")
    (root / "valid.csv").write_text(
        HEADER
        + "\n"
        + _row(
            p + "valid/patient64541/study1/view1_frontal.jpg",
            appa="PA",
            labels=_labels(Cardiomegaly="0.0"),
        )
        + "\n"
    )
    return root


def test_records_ids_views_labels(root, vocabulary):
    manifest, rejects, _ = CheXpert(root, vocabulary).read()
    assert list(manifest["sample_id"]) == [
        "chexpert-patient00001_study1_view1_frontal",
        "chexpert-patient00001_study1_view2_lateral",
        "chexpert-patient00002_study2_view1_frontal",
        "chexpert-patient64541_study1_view1_frontal",
    ]
    first = manifest.iloc[0]
    assert first.patient_id == "chexpert:patient00001" and first.view == "AP"
    assert first.raw_relpath == "train/patient00001/study1/view1_frontal.jpg"
    assert (first.label_cardiomegaly, first.label_edema, first.label_effusion) == (1, -1, 0)
    assert math.isnan(first.label_fracture)
    assert manifest.iloc[1].view == "LATERAL"
    assert manifest.iloc[2].view == "FRONTAL" and pd.isna(manifest.iloc[2].sex)
    assert math.isnan(manifest.iloc[2].age) and manifest.iloc[2].label_no_finding == 1
    assert list(manifest["official_split"]) == ["train", "train", "train", "val"]
    assert set(manifest["license"]) == {chexpert.INFO.license}


def test_rejects_name_file_row_and_reason(root, vocabulary):
    _, rejects, _ = CheXpert(root, vocabulary).read()
    got = sorted(zip(rejects["reason"], rejects["file"], rejects["row"]))
    assert got == [
        ("bad_csv_row", "train.csv", 7),
        ("bad_csv_row", "train.csv", 8),
        ("duplicate_record", "train.csv", 6),
        ("missing_file", "train.csv", 5),
        ("outside_raw_root", "train.csv", 9),
    ]
    detail = rejects.set_index("row").loc[7, "detail"]
    assert "'Edema'" in detail and "2.5" in detail


def test_unimed_caption_csv_attached(root, vocabulary):
    (root / chexpert.UNIMED_CAPTIONS).write_text(
        "filename,labels,captions\n"
        "\"['CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg']\","
        "\"['Cardiomegaly']\",\"['Enlarged heart.', 'Cardiomegaly seen.']\"\n"
        "broken line without lists\n"
    )
    manifest, _, _ = CheXpert(root, vocabulary).read()
    assert list(manifest.iloc[0].source_captions) == ["Enlarged heart.", "Cardiomegaly seen."]
    assert manifest.iloc[1].source_captions is None or pd.isna(manifest.iloc[1].source_captions)


def test_folder_without_csv_is_a_layout_error(tmp_path, vocabulary):
    with pytest.raises(LayoutError, match="train.csv"):
        CheXpert(tmp_path, vocabulary).read()


def test_impossible_age_is_a_correction_and_a_non_numeric_one_a_bad_row(tmp_path, vocabulary):
    root = tmp_path / "CheXpert-v1.0-small"
    p = "CheXpert-v1.0-small/"
    for rel in [
        "train/patient00001/study1/view1_frontal.jpg",
        "train/patient00002/study1/view1_frontal.jpg",
    ]:
        write_jpeg(root / rel)
    (root / "train.csv").write_text(
        "\n".join(
            [
                HEADER,
                _row(p + "train/patient00001/study1/view1_frontal.jpg", age="148"),
                _row(p + "train/patient00002/study1/view1_frontal.jpg", age="n/a"),
            ]
        )
        + "\n"
    )
    source = CheXpert(root, vocabulary)
    manifest, rejects, corrections = source.read()
    assert list(manifest["sample_id"]) == ["chexpert-patient00001_study1_view1_frontal"]
    assert math.isnan(manifest.iloc[0].age)
    assert list(zip(rejects["reason"], rejects["row"])) == [("bad_csv_row", 3)]
    assert corrections[["sample_id", "row", "reason"]].values.tolist() == [
        ["chexpert-patient00001_study1_view1_frontal", 2, "age_out_of_range"]
    ]


def test_a_repeated_row_takes_its_correction_with_it(tmp_path, vocabulary):
    root = tmp_path / "CheXpert-v1.0-small"
    rel = "train/patient00001/study1/view1_frontal.jpg"
    write_jpeg(root / rel)
    row = _row("CheXpert-v1.0-small/" + rel, age="413")
    (root / "train.csv").write_text(f"{HEADER}\n{row}\n{row}\n")
    source = CheXpert(root, vocabulary)
    _, rejects, corrections = source.read()
    assert list(rejects["reason"]) == ["duplicate_record"]
    assert corrections["row"].tolist() == [2]  # the kept first row's only


def _one_patient(tmp_path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    """A train.csv of (file, age, Frontal/Lateral, AP/PA) rows of patient00007, films
    written; cells as the real train.csv has them."""
    root = tmp_path / "CheXpert-v1.0-small"
    lines = [HEADER]
    for name, age, fl, appa in rows:
        write_jpeg(root / "train/patient00007" / name)
        path = f"CheXpert-v1.0-small/train/patient00007/{name}"
        lines.append(_row(path, sex="Male", age=age, fl=fl, appa=appa))
    (root / "train.csv").write_text("\n".join(lines) + "\n")
    return root


def test_ll_and_rl_on_frontal_rows_are_frontal_films(tmp_path, vocabulary):
    # The real train.csv: AP/PA `LL` on 16 and `RL` on 1 row whose Frontal/Lateral is
    # Frontal and whose file is view*_frontal.jpg
    root = _one_patient(
        tmp_path,
        [
            ("study1/view1_frontal.jpg", "62", "Frontal", "LL"),
            ("study2/view1_frontal.jpg", "62", "Frontal", "RL"),
            ("study2/view2_frontal.jpg", "62", "Frontal", "PA"),
            ("study2/view3_lateral.jpg", "62", "Lateral", ""),
            ("study3/view1_frontal.jpg", "63", "Frontal", "AP"),
        ],
    )
    manifest, rejects, corrections = CheXpert(root, vocabulary).read()
    assert list(manifest["view"]) == ["FRONTAL", "FRONTAL", "PA", "LATERAL", "AP"]
    assert rejects.empty and corrections.empty


def test_age_zero_is_unknown_with_a_placeholder_correction(tmp_path, vocabulary):
    # The real train.csv has Age 0 on 3 rows: CheXpert's mark for an unrecorded age
    root = _one_patient(
        tmp_path,
        [
            ("study1/view1_frontal.jpg", "0", "Frontal", "AP"),
            ("study1/view2_lateral.jpg", "0", "Lateral", ""),
            ("study2/view1_frontal.jpg", "19", "Frontal", "PA"),
        ],
    )
    manifest, rejects, corrections = CheXpert(root, vocabulary).read()
    assert manifest["age"].isna().tolist() == [True, True, False]
    assert rejects.empty
    assert corrections[["sample_id", "file", "row", "reason"]].values.tolist() == [
        ["chexpert-patient00007_study1_view1_frontal", "train.csv", 2, "age_placeholder"],
        ["chexpert-patient00007_study1_view2_lateral", "train.csv", 3, "age_placeholder"],
    ]
    assert corrections["detail"].str.contains("'Age'.*'0'.*placeholder").all()
