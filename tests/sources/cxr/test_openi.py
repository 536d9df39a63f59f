from pathlib import Path

import pytest

from tests.sources.helpers import write_png
from unimed_kedro.sources.cxr.openi import OpenI


def _xml(uid: str, images: list[str], findings: str = "", mesh: str = "normal") -> str:
    parents = "".join(
        f'<parentImage id="{i}"><figureId>F1</figureId><caption>Xray Chest PA '
        f'and Lateral</caption><panel type="single"><url>/hadoop/storage/'
        f"radiology/extract/{i}.jpg</url></panel></parentImage>"
        for i in images
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><eCitation><uId id="{uid}"/>'
        f"<MedlineCitation><Article><Abstract>"
        f'<AbstractText Label="COMPARISON">None.</AbstractText>'
        f'<AbstractText Label="INDICATION">XXXX-year-old male, cough</AbstractText>'
        f'<AbstractText Label="FINDINGS">{findings}</AbstractText>'
        f'<AbstractText Label="IMPRESSION">Normal chest x-XXXX.</AbstractText>'
        f"</Abstract></Article></MedlineCitation>"
        f"<MeSH><major>{mesh}</major></MeSH>{parents}</eCitation>"
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "openi"
    reports = root / "ecgen-radiology"
    reports.mkdir(parents=True)
    write_png(root / "NLMCXR_png" / "CXR1_1_IM-0001-3001.png")
    write_png(root / "NLMCXR_png" / "CXR1_1_IM-0001-4001.png", seed=1)
    write_png(root / "NLMCXR_png" / "CXR2_IM-0652-1001.png", seed=2)
    (reports / "1.xml").write_text(_xml("CXR1", ["CXR1_1_IM-0001-3001", "CXR1_1_IM-0001-4001"]))
    (reports / "2.xml").write_text(
        _xml(
            "CXR2",
            ["CXR2_IM-0652-1001", "CXR2_IM-0652-2001", "../../../etc/passwd"],
            findings="Heart size is enlarged.",
            mesh="Cardiomegaly/mild",
        )
    )
    (reports / "3.xml").write_text(_xml("CXR3", []))
    (reports / "10.xml").write_text(_xml("CXR10", ["CXR10_IM-0001-1001"])[:120])
    return root


def test_records(root, vocabulary):
    manifest, _, _ = OpenI(root, vocabulary).read()
    assert list(manifest["sample_id"]) == [
        "openi-cxr1_1_im-0001-3001",
        "openi-cxr1_1_im-0001-4001",
        "openi-cxr2_im-0652-1001",
    ]
    first = manifest.iloc[0]
    assert first.patient_id == "openi:CXR1" and first.view == "UNKNOWN"
    assert first.raw_relpath == "NLMCXR_png/CXR1_1_IM-0001-3001.png"
    assert first.report_impression == "Normal chest x-XXXX."
    assert first.label_no_finding == 1 and first.label_cardiomegaly == 0
    third = manifest.iloc[2]
    assert third.label_cardiomegaly == 1 and third.label_no_finding == 0
    assert third.report_findings == "Heart size is enlarged."


def test_rejects(root, vocabulary):
    _, rejects, _ = OpenI(root, vocabulary).read()
    got = sorted(zip(rejects["reason"], rejects["file"]))
    assert got == [
        ("bad_xml", "ecgen-radiology/10.xml"),
        ("missing_file", "ecgen-radiology/2.xml"),
        ("no_images", "ecgen-radiology/3.xml"),
        ("outside_raw_root", "ecgen-radiology/2.xml"),
    ]
