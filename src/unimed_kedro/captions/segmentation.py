"""A segmentation sample's text: its class names, SAT's text prompts.

Each record declares labels as its dataset names them (`declared_names`, with the keys that
locate them: label-map values or file names). The collection's vocabulary turns them into
the final class list: `synonyms` give one name per structure across datasets
(`kidney_left`, `Kidney (L)` -> `left kidney`), then `merges`, in order, make a label the
union of others (`kidney` = left + right kidney; `kidney` += tumor + cyst, SAT-DS's loader
rules). `label` is the final list and `parts` the keys each final label unions, for
the normalize workers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

_SPACES = re.compile(r"[\s_]+")


def name_key(name: str) -> str:
    """How names are compared: case, `_` and runs of spaces do not matter."""
    return _SPACES.sub(" ", str(name)).strip().lower()


def canonical_names(names: list[str], synonyms: Mapping[str, str]) -> list[str]:
    table = {name_key(k): str(v) for k, v in synonyms.items()}
    return [table.get(name_key(n), str(n).strip()) for n in names]


def merged_labels(
    names: list[str], keys: list[str], dataset: str, merges: list[Mapping[str, Any]]
) -> tuple[list[str], list[list[str]]]:
    """Final names and, per name, the declared keys it unions. A rule applies where every
    `from` label is present (and its `datasets`, if any, name the sample's dataset); its
    `into` label is replaced when present, else appended."""
    parts: dict[str, list[str]] = {}
    for name, key in zip(names, keys):
        parts.setdefault(name, []).append(key)  # two keys, one canonical name: one label
    for rule in merges:
        sources = [str(s) for s in rule["from"]]
        if rule.get("datasets") and dataset not in rule["datasets"]:
            continue
        if all(s in parts for s in sources):
            union = sorted({k for s in sources for k in parts[s]}, key=keys.index)
            parts[str(rule["into"])] = union
    return list(parts), list(parts.values())


def label_records(
    records: pd.DataFrame, sources: dict, params: dict, vocabulary: dict
) -> pd.DataFrame:
    """Records with `label` (the final class list) and `parts`."""
    synonyms = vocabulary.get("synonyms") or {}
    merges = vocabulary.get("merges") or []
    finals, parts = [], []
    for names, keys, dataset in zip(
        records["declared_names"].tolist(), records["declared_keys"].tolist(), records["dataset"]
    ):
        label, part = merged_labels(
            canonical_names(list(names), synonyms), [str(k) for k in keys], dataset, merges
        )
        finals.append(label)
        parts.append(part)
    return records.assign(label=finals, parts=parts)
