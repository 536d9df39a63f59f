"""Splits that represent the data: on a realistic multi-film-per-patient distribution,
val and test look like train (prevalence, images per patient, view mix), and the
official splits are still honoured."""

import numpy as np
import pandas as pd
import pytest

from unimed_kedro.reporting.summary import split_balance
from unimed_kedro.splitting.assign import assign_splits

PARAMS = {
    "seed": 42,
    "ratios": {"train": 0.8, "val": 0.1, "test": 0.1},
    "use_official_split": True,
    "keep_official_val": True,
}
LABELS = ["label_pneumothorax", "label_edema", "label_effusion", "label_no_finding"]
# bounds on the ratio of a split's value to the whole collection's
PREVALENCE_BOUNDS = (0.85, 1.15)  # labels with >= 3 % prevalence
IMAGES_PER_PATIENT_BOUNDS = (0.85, 1.15)
VIEW_BOUNDS = (0.85, 1.15)


def _films_per_patient(rng: np.random.Generator, patients: int) -> np.ndarray:
    """In the shape of NIH ChestX-ray14 (30,805 patients, 112,120 films, follow-ups up to
    183): most patients have one film, a long tail has dozens."""
    counts = rng.zipf(1.9, patients)
    return np.minimum(counts, 180)


def nih_like(patients: int = 6000, seed: int = 0, source: str = "nih") -> pd.DataFrame:
    """Sicker patients have more films, more findings and more AP (bedside) films, as in
    the real index: the bias a largest-first split turns into a skewed val/test."""
    rng = np.random.default_rng(seed)
    counts = _films_per_patient(rng, patients)
    patient = np.repeat(np.arange(patients), counts)
    films = counts[patient]
    severity = np.log1p(films) / np.log1p(180)  # 0 .. 1
    n = len(patient)
    frame = pd.DataFrame(
        {
            "sample_id": [f"{source}-{i:07d}" for i in range(n)],
            "source": source,
            "patient_id": [f"{source}:{p}" for p in patient],
            "sha256": [f"{source}{i}" for i in range(n)],
            "official_split": None,
            "view": np.where(rng.random(n) < 0.15 + 0.6 * severity, "AP", "PA"),
            "label_pneumothorax": (rng.random(n) < 0.01 + 0.12 * severity).astype(float),
            "label_edema": (rng.random(n) < 0.005 + 0.06 * severity).astype(float),
            "label_effusion": (rng.random(n) < 0.05 + 0.2 * severity).astype(float),
        }
    )
    findings = frame[LABELS[:3]].sum(axis=1)
    frame["label_no_finding"] = (findings == 0).astype(float)
    return frame


def _overall(frame: pd.DataFrame, mix: tuple[str, ...] = ("view",)) -> pd.DataFrame:
    balance = split_balance(frame, LABELS, mix)
    return balance[balance["source"].eq("all")].set_index("split")


def _assert_within(value: float, whole: float, bounds: tuple[float, float], what: str) -> None:
    ratio = value / whole
    assert bounds[0] <= ratio <= bounds[1], f"{what}: {value:.4f} vs {whole:.4f} ({ratio:.2f}x)"


@pytest.fixture(scope="module")
def split_frame() -> pd.DataFrame:
    frame = nih_like()
    frame["split"] = assign_splits(frame, LABELS, PARAMS)
    return frame


def test_the_distribution_is_skewed_like_the_real_one(split_frame):
    films = split_frame.groupby("patient_id").size()
    assert films.max() >= 50 and (films == 1).mean() > 0.5
    assert split_frame["sample_id"].size > 3 * films.size  # many films per patient on average


def test_shares_follow_the_ratios(split_frame):
    shares = split_frame["split"].value_counts(normalize=True)
    for split, want in PARAMS["ratios"].items():
        assert abs(shares[split] - want) < 0.01, shares.to_dict()


def test_label_prevalence_is_alike_in_every_split(split_frame):
    overall = split_frame[LABELS].mean()
    table = _overall(split_frame)
    for label in LABELS:
        if overall[label] < 0.03:
            continue
        for split in ("train", "val", "test"):
            _assert_within(table.loc[split, label], overall[label], PREVALENCE_BOUNDS, label)


def test_images_per_patient_and_view_mix_are_alike(split_frame):
    table = _overall(split_frame)
    per_patient = len(split_frame) / split_frame["patient_id"].nunique()
    ap_share = split_frame["view"].eq("AP").mean()
    for split in ("train", "val", "test"):
        _assert_within(
            table.loc[split, "images_per_patient"],
            per_patient,
            IMAGES_PER_PATIENT_BOUNDS,
            f"{split} images per patient",
        )
        _assert_within(table.loc[split, "view=AP"], ap_share, VIEW_BOUNDS, f"{split} AP share")


def test_official_splits_still_honoured_beside_a_balanced_source():
    official = nih_like(patients=1500, seed=1, source="chexpert")
    patients = official["patient_id"].str.split(":").str[1].astype(int)
    official["official_split"] = np.where(patients % 10 == 0, "val", "train")
    frame = pd.concat([nih_like(seed=2), official], ignore_index=True)
    frame["split"] = assign_splits(frame, LABELS, PARAMS)
    is_val = frame["official_split"].eq("val")
    assert frame.loc[is_val, "split"].eq("val").all()
    nih = frame[frame["source"].eq("nih")]
    table = _overall(nih)
    for split in ("train", "val", "test"):
        _assert_within(
            table.loc[split, "label_effusion"],
            nih["label_effusion"].mean(),
            PREVALENCE_BOUNDS,
            f"nih {split} effusion",
        )


def test_split_balance_columns():
    frame = pd.DataFrame(
        {
            "source": ["a", "a", "a", "b"],
            "patient_id": ["p", "p", "q", "r"],
            "split": ["train", "train", "val", "train"],
            "view": ["PA", None, "AP", "PA"],
            "label_edema": [1.0, None, 0.0, 0.0],
        }
    )
    balance = split_balance(frame, ["label_edema"], ("view",))
    train = balance[balance["source"].eq("all") & balance["split"].eq("train")].iloc[0]
    assert train["samples"] == 3 and train["patients"] == 2
    assert train["images_per_patient"] == 1.5
    assert train["label_edema"] == 0.5  # among the annotated samples only
    assert train["view=PA"] == round(2 / 3, 4) and train["view=unknown"] == round(1 / 3, 4)
    test = balance[balance["source"].eq("a") & balance["split"].eq("test")].iloc[0]
    assert test["samples"] == 0 and pd.isna(test["images_per_patient"])
    with pytest.raises(KeyError, match="no column 'modality'"):
        split_balance(frame, [], ("modality",))
