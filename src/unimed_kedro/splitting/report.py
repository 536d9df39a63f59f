"""The leakage check that guards every split (what each split holds is reported by
`reporting.summary.split_balance`)."""

from __future__ import annotations

import pandas as pd


def check_no_leakage(frame: pd.DataFrame) -> None:
    """Raise if a patient or an exact-duplicate image sits in two splits."""
    for column in ("patient_id", "sha256"):
        spread = frame.groupby(column)["split"].nunique()
        leaking = spread[spread > 1]
        if len(leaking):
            raise AssertionError(
                f"{column} values in more than one split: {list(leaking.index[:5])}"
            )
