"""Small exported-sample tables for the reporting tests."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import encode, radiograph
from unimed_kedro.schema import rejects_frame

NAMES = {"no_finding": "No Finding", "effusion": "Pleural Effusion", "hernia": "Hernia"}


@pytest.fixture
def samples() -> pd.DataFrame:
    """Six exported samples: chexpert annotates no_finding/effusion (with an uncertain),
    nih all three labels."""
    nan = float("nan")
    rows = [
        ("chexpert-p1_s1", "chexpert", "chexpert:p1", "train", 1.0, 0.0, nan, "report"),
        ("chexpert-p2_s1", "chexpert", "chexpert:p2", "train", 0.0, -1.0, nan, "labels"),
        ("chexpert-p3_s1", "chexpert", "chexpert:p3", "val", 0.0, 1.0, nan, "labels"),
        ("nih-00000001_000", "nih", "nih:00000001", "train", 0.0, 1.0, 1.0, "labels"),
        ("nih-00000002_000", "nih", "nih:00000002", "test", 1.0, 0.0, 0.0, "labels"),
        ("nih-00000002_001", "nih", "nih:00000002", "test", 1.0, 0.0, 0.0, "labels"),
    ]
    frame = pd.DataFrame(
        rows,
        columns=[
            "sample_id",
            "source",
            "patient_id",
            "split",
            "label_no_finding",
            "label_effusion",
            "label_hernia",
            "caption_kind",
        ],
    )
    frame["caption"] = [
        f"Caption of {s} | with a pipe and <b>markup</b>." for s in frame["sample_id"]
    ]
    return frame


@pytest.fixture
def statistics() -> dict:
    return {
        "exported": 6,
        "rejected": 3,
        "splits": {"train": 3, "val": 1, "test": 2},
        "sources": {
            "chexpert": {
                "raw_records": 5,
                "exported": 3,
                "rejected": 2,
                "patients": 3,
                "rejected_by_reason": {"missing_file": 1, "too_small": 1},
                "conserved": True,
            },
            "nih": {
                "raw_records": 4,
                "exported": 3,
                "rejected": 1,
                "patients": 2,
                "rejected_by_reason": {"missing_file": 1},
                "conserved": True,
            },
        },
    }


@pytest.fixture
def rejects() -> pd.DataFrame:
    return rejects_frame(
        [
            {
                "source": "chexpert",
                "sample_id": "chexpert-p9_s1",
                "file": "train.csv",
                "row": 7,
                "stage": "ingest",
                "reason": "missing_file",
                "detail": "image 'x.jpg' not found",
            },
            {
                "source": "chexpert",
                "sample_id": "chexpert-p8_s1",
                "file": "train/p8/s1/v.jpg",
                "row": None,
                "stage": "normalize",
                "reason": "too_small",
                "detail": "shorter side 96px, expected >= 256px",
            },
            {
                "source": "nih",
                "sample_id": "nih-00000009_000",
                "file": "Data_Entry_2017.csv",
                "row": 3,
                "stage": "ingest",
                "reason": "missing_file",
                "detail": "a | b",
            },
        ]
    )


@pytest.fixture(scope="session")
def jpeg() -> bytes:
    return encode(radiograph(240, 300), quality=90)


@pytest.fixture
def corrections() -> pd.DataFrame:
    """Two impossible NIH ages and one impossible CheXpert age, kept as unknown."""

    def age(source: str, sample_id: str, file: str, row: int, value: str) -> dict:
        return {
            "source": source,
            "sample_id": sample_id,
            "file": file,
            "row": row,
            "stage": "ingest",
            "reason": "age_out_of_range",
            "detail": f"column 'Age': age {value!r} is impossible (expected 0..130 "
            "years); kept as unknown",
        }

    return rejects_frame(
        [
            age("chexpert", "chexpert-p1_s1", "train.csv", 2, "148"),
            age("nih", "nih-00000001_000", "Data_Entry_2017.csv", 2, "413"),
            age("nih", "nih-00000002_000", "Data_Entry_2017.csv", 4, "150"),
        ]
    )
