from pathlib import Path

import pandas as pd
import pytest

from tests.sources.helpers import write_png
from unimed_kedro.sources.cxr.openi import OpenI


def _xml(
    uid: str,
    images: list[str],
    findings: str = "",
    mesh: str | tuple[str, ...] = "normal",
    automatic: tuple[str, ...] = (),
    impression: str = "Normal chest x-XXXX.",
) -> str:
    majors = (mesh,) if isinstance(mesh, str) else mesh
    terms = "".join(f"<major>{m}</major>" for m in majors) + "".join(
        f"<automatic>{a}</automatic>" for a in automatic
    )
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
        f'<AbstractText Label="IMPRESSION">{impression}</AbstractText>'
        f"</Abstract></Article></MedlineCitation>"
        f"<MeSH>{terms}</MeSH>{parents}</eCitation>"
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


def _labels_of(tmp_path: Path, vocabulary: dict, **report) -> pd.Series:
    """The label columns of the one image of a report `_xml(**report)` describes."""
    root = tmp_path / "openi"
    (root / "ecgen-radiology").mkdir(parents=True)
    write_png(root / "NLMCXR_png" / "CXR3412_IM-1650-1001-0001.png")
    xml = _xml("CXR3412", ["CXR3412_IM-1650-1001-0001"], **report)
    (root / "ecgen-radiology" / "3412.xml").write_text(xml)
    manifest, rejects, _ = OpenI(root, vocabulary).read()
    assert rejects.empty and len(manifest) == 1
    return manifest.filter(like="label_").iloc[0]


@pytest.mark.parametrize(
    "automatic,impression",
    [
        ((), "No active disease."),
        # real report 3412: its only term comes from "could obscure a small pulmonary nodule"
        (("nodule",), "No acute cardiopulmonary disease. No evidence of pneumonia."),
    ],
)
def test_a_report_tagged_no_indexing_is_not_annotated(tmp_path, vocabulary, automatic, impression):
    labels = _labels_of(
        tmp_path,
        vocabulary,
        findings="The lungs are clear. There is no pneumonia.",
        mesh="No Indexing",
        automatic=automatic,
        impression=impression,
    )
    assert labels.isna().all(), labels.dropna().to_dict()


def test_mesh_plurals_and_variants_map_to_their_labels(tmp_path, vocabulary):
    # as real report 28 and others: manual headings with places, plural automatic terms
    labels = _labels_of(
        tmp_path,
        vocabulary,
        findings="Bilateral patchy opacities. Small bilateral pleural effusions.",
        mesh=("Opacity/lung/base/bilateral/patchy", "Pulmonary Atelectasis/base/left"),
        automatic=(
            "atelectases",
            "infiltrates",
            "pleural effusions",
            "Pleural Effusions",
            "emphysemas",
            "edemas",
            "hiatal hernia",
            "rib fracture",
            "Pacemaker, Artificial",
        ),
        impression="Atelectasis/infiltrate.",
    )
    positive = sorted(k for k, v in labels.items() if v == 1)
    assert positive == [
        "label_atelectasis",
        "label_edema",
        "label_effusion",
        "label_emphysema",
        "label_fracture",
        "label_hernia",
        "label_infiltration",
        "label_lung_opacity",
        "label_support_devices",
    ]
    assert labels["label_no_finding"] == 0 and labels["label_pneumothorax"] == 0


def test_an_automatic_term_the_report_negates_is_no_positive(tmp_path, vocabulary):
    # real report 3584: "no ... large pleural effusion" still gives the automatic term
    labels = _labels_of(
        tmp_path,
        vocabulary,
        findings="",
        mesh=("Lung/hypoinflation", "Pulmonary Atelectasis/base/left"),
        automatic=("atelectases", "pneumonia", "Atelectasis", "Pleural Effusion", "Pneumonia"),
        impression="The lungs are hypoinflated. There is focal airspace disease in the right "
        "lung base concerning for pneumonia or aspiration. There is minimal airspace disease "
        "in the left lung base, XXXX atelectasis. There is no pneumothorax or large pleural "
        "effusion. Heart size is normal.",
    )
    assert labels["label_effusion"] == 0
    assert labels["label_pneumonia"] == 1 and labels["label_atelectasis"] == 1


@pytest.mark.parametrize(
    "findings,automatic,label,expected",
    [
        # real report 349: a plural term taken from a negated sentence
        (
            "Lungs are otherwise clear. No pleural effusions or pneumothorax.",
            "pleural effusions",
            "effusion",
            0,
        ),
        # real report 1695: the cue is several words before the term
        (
            "There is no focal air space opacity to suggest a pneumonia.",
            "pneumonia",
            "pneumonia",
            0,
        ),
        # one mention negated, another not: a positive (real report 2885)
        (
            "Lucency through the right 12th rib, concerning for acute fracture. No other "
            "fractures are identified.",
            "fracture",
            "fracture",
            1,
        ),
        # "no change in" negates nothing, nor does a cue in another clause
        ("No significant change in right pneumothorax.", "pneumothorax", "pneumothorax", 1),
        ("Without comparisons, this may represent a focal pneumonia.", "pneumonia", "pneumonia", 1),
        ("Non-displaced left rib fracture.", "non-displaced fracture", "fracture", 1),
        # a term the text never names is the indexer's word, taken as given
        ("The heart is enlarged.", "infiltrates", "infiltration", 1),
    ],
)
def test_negation_is_read_from_the_sentences_naming_the_term(
    tmp_path, vocabulary, findings, automatic, label, expected
):
    labels = _labels_of(
        tmp_path,
        vocabulary,
        findings=findings,
        mesh="Cardiomegaly",
        automatic=(automatic,),
        impression="",
    )
    assert labels[f"label_{label}"] == expected and labels["label_cardiomegaly"] == 1
