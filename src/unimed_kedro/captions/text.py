"""Caption text for one sample: from the report, from shipped captions, or from labels.

Templates and vocabularies come from `parameters_caption.yml` / `parameters_vocabulary.yml`;
every random choice uses a generator seeded by (seed, sample_id), so a caption depends only
on its own sample.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence

from unimed_kedro.schema import LABEL_PREFIX, NEGATIVE, POSITIVE, UNCERTAIN, is_missing


def sample_rng(seed: int, sample_id: str) -> random.Random:
    return random.Random(f"{seed}:{sample_id}")


def clean_report_text(text: str | None, redactions: Sequence[str]) -> str | None:
    """Drop anonymisation tokens and tidy the whitespace they leave behind."""
    if is_missing(text) or not str(text).strip():
        return None
    for token in redactions:  # "x-XXXX" -> "x": the joining hyphen goes with the token
        text = re.sub(rf"[-/]?{re.escape(token)}", " ", str(text))
    text = re.sub(r"\s+([.,;:])", r"\1", " ".join(text.split()))
    text = re.sub(r"([.,;:])(?:\s*[.,;:])+", r"\1", text).strip(" -")
    return text if re.search(r"[A-Za-z]{2}", text) else None


def report_caption(findings: str | None, impression: str | None,
                   redactions: Sequence[str]) -> str | None:
    parts = [clean_report_text(t, redactions) for t in (findings, impression)]
    parts = [p if p.endswith(".") else p + "." for p in parts if p]
    return " ".join(parts) or None


STATE_NAMES = {POSITIVE: "positive", UNCERTAIN: "uncertain", NEGATIVE: "negative"}


def annotated_labels(row: Mapping, union: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(key, display name, state) of every annotated label, in vocabulary order: the one
    pass over the vocabulary that every caption of a row shares. A dict lookup, not
    `is_missing`: NaN, None and NA equal no key (runs per row and label)."""
    return [(key, display, state) for key, display in union.items()
            if (state := STATE_NAMES.get(row.get(LABEL_PREFIX + key))) is not None]


def label_states(annotated: list[tuple[str, str, str]]) -> dict[str, list[str]]:
    """Display names grouped by state: positive / uncertain / negative (No Finding out)."""
    states: dict[str, list[str]] = {"positive": [], "uncertain": [], "negative": []}
    for key, display, state in annotated:
        if key != "no_finding":
            states[state].append(display)
    return states


def join_names(names: Sequence[str]) -> str:
    names = [n.lower() for n in names]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def label_caption(row: Mapping, rng: random.Random, params: Mapping,
                  union: Mapping[str, str], annotated: list | None = None) -> str:
    """UniMed-style template caption from the harmonised labels (`annotated`: the row's
    `annotated_labels`, when the caller already has them)."""
    templates = params["templates"]
    view = params["view_phrases"].get(row.get("view"), "") or "frontal"
    states = label_states(annotated_labels(row, union) if annotated is None else annotated)
    findings = states["positive"] + [templates["uncertain"].format(label=n.lower())
                                     for n in states["uncertain"]]
    if findings:
        text = rng.choice(templates["positive"]).format(view=view, findings=join_names(findings))
        negatives = states["negative"]
        if negatives:
            picked = rng.sample(negatives, min(len(negatives), templates["max_negatives"]))
            text += templates["negative_suffix"].format(negatives=join_names(sorted(picked)))
    elif states["negative"] or _is_normal(row):
        text = rng.choice(templates["normal"]).format(view=view)
    else:
        text = rng.choice(templates["unlabelled"]).format(view=view)
    text = " ".join(text.split())
    return text[0].upper() + text[1:]


def _is_normal(row: Mapping) -> bool:
    return row.get(f"{LABEL_PREFIX}no_finding") == POSITIVE
