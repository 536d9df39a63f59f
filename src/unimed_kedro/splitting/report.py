"""Split report and the leakage check that guards every split."""

from __future__ import annotations

import pandas as pd

from unimed_kedro.schema import SPLITS


def check_no_leakage(frame: pd.DataFrame) -> None:
    """Raise if a patient or an exact-duplicate image sits in two splits."""
    for column in ("patient_id", "sha256"):
        spread = frame.groupby(column)["split"].nunique()
        leaking = spread[spread > 1]
        if len(leaking):
            raise AssertionError(
                f"{column} values in more than one split: {list(leaking.index[:5])}"
            )


def split_report(frame: pd.DataFrame, label_cols: list[str]) -> pd.DataFrame:
    """Samples, patients and positive rate of each label per (source, split), plus totals."""
    rows = []
    scopes = [(s, frame[frame["source"].eq(s)]) for s in sorted(frame["source"].unique())]
    for source, part in scopes + [("all", frame)]:
        for split in SPLITS:
            sub = part[part["split"].eq(split)]
            row = {
                "source": source,
                "split": split,
                "samples": len(sub),
                "patients": sub["patient_id"].nunique(),
                "share": round(len(sub) / len(part), 4) if len(part) else 0.0,
            }
            for column in label_cols:
                annotated = sub[column].notna().sum()
                positive = sub[column].eq(1.0).sum()
                row[column] = round(positive / annotated, 4) if annotated else None
            rows.append(row)
    return pd.DataFrame(rows)
