"""Chest X-ray cell values: CheXpert-style label cells, ages (an impossible one, or a
source's placeholder for "not recorded", becomes a correction), sex and view strings, and
label harmonisation onto the collection's union vocabulary (mappings from config)."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import NamedTuple

from unimed_kedro.schema import LABEL_PREFIX, NEGATIVE, POSITIVE, UNCERTAIN
from unimed_kedro.sources.base import Rejects
from unimed_kedro.sources.paths import Where

MAX_AGE = 130
AGE_OUT_OF_RANGE = "age_out_of_range"  # the correction's reason
AGE_PLACEHOLDER = "age_placeholder"  # a number the source writes for an unrecorded age


@functools.lru_cache(maxsize=1024)  # pure; a label column holds a handful of distinct cells
def parse_label(value: str, column: str) -> float:
    """CheXpert-style label cell: 1.0 / 0.0 / -1.0 / blank (not annotated)."""
    text = value.strip()
    if not text:
        return math.nan
    try:
        number = float(text)
    except ValueError:
        number = math.inf
    if number not in (POSITIVE, NEGATIVE, UNCERTAIN):
        raise ValueError(f"column {column!r}: expected 1.0, 0.0, -1.0 or blank, got {value!r}")
    return number


class Age(NamedTuple):
    """An age cell as read: years (NaN when unknown) and, when a recorded number was
    dropped, the correction's detail and reason."""

    years: float
    dropped: str | None = None
    reason: str = AGE_OUT_OF_RANGE


def parse_age(value: str, column: str, placeholder: float | None = None) -> Age:
    """Ages as numbers, or NIH's early `058Y` form; blank is unknown. A number outside
    0..130 is a typo of the source (Data_Entry_2017 has 148 and 413), and `placeholder`
    is the number a source writes when it recorded no age (CheXpert's 0): either way the
    image is still good, so the age becomes unknown instead of the row being rejected.
    Text that is no number at all is a malformed row (ValueError)."""
    text = value.strip().upper().rstrip("Y")
    if not text:
        return Age(math.nan)
    try:
        age = float(text)
    except ValueError:
        raise ValueError(f"column {column!r}: expected an age in years, got {value!r}") from None
    if not 0 <= age <= MAX_AGE:
        return Age(
            math.nan,
            f"column {column!r}: age {value!r} is impossible (expected "
            f"0..{MAX_AGE} years); kept as unknown",
        )
    if age == placeholder:
        return Age(
            math.nan,
            f"column {column!r}: age {value!r} is this source's placeholder for an "
            "unrecorded age; kept as unknown",
            AGE_PLACEHOLDER,
        )
    return Age(age)


def kept_age(age: Age, rejects: Rejects, where: Where) -> float:
    """The age a kept record gets; a dropped one is noted as a correction (its reason:
    `age_out_of_range` or `age_placeholder`) at `where` (file, row, sample_id)."""
    if age.dropped is not None:
        rejects.correct(age.reason, age.dropped, **where)
    return age.years


def normalise_sex(value: str | None) -> str | None:
    text = (value or "").strip().upper()
    return {"M": "M", "MALE": "M", "F": "F", "FEMALE": "F"}.get(text)


def normalise_view(value: str | None, views: Mapping[str, str]) -> str:
    text = " ".join((value or "").strip().upper().split())
    return views.get(text, "UNKNOWN" if not text else text.replace(" ", "_"))


_RANK = {POSITIVE: 3, UNCERTAIN: 2, NEGATIVE: 1}


def harmonise(raw: Mapping[str, float], mapping: Mapping[str, str]) -> dict[str, float]:
    """Map source label names onto the union vocabulary. When several source labels land on
    one union label, positive beats uncertain beats negative beats not annotated."""
    out: dict[str, float] = {}
    for name, value in raw.items():
        key = mapping.get(name)
        if key is None or value != value:  # NaN, the one value unequal to itself
            continue
        column = LABEL_PREFIX + key
        kept = out.get(column)
        if _RANK[value] > (0 if kept is None else _RANK[kept]):
            out[column] = value
    return out
