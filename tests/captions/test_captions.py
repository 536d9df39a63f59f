import math
import random

import pandas as pd

from tests.conftest import CXR_SOURCES, source_infos
from unimed_kedro.captions.cxr.records import caption_records
from unimed_kedro.captions.cxr.structured import structured_caption
from unimed_kedro.captions.cxr.text import (
    annotated_labels,
    annotated_rows,
    clean_report_text,
    label_caption,
    report_caption,
)
from unimed_kedro.captions.seeded import sample_rng
from unimed_kedro.schema import row_dicts


def _row(**labels):
    row = {
        "sample_id": "nih-00000001_000",
        "source": "nih",
        "patient_id": "nih:00000001",
        "study_id": "00000001_000",
        "view": "PA",
        "sex": "M",
        "age": 58.0,
        "official_split": "test",
        "license": "CC0",
        "report_findings": None,
        "report_impression": None,
        "source_captions": None,
    }
    row.update({f"label_{k}": v for k, v in labels.items()})
    return row


def test_report_text_cleaning():
    assert clean_report_text("Normal chest x-XXXX.", ["XXXX"]) is None  # not "Normal chest x."
    assert clean_report_text("XXXX XXXX.", ["XXXX"]) is None
    assert clean_report_text(float("nan"), ["XXXX"]) is None
    assert clean_report_text("Lungs clear. Central airways are XXXX.", ["XXXX"]) == "Lungs clear."
    assert report_caption("Lungs are clear", "No acute process.", []) == (
        "Lungs are clear. No acute process."
    )
    assert report_caption(None, None, []) is None
    assert report_caption(
        "The heart and pulmonary XXXX are normal. No effusion", "Normal chest x-XXXX.", ["XXXX"]
    ) == ("No effusion.")


def test_a_report_redaction_leaves_unreadable_falls_back_and_stays_marked(cxr_params, vocabulary):
    """Every sentence broken by a token: the caption is the next kind of the priority; the
    report as written reaches `report_text` with each token as the one marker."""
    rows = [_row(cardiomegaly=1.0), _row(), _row()]
    rows[0].update(
        sample_id="openi-a",
        report_findings="XXXX XXXX are intact.",
        report_impression="Normal chest x-XXXX.",
    )
    rows[1].update(
        sample_id="mimic-b",
        report_findings="Lungs are clear. Dr. ___ was notified at 10:00 on ___.",
        report_impression=None,
    )
    out = caption_records(
        pd.DataFrame(rows), source_infos(CXR_SOURCES), cxr_params["caption"], vocabulary
    )
    assert list(out["caption_kind"]) == ["labels", "report", "labels"]
    assert out.loc[1, "caption"] == "Lungs are clear."
    assert out.loc[0, "report_text"] == (
        "FINDINGS: [REDACTED] [REDACTED] are intact. IMPRESSION: Normal chest x-[REDACTED]."
    )
    assert out.loc[1, "report_text"] == (
        "FINDINGS: Lungs are clear. Dr. [REDACTED] was notified at 10:00 on [REDACTED]."
    )
    assert pd.isna(out.loc[2, "report_text"])  # no report: missing (NaN once in parquet)
    structured = out.loc[1, "structured_caption"]
    assert "=== FINDINGS ===\nLungs are clear.\n" in structured and "___" not in structured


def test_label_caption_is_seeded_per_sample(cxr_params, vocabulary):
    params, union = cxr_params["caption"], vocabulary["labels"]["union"]
    row = _row(cardiomegaly=1.0, effusion=-1.0, mass=0.0, nodule=0.0)
    first = label_caption(row, sample_rng(42, row["sample_id"]), params, union)
    again = label_caption(row, sample_rng(42, row["sample_id"]), params, union)
    assert first == again
    assert "cardiomegaly" in first and "possible pleural effusion" in first
    assert "No evidence of" in first and first[0].isupper()
    texts = {
        label_caption(row, sample_rng(seed, row["sample_id"]), params, union) for seed in range(30)
    }
    assert len(texts) > 1  # templates really vary with the seed


def test_label_caption_normal_and_unlabelled(cxr_params, vocabulary):
    params, union = cxr_params["caption"], vocabulary["labels"]["union"]
    normal = label_caption(_row(no_finding=1.0), sample_rng(1, "x"), params, union)
    assert any(word in normal.lower() for word in ("normal", "no acute", "without"))
    bare = label_caption(_row(), sample_rng(1, "x"), params, union)
    assert bare.lower().endswith("chest radiograph.")


