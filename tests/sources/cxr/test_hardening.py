"""Issue 15 on each chest X-ray reader: ids built by the one id rule whatever the raw ids
hold (dots, slashes, collisions), and bad bytes as bad rows or corrections, never a crash."""

from __future__ import annotations

import gzip
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.sources.cxr.test_mimic import D1, D2, META
from tests.sources.cxr.test_mimic import root as mimic_root  # noqa: F401 (fixture)
from tests.sources.cxr.test_nih import V2020
from tests.sources.cxr.test_openi import _xml
from tests.sources.helpers import write_gz, write_jpeg, write_png
from unimed_kedro.schema.columns import list_values
from unimed_kedro.schema.text import clean_text
from unimed_kedro.sources.base import ID_COLLISION, UNDECODABLE_TEXT, LayoutError
from unimed_kedro.sources.cxr import chexpert
from unimed_kedro.sources.cxr.chexpert import CheXpert
from unimed_kedro.sources.cxr.mimic import MIMIC
from unimed_kedro.sources.cxr.nih import NIH
from unimed_kedro.sources.cxr.openi import OpenI


def _nih_row(name: str, patient: int = 1) -> str:
    return f"{name},Mass,0,{patient},58,M,PA,2682,2749,0.143,0.143"


def test_nih_ids_fold_dots_and_a_collision_names_both_raw_ids(tmp_path, vocabulary):
    root = tmp_path / "chest_xray8"
    for k, name in enumerate(["00000001_000.v2.png", "x.y.png", "x_y.png", "Kopie 1.png"]):
        write_png(root / "images" / name, seed=k)
    rows = [V2020] + [
        _nih_row(n) for n in ["00000001_000.v2.png", "x.y.png", "x_y.png", "Kopie 1.png"]
    ]
    (root / "Data_Entry_2017_v2020.csv").write_text("\n".join(rows) + "\n")
    manifest, rejects, _ = NIH(root, vocabulary).read()
    assert manifest["sample_id"].tolist() == ["nih-00000001_000_v2", "nih-kopie_1", "nih-x_y"]
    assert manifest.set_index("sample_id").loc["nih-x_y", "raw_relpath"] == "images/x.y.png"
    assert rejects[["reason", "row", "sample_id"]].values.tolist() == [[ID_COLLISION, 4, "nih-x_y"]]
    detail = rejects.iloc[0].detail
    assert "'x_y.png'" in detail and "'x.y.png'" in detail and "line 3" in detail


def test_nih_bad_bytes_reject_the_row_and_split_lists_never_crash(tmp_path, vocabulary):
    root = tmp_path / "chest_xray8"
    write_png(root / "images" / "00000001_000.png")
    write_png(root / "images" / "00000002_000.png", seed=1)
    entry = V2020.encode() + b"\n" + _nih_row("00000001_000.png").encode() + b"\n"
    entry += _nih_row("00000002_000.png", 2).replace(",M,", ",\xe9,").encode("latin-1") + b"\n"
    entry += _nih_row("00000003_000.png", 3).encode().replace(b"Mass", b"Ma\x00ss") + b"\n"
    (root / "Data_Entry_2017_v2020.csv").write_bytes(entry)
    (root / "test_list.txt").write_bytes(b"00000001_000.png\ncaf\xe9.png\n")
    manifest, rejects, _ = NIH(root, vocabulary).read()
    assert manifest["sample_id"].tolist() == ["nih-00000001_000"]
    assert manifest["official_split"].tolist() == ["test"]
    assert rejects[["reason", "file", "row"]].values.tolist() == [
        ["bad_csv_row", "Data_Entry_2017_v2020.csv", 3],
        ["bad_csv_row", "Data_Entry_2017_v2020.csv", 4],
    ]
    assert rejects.iloc[0].detail == "column 'Patient Sex': bytes that are not UTF-8 in b'\\xe9'"
    assert "column 'Finding Labels': NUL byte" in rejects.iloc[1].detail


