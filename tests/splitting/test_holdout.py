"""Evaluation hold-out and cross-source dedup of a pretraining set."""

from __future__ import annotations

import pandas as pd

from unimed_kedro.splitting.holdout import overlap, select


def frame(rows: list[tuple[str, str, str, str | None, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        rows, columns=["sample_id", "source", "patient_id", "official_split", "sha256"]
    ).assign(raw_relpath=lambda f: f["sample_id"] + ".jpg")


ROWS = [
    ("mimic-1", "mimic", "mimic:p1", "test", "a"),
    ("mimic-2", "mimic", "mimic:p1", "train", "b"),  # same patient as a test record
    ("mimic-3", "mimic", "mimic:p2", "train", "c"),
    ("pmc_oa-x", "pmc_oa", "pmc_oa:x", None, "b"),  # a copy of a held-out image
    ("pmc_oa-y", "pmc_oa", "pmc_oa:y", None, "d"),
    ("rocov2-y", "rocov2", "rocov2:y", "train", "d"),  # same bytes as pmc_oa-y
    ("llava-y", "llava", "llava:y", None, "d"),
    ("llava-z", "llava", "llava:z", None, "e"),
]


def test_evaluation_records_their_patients_and_copies_are_held_out() -> None:
    kept, rejects = select(frame(ROWS), ["rocov2", "pmc_oa"])
    held = rejects[rejects["reason"].eq("official_eval_split")]
    assert sorted(held["sample_id"]) == ["mimic-1", "mimic-2", "pmc_oa-x"]
    assert set(held["detail"]) == {"held out with evaluation sample mimic-1"}


def test_one_copy_per_image_by_source_priority() -> None:
    kept, rejects = select(frame(ROWS), ["rocov2", "pmc_oa"])
    assert sorted(kept["sample_id"]) == ["llava-z", "mimic-3", "rocov2-y"]
    dups = rejects[rejects["reason"].eq("duplicate")].set_index("sample_id")["detail"]
    assert dups.to_dict() == {
        "pmc_oa-y": "same image bytes as rocov2-y, kept by source priority",
        "llava-y": "same image bytes as rocov2-y, kept by source priority",
    }


def test_without_hold_out_evaluation_data_stays() -> None:
    kept, rejects = select(frame(ROWS), [], exclude_evaluation=False)
    assert "mimic-1" in set(kept["sample_id"])
    assert set(rejects["reason"]) == {"duplicate"}


def test_overlap_counts_images_per_pair_of_sources() -> None:
    table = overlap(frame(ROWS))
    assert table.to_dict("records") == [
        {"source_a": "llava", "source_b": "pmc_oa", "shared_images": 1},
        {"source_a": "llava", "source_b": "rocov2", "shared_images": 1},
        {"source_a": "mimic", "source_b": "pmc_oa", "shared_images": 1},
        {"source_a": "pmc_oa", "source_b": "rocov2", "shared_images": 1},
    ]
