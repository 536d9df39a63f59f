"""Captions of image–text pairs: every candidate caption a sample has (the texts its
source ships, or, for label-only images, the templates of its source filled with its
findings) and one training caption chosen among them, seeded by the sample id.

A collection mixing these with records captioned another way (UniMed's chest films and
their reports) names those sources and their captioner (`mixed_captions`); each sample
then still gets `captions`, the list every exported sample carries.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Sequence

import pandas as pd

from unimed_kedro.captions.seeded import sample_rng
from unimed_kedro.schema import is_missing, row_dicts

Captioner = Callable[[pd.DataFrame, dict, dict, dict], pd.DataFrame]
SHIPPED, TEMPLATE = "source_captions", "template"


def candidates(row: dict, templates: dict[str, list[str]]) -> tuple[list[str], str]:
    """The sample's captions and their kind: what its source shipped, else its source's
    templates (`default` for a source without its own) filled with modality and findings."""
    shipped = _texts(row.get("source_captions"))
    if shipped:
        return shipped, SHIPPED
    findings = [str(f) for f in _texts(row.get("findings"))]
    fields = {
        "modality": (_texts(row.get("modality")) or ["medical"])[0],
        "findings": ", ".join(findings) if findings else "no specific finding",
        "dataset": (_texts(row.get("dataset")) or [row["source"]])[0],
    }
    chosen = templates.get(row["source"]) or templates["default"]
    return [" ".join(t.format(**fields).split()) for t in chosen], TEMPLATE


def _texts(value: object) -> list[str]:
    """The non-empty texts of a cell: a string, a list (or the array parquet gives back)."""
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if is_missing(value) or not isinstance(value, Iterable):
        return []
    return [str(v).strip() for v in value if not is_missing(v) and str(v).strip()]


def caption_pairs(
    records: pd.DataFrame, sources: dict, params: dict, vocabulary: dict
) -> pd.DataFrame:
    """Records with `captions` (JSON list), `caption` (one of them, seeded) and
    `caption_kind` (`source_captions` or `template`)."""
    spare = random.Random()
    lists, chosen, kinds = [], [], []
    for row in row_dicts(records):
        texts, kind = candidates(row, params["templates"])
        lists.append(json.dumps(texts, ensure_ascii=False))
        chosen.append(sample_rng(params["seed"], row["sample_id"], spare).choice(texts))
        kinds.append(kind)
    return records.assign(captions=lists, caption=chosen, caption_kind=kinds)


def mixed_captions(
    records: pd.DataFrame,
    sources: dict,
    params: dict,
    vocabulary: dict,
    *,
    others: Captioner,
    other_sources: Sequence[str],
) -> pd.DataFrame:
    """`caption_pairs` for most records; those of `other_sources` go to `others` (with
    `params[<its section>]`, `params["others"]`), and their `captions` are the chosen one
    then what their source shipped."""
    mine = ~records["source"].isin(list(other_sources))
    parts = [caption_pairs(records[mine], sources, params, vocabulary)]
    if (~mine).any():
        theirs = others(records[~mine], sources, params["others"], vocabulary)
        theirs["captions"] = [
            json.dumps(list(dict.fromkeys([caption, *_texts(shipped)])), ensure_ascii=False)
            for caption, shipped in zip(theirs["caption"], theirs["source_captions"])
        ]
        parts.append(theirs)
    merged = pd.concat(parts, ignore_index=True)
    return merged.sort_values("sample_id", kind="stable").reset_index(drop=True)
