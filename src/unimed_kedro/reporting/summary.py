"""Counts behind the charts and the data card, computed from the exported samples."""

from __future__ import annotations

from collections.abc import Sequence

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


MISSING_VALUE = "unknown"  # how a missing value of a mix column is counted


def split_balance(
    frame: pd.DataFrame, label_cols: list[str], mix_columns: Sequence[str] = ()
) -> pd.DataFrame:
    """What each split holds, per (source, split) and over all sources (`source` = all):
    samples, share of the scope, patients, images per patient, the positive rate of each
    label among the samples annotated for it, and the share of each value of
    `mix_columns` (`view=PA`, `view=unknown`, ...). Whether val and test look like train
    is read here: a split of few-film patients, or with half the prevalence, shows."""
    mixes = {c: _mix_values(frame, c) for c in mix_columns}
    rows = []
    for source in [*sources_of(frame), "all"]:
        # one source's rows at a time: all of them at once were a copy of the samples
        part = frame if source == "all" else frame[frame["source"].eq(source)]
        for split in SPLITS:
            sub = part[part["split"].eq(split)]
            patients = sub["patient_id"].nunique()
            row: dict[str, object] = {
                "source": source,
                "split": split,
                "samples": len(sub),
                "share": round(len(sub) / len(part), 4) if len(part) else 0.0,
                "patients": patients,
                "images_per_patient": round(len(sub) / patients, 3) if patients else None,
            }
            for column in label_cols:
                prevalence = _prevalence(sub[column])
                row[column] = None if prevalence != prevalence else prevalence
            for column, values in mixes.items():
                counts = sub[column].fillna(MISSING_VALUE).astype(str).value_counts()
                for value in values:
                    share = counts.get(value, 0) / len(sub) if len(sub) else None
                    row[f"{column}={value}"] = None if share is None else round(share, 4)
            rows.append(row)
    return pd.DataFrame(rows)


def _mix_values(frame: pd.DataFrame, column: str) -> list[str]:
    if column not in frame.columns:
        raise KeyError(f"split balance: no column {column!r} in the samples to mix by")
    return sorted(frame[column].fillna(MISSING_VALUE).astype(str).unique())


def split_prevalence(frame: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """Share of positives among annotated samples, per label (rows) and split (columns);
    NaN where no sample of the split is annotated for the label (as in `split_balance`)."""
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
