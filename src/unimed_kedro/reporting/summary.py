"""Counts behind the charts and the data card, computed from the exported samples."""

from __future__ import annotations

import pandas as pd

from unimed_kedro.schema import (
    NEGATIVE,
    POSITIVE,
    SPLITS,
    UNCERTAIN,
    label_columns_in,
    label_name,
)

OUTCOMES = {"positive": POSITIVE, "negative": NEGATIVE, "uncertain": UNCERTAIN}


def display_name(column: str, names: dict[str, str]) -> str:
    """Display name from the vocabulary (`label_effusion` -> `Pleural Effusion`)."""
    key = label_name(column)
    return names.get(key, key.replace("_", " "))


def sources_of(frame: pd.DataFrame) -> list[str]:
    return sorted(frame["source"].unique()) if len(frame) else []


def label_counts(frame: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """One row per (source, label): positive, negative, uncertain and not-annotated counts,
    labels in vocabulary order."""
    rows = []
    for source in sources_of(frame):
        part = frame[frame["source"].eq(source)]
        for column in label_columns_in(frame.columns):
            values = part[column]
            row: dict[str, object] = {"source": source, "label": display_name(column, names)}
            row.update({k: int(values.eq(v).sum()) for k, v in OUTCOMES.items()})
            row["not_annotated"] = int(values.isna().sum())
            rows.append(row)
    return pd.DataFrame(rows, columns=["source", "label", *OUTCOMES, "not_annotated"])


def split_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Samples per source (rows) and split (columns, train/val/test order)."""
    table = pd.crosstab(frame["source"], frame["split"]) if len(frame) else pd.DataFrame()
    return table.reindex(index=sources_of(frame), columns=list(SPLITS), fill_value=0).astype(int)


def split_prevalence(frame: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """Share of positives among annotated samples, per label (rows) and split (columns);
    NaN where no sample of the split is annotated for the label (as in split_report.csv)."""
    table = {}
    for split in SPLITS:
        part = frame[frame["split"].eq(split)]
        table[split] = {
            display_name(c, names): _prevalence(part[c]) for c in label_columns_in(frame.columns)
        }
    return pd.DataFrame(table, columns=list(SPLITS))


def _prevalence(values: pd.Series) -> float:
    annotated = int(values.notna().sum())
    return round(int(values.eq(POSITIVE).sum()) / annotated, 4) if annotated else float("nan")