def test_structured_caption_sections(cxr_params, vocabulary):
    text = structured_caption(
        _row(cardiomegaly=1.0, edema=-1.0, mass=0.0),
        source_title="NIH ChestX-ray14",
        params=cxr_params["caption"]["structured"],
        union=vocabulary["labels"]["union"],
        redactions=["XXXX"],
    )
    lines = text.splitlines()
    assert lines[:5] == [
        "SOURCE: NIH ChestX-ray14",
        "PATIENT_ID: 00000001",
        "STUDY_ID: 00000001_000",
        "VIEW_POSITION: PA",
        "IMAGE_ID: 00000001_000",
    ]
    for header in (
        "=== FINDINGS ===",
        "=== IMPRESSION ===",
        "=== STRUCTURED LABELS ===",
        "=== METADATA ===",
    ):
        assert header in lines
    assert "Cardiomegaly: positive" in lines and "Edema: uncertain" in lines
    assert "Mass: negative" in lines and not any(line.startswith("Fracture:") for line in lines)
    assert "Patient Age: 58" in lines and "consistent with cardiomegaly" in text


def test_structured_labels_section_of_an_unlabelled_study_is_empty(cxr_params, vocabulary):
    text = structured_caption(
        _row(),
        source_title="NIH ChestX-ray14",
        params=cxr_params["caption"]["structured"],
        union=vocabulary["labels"]["union"],
        redactions=["XXXX"],
    )
    lines = text.splitlines()
    start = lines.index("=== STRUCTURED LABELS ===")
    # the header, then the blank line that ends the section: no placeholder line
    assert lines[start + 1 : start + 3] == ["", "=== METADATA ==="]
    assert "no labels" not in text


def test_caption_priority_report_then_shipped_then_labels(cxr_params, vocabulary):
    rows = [_row(cardiomegaly=1.0), _row(cardiomegaly=1.0), _row(cardiomegaly=1.0)]
    rows[0].update(sample_id="nih-a", report_findings="Enlarged heart.")
    rows[1].update(sample_id="nih-b", source_captions=["Shipped caption."])
    rows[2].update(sample_id="nih-c")
    out = caption_records(
        pd.DataFrame(rows), source_infos(CXR_SOURCES), cxr_params["caption"], vocabulary
    )
    assert list(out["caption_kind"]) == ["report", "source_captions", "labels"]
    assert out.loc[0, "caption"] == "Enlarged heart."
    assert out.loc[1, "caption"] == "Shipped caption."
    assert out["structured_caption"].str.startswith("SOURCE: NIH ChestX-ray14").all()


def test_annotated_rows_match_annotated_labels_row_by_row(vocabulary):
    union = vocabulary["labels"]["union"]
    nan = math.nan
    frame = pd.DataFrame(
        {
            "sample_id": ["a", "b", "c", "d", "e"],
            "label_cardiomegaly": [1.0, -0.0, nan, 2.0, 1.0],  # float: the vectorised path
            "label_edema": [-1.0, 0.0, 0.0, nan, -1.0],
            "label_effusion": pd.Series([1.0, None, True, "1", 1], dtype=object),  # lookup path
            "label_mass": pd.array([1, None, 0, -1, 1], dtype="Int64"),
        }
    )  # no other label column: not annotated
    expected = [annotated_labels(row, union) for row in row_dicts(frame)]
    got = annotated_rows(frame, union)
    assert got == expected
    assert got[0] is got[4]  # one tuple per distinct label combination


def test_sample_rng_reseeded_in_place_matches_a_new_generator():
    spare = random.Random(0)
    for sample_id in ("nih-a", "chexpert-b"):
        fresh = sample_rng(42, sample_id)
        reused = sample_rng(42, sample_id, spare)
        assert reused is spare
        assert [reused.random() for _ in range(5)] == [fresh.random() for _ in range(5)]


def test_caption_node_takes_columns_no_present_source_fills(cxr_params, vocabulary):
    """Records of a build without the sources that ship captions or annotate labels (issue
    15): the shipped-captions column all-NaN floats, label columns all-None objects, and no
    records at all; captions come from what is there."""
    rows = [_row(cardiomegaly=1.0), _row()]
    rows[1].update(sample_id="nih-b")
    frame = pd.DataFrame(rows).assign(source_captions=math.nan)  # float64, NaN everywhere
    frame["label_edema"] = pd.Series([None, None], dtype=object)
    out = caption_records(frame, source_infos(CXR_SOURCES), cxr_params["caption"], vocabulary)
    assert list(out["caption_kind"]) == ["labels", "labels"]
    assert "cardiomegaly" in out.loc[0, "caption"] and out["caption"].str.strip().all()
    empty = frame.iloc[:0].astype(object)
    out = caption_records(empty, source_infos(CXR_SOURCES), cxr_params["caption"], vocabulary)
    assert len(out) == 0
    assert {"caption", "caption_kind", "structured_caption", "report_text"} <= set(out)
