"""Chest X-ray caption text for one sample: from the report, or from labels.

Templates and the vocabulary come from the collection's parameters (`conf/base/cxr/`);
every random choice uses the sample's own generator (`captions.seeded`), so a caption
depends only on its own sample. Text that depends on a row's label combination alone is worked out once
per combination (a collection repeats few combinations over many rows).
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from unimed_kedro.captions.redaction import readable_text
from unimed_kedro.schema import LABEL_PREFIX, NEGATIVE, POSITIVE, UNCERTAIN


def clean_report_text(text: str | None, redactions: Sequence[str]) -> str | None:
    """Report text that reads well without its anonymisation tokens: a sentence a token
    breaks is mended or dropped (`captions.redaction`); None when nothing readable is left."""
    return readable_text(text, redactions)


def report_caption(
    findings: str | None, impression: str | None, redactions: Sequence[str]
) -> str | None:
    """Findings then impression, each readable (every sentence ends with its mark)."""
    parts = [readable_text(t, redactions) for t in (findings, impression)]
    return " ".join(p for p in parts if p) or None


STATE_NAMES: dict[float | None, str] = {
    POSITIVE: "positive",
    UNCERTAIN: "uncertain",
    NEGATIVE: "negative",
}
NORMAL_COLUMN = f"{LABEL_PREFIX}no_finding"  # read from the row itself, see `is_normal`
# (key, display name, state) of a row's annotated labels. A tuple: rows with the same labels
# share one, and the caches of text derived from labels alone are keyed by it.
AnnotatedLabels = tuple[tuple[str, str, str], ...]
LABEL_CACHE = 4096  # distinct label combinations kept per label-derived cache


def annotated_labels(row: Mapping, union: Mapping[str, str]) -> AnnotatedLabels:
    """(key, display name, state) of every annotated label, in vocabulary order: the one
    pass over the vocabulary that every caption of a row shares. A dict lookup, not
    `is_missing`: NaN, None and NA equal no key (runs per row and label)."""
    return tuple(
        [
            (key, display, state)
            for key, display in union.items()
            if (state := STATE_NAMES.get(row.get(LABEL_PREFIX + key))) is not None
        ]
    )


_STATE_CODES = {value: code for code, value in enumerate(STATE_NAMES, 1)}  # 0: none


def annotated_rows(frame: pd.DataFrame, union: Mapping[str, str]) -> list[AnnotatedLabels]:
    """`annotated_labels` of every row of `frame`, worked out column by column: each label
    column becomes state codes, and each distinct combination of codes (one bytes key per
    row) becomes its tuple once: a collection repeats few combinations over many rows."""
    labels = list(union.items())
    if not labels:
        return [() for _ in range(len(frame))]
    codes = np.zeros((len(frame), len(labels)), np.uint8)
    for i, (key, _) in enumerate(labels):
        codes[:, i] = _state_codes(frame.get(LABEL_PREFIX + key), len(frame))
    blob, width, states = codes.tobytes(), len(labels), ["", *STATE_NAMES.values()]
    combos: dict[bytes, AnnotatedLabels] = {}
    out = []
    for start in range(0, len(blob), width):
        combo = blob[start : start + width]
        found = combos.get(combo)
        if found is None:
            found = combos[combo] = tuple(
                [(key, display, states[c]) for (key, display), c in zip(labels, combo) if c]
            )
        out.append(found)
    return out


def _state_codes(column: pd.Series | None, rows: int) -> np.ndarray:
    """`_STATE_CODES` of every cell: the row-wise dict lookup, vectorised for numeric numpy
    columns (where `==` matches exactly what the lookup matches); a missing column is
    not annotated."""
    if column is None:
        return np.zeros(rows, np.uint8)
    if isinstance(column.dtype, np.dtype) and column.dtype.kind in "biuf":
        values = column.to_numpy()
        out = np.zeros(rows, np.uint8)
        for value, code in _STATE_CODES.items():
            out[values == value] = code
        return out
    return np.array([_STATE_CODES.get(v, 0) for v in column.tolist()], np.uint8)


def label_states(annotated: AnnotatedLabels) -> dict[str, list[str]]:
    """Display names grouped by state: positive / uncertain / negative (No Finding out)."""
    states: dict[str, list[str]] = {"positive": [], "uncertain": [], "negative": []}
    for key, display, state in annotated:
        if key != "no_finding":
            states[state].append(display)
    return states


def join_names(names: Sequence[str]) -> str:
    names = [n.lower() for n in names]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def label_caption(
    row: Mapping,
    rng: random.Random,
    params: Mapping,
    union: Mapping[str, str],
    annotated: AnnotatedLabels | None = None,
) -> str:
    """UniMed-style template caption from the harmonised labels (`annotated`: the row's
    `annotated_labels`, when the caller already has them). A view without a phrase
    (UNKNOWN, or one the phrases do not list) is named nowhere: some are laterals."""
    templates = params["templates"]
    view = params["view_phrases"].get(row.get("view")) or ""
    annotated = annotated_labels(row, union) if annotated is None else tuple(annotated)
    findings, negatives = _findings(annotated, templates["uncertain"])
    if findings is not None:
        template = _template(rng.choice(templates["positive"]), bool(view))
        text = template.format(view=view, findings=findings)
        if negatives:
            picked = rng.sample(negatives, min(len(negatives), templates["max_negatives"]))
            text += templates["negative_suffix"].format(negatives=join_names(sorted(picked)))
    elif negatives or is_normal(row):
        text = _template(rng.choice(templates["normal"]), bool(view)).format(view=view)
    else:
        text = _template(rng.choice(templates["unlabelled"]), bool(view)).format(view=view)
    text = " ".join(text.split())
    return text[0].upper() + text[1:]


_VIEW_PART = re.compile(r"\[([^\[\]]*)\]")  # `[...]` of a template: its words naming the view


@functools.lru_cache(maxsize=LABEL_CACHE)
def _template(template: str, with_view: bool) -> str:
    """`template` as a format string: its `[...]` parts kept without their brackets when
    the sample has a view phrase, dropped whole when it has none, so "Chest radiograph[
    ({view} view)]" never leaves "( view)". A `{view}` outside `[...]` could not be
    dropped: a ValueError naming the template."""
    text = _VIEW_PART.sub(r"\1" if with_view else "", template)
    if not with_view and "{view}" in text:
        raise ValueError(
            f"caption template {template!r}: put the words naming the view in [...], "
            "so they can be left out when a sample's view is unknown"
        )
    return text


@functools.lru_cache(maxsize=LABEL_CACHE)
def _findings(annotated: AnnotatedLabels, uncertain: str) -> tuple[str | None, tuple[str, ...]]:
    """The findings phrase (None: nothing positive or uncertain) and the negative names of
    one label combination: the part of a label caption that needs no random choice."""
    states = label_states(annotated)
    findings = states["positive"] + [uncertain.format(label=n.lower()) for n in states["uncertain"]]
    return (join_names(findings) if findings else None), tuple(states["negative"])


def is_normal(row: Mapping) -> bool:
    """No Finding positive: read from the row, the one label captions take from it."""
    return row.get(NORMAL_COLUMN) == POSITIVE
