"""The leakage check that guards every split (what each split holds is reported by
`reporting.summary.split_balance`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd


def check_no_leakage(frame: pd.DataFrame, texts: Mapping[str, Any] | None = None) -> None:
    """Raise if a patient or an exact-duplicate image sits in two splits. `texts`: the
    text of each code, for a column read as numbers (the message names the values)."""
    for column in ("patient_id", "sha256"):
        spread = frame.groupby(column)["split"].nunique()
        leaking = list(spread[spread > 1].index[:5])
        if leaking:
            named = (texts or {}).get(column)
            if named is not None:
                leaking = [str(named[int(code)]) for code in leaking]
            raise AssertionError(f"{column} values in more than one split: {leaking}")