def test_mimic_dicom_ids_with_dots_and_slashes_are_folded(tmp_path, vocabulary):
    root = tmp_path / "mimic-cxr-jpg"
    study = root / "files" / "p10" / "p10000032" / "s50414267"
    write_jpeg(study / "ab.cd.jpg")
    write_jpeg(study / "sub" / "ef.jpg", seed=1)
    rows = [META] + [
        f"{d},10000032,50414267,CHEST,PA,3056,2544,21800506,213014.531,x,y,z"
        for d in ("ab.cd", "sub/ef")
    ]
    write_gz(root / "mimic-cxr-2.0.0-metadata.csv.gz", "\n".join(rows) + "\n")
    manifest, rejects, _ = MIMIC(root, vocabulary).read()
    assert manifest["sample_id"].tolist() == ["mimic-ab_cd", "mimic-sub_ef"]
    assert len(rejects) == 0


def test_mimic_report_bytes_are_replaced_and_noted_not_fatal(mimic_root, vocabulary):  # noqa: F811
    report = mimic_root / "2.0.0" / "files" / "p10" / "p10000032" / "s50414267.txt"
    report.write_bytes(
        b" FINDINGS:  Caf\xe9 lungs\x00 are clear\x1b[0m.\x85 \xc2\x9b\n IMPRESSION: None.\n"
    )
    manifest, rejects, corrections = MIMIC(mimic_root, vocabulary).read()
    # a lone byte 0x85 is no UTF-8 (U+FFFD); the encoded C1 control U+009B is dropped
    assert manifest["report_findings"].tolist() == ["Caf\ufffd lungs are clear[0m.\ufffd"] * 2
    assert set(rejects["reason"]) == {"missing_file"}  # the fixture's third image
    assert corrections[["reason", "sample_id"]].values.tolist() == [
        [UNDECODABLE_TEXT, f"mimic-{D1}"],
        [UNDECODABLE_TEXT, f"mimic-{D2}"],
    ]
    assert "report 2.0.0/files/p10/p10000032/s50414267.txt" in corrections.iloc[0].detail


def test_mimic_truncated_metadata_is_a_layout_error_naming_file_and_line(
    mimic_root,  # noqa: F811
    vocabulary,
):
    meta = mimic_root / "2.0.0" / "mimic-cxr-2.0.0-metadata.csv.gz"
    text = gzip.decompress(meta.read_bytes()).decode()
    rows = text.splitlines()[1:] * 3000
    write_gz(meta, META + "\n" + "\n".join(rows) + "\n")
    meta.write_bytes(meta.read_bytes()[:-200])
    with pytest.raises(LayoutError, match=r"metadata\.csv\.gz, line \d+: cannot be read past"):
        MIMIC(mimic_root, vocabulary).read()


@pytest.fixture
def openi_root(tmp_path: Path) -> Path:
    root = tmp_path / "openi"
    (root / "ecgen-radiology").mkdir(parents=True)
    for k, name in enumerate(["CXR1_IM-0001-1001", "CXR1_IM.0001-2001", "CXR2_IM-0002-1001"]):
        write_png(root / "NLMCXR_png" / f"{name}.png", seed=k)
    return root


def test_openi_ids_fold_and_report_bytes_are_replaced_and_noted(openi_root, vocabulary):
    reports = openi_root / "ecgen-radiology"
    xml = _xml("CXR1", ["CXR1_IM-0001-1001", "CXR1_IM.0001-2001"], findings="Caf\xe9 \x85ok")
    (reports / "1.xml").write_bytes(xml.encode("latin-1"))  # declared utf-8
    xml = _xml("CXR2", ["CXR2_IM-0002-1001"], findings="Clear &#x9b;lungs&#x85;.")
    (reports / "2.xml").write_bytes(xml.encode())
    manifest, rejects, corrections = OpenI(openi_root, vocabulary).read()
    assert manifest["sample_id"].tolist() == [
        "openi-cxr1_im-0001-1001",
        "openi-cxr1_im_0001-2001",
        "openi-cxr2_im-0002-1001",
    ]
    assert manifest["report_findings"].tolist() == ["Caf\ufffd \ufffdok"] * 2 + ["Clear lungs ."]
    assert len(rejects) == 0
    assert (
        corrections[["reason", "file"]].values.tolist()
        == [[UNDECODABLE_TEXT, "ecgen-radiology/1.xml"]] * 2
    )


def test_openi_entity_tricks_are_bad_xml(openi_root, vocabulary):
    reports = openi_root / "ecgen-radiology"
    laughs = '<!DOCTYPE eCitation [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;">]>'
    (reports / "1.xml").write_text(_xml("CXR1", ["CXR1_IM-0001-1001"], findings="&b;"))
    text = (reports / "1.xml").read_text().replace("?><eCitation>", f"?>{laughs}<eCitation>")
    (reports / "1.xml").write_text(text)
    (reports / "2.xml").write_text(_xml("CXR2", ["CXR2_IM-0002-1001"]))
    manifest, rejects, _ = OpenI(openi_root, vocabulary).read()
    assert manifest["sample_id"].tolist() == ["openi-cxr2_im-0002-1001"]
    assert rejects[["reason", "file", "row"]].values.tolist() == [
        ["bad_xml", "ecgen-radiology/1.xml", 1]
    ]
    assert "entities are not allowed" in rejects.iloc[0].detail


REPORT = _xml("CXR1", ["CXR1_IM-0001-1001", "CXR1_IM.0001-2001"], findings="Clear.").encode()


@settings(
    database=None,
    deadline=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    st.integers(0, len(REPORT)),
    st.integers(0, 40),
    st.one_of(st.binary(max_size=30), st.sampled_from([b"&", b"<", b"\xe9", b"\x00", b"&#x85;"])),
)
def test_openi_reader_over_random_bytes(vocabulary, at, cut, junk):
    """A report with random bytes put in (or cut out): no crash; either its images are
    records of clean text, or each loss is a reject naming the report file."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "openi"
        (root / "ecgen-radiology").mkdir(parents=True)
        (root / "NLMCXR_png").mkdir()
        for name in ["CXR1_IM-0001-1001", "CXR1_IM.0001-2001"]:
            (root / "NLMCXR_png" / f"{name}.png").write_bytes(b"png")  # not decoded here
        (root / "ecgen-radiology" / "1.xml").write_bytes(REPORT[:at] + junk + REPORT[at + cut :])
        manifest, rejects, corrections = OpenI(root, vocabulary).read()
    assert set(rejects["file"]) <= {"ecgen-radiology/1.xml"}
    assert set(rejects["reason"]) <= {"bad_xml", "no_images", "missing_file", "outside_raw_root"}
    assert len(manifest) + len(rejects) >= 1
    assert manifest["sample_id"].str.fullmatch(r"openi-[a-z0-9_-]+").all()
    for column in ("report_findings", "report_impression", "patient_id", "study_id"):
        for value in manifest[column].dropna():
            assert clean_text(value) == value
    assert set(corrections["reason"]) <= {UNDECODABLE_TEXT}


def test_chexpert_bad_bytes_in_index_and_captions_are_rows_not_crashes(tmp_path, vocabulary):
    root = tmp_path / "CheXpert-v1.0-small"
    paths = [f"train/patient0000{k}/study1/view1_frontal.jpg" for k in (1, 2, 3)]
    for k, rel in enumerate(paths):
        write_jpeg(root / rel, seed=k)
    header = ",".join(chexpert.META_COLUMNS + chexpert.LABEL_COLUMNS).encode()
    blanks = b"," * (len(chexpert.LABEL_COLUMNS) - 1)
    rows = [f"CheXpert-v1.0-small/{p},Female,60,Frontal,AP,".encode() + blanks for p in paths]
    rows[1] = rows[1].replace(b"Female", b"F\xe9male")
    (root / "train.csv").write_bytes(b"\n".join([header, *rows]) + b"\n")
    (root / chexpert.UNIMED_CAPTIONS).write_bytes(
        b"path,x,captions\n"
        + f"\"['{paths[0]}']\",1,\"['Clear\x01 lungs.']\"\n".encode()
        + f"\"['{paths[2]}']\",1,\"['Caf".encode()
        + b"\xe9.']\"\n"
    )
    manifest, rejects, _ = CheXpert(root, vocabulary).read()
    assert manifest["sample_id"].tolist() == [
        "chexpert-patient00001_study1_view1_frontal",
        "chexpert-patient00003_study1_view1_frontal",
    ]
    # an Arrow list column: a missing cell is NA in memory, None once written (as ever)
    assert list_values(manifest["source_captions"]) == [["Clear lungs."], None]
    assert rejects[["reason", "file", "row"]].values.tolist() == [["bad_csv_row", "train.csv", 3]]
    assert "column 'Sex': bytes that are not UTF-8" in rejects.iloc[0].detail
