"""Counts behind the charts and the data card, computed from the exported samples."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
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
    labels in vocabulary order. One grouped sum per outcome, not a scan per cell."""
    header = ["source", "label", *OUTCOMES, "not_annotated"]
    columns = label_columns_in(frame.columns)
    if not len(frame) or not columns:
        return pd.DataFrame([], columns=header)
    values, by = frame[columns], frame["source"].to_numpy()
    # one outcome's mask at a time: each is a bool per sample and label
    sums = {k: values.eq(v).fillna(False).groupby(by, sort=True).sum() for k, v in OUTCOMES.items()}
    sums["not_annotated"] = values.isna().groupby(by, sort=True).sum()
    sources = sums["not_annotated"].index
    table = pd.DataFrame(
        {
            "source": np.repeat(sources.to_numpy(), len(columns)),
            "label": [display_name(c, names) for c in columns] * len(sources),
        }
    )
    for key, summed in sums.items():
        table[key] = summed.to_numpy(dtype="int64").ravel()
    return table[header]


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
    counts = _split_counts(frame, label_cols, mixes)
    rows = []
    for source in [*sources_of(frame), "all"]:
        scope = len(frame) if source == "all" else int(frame["source"].eq(source).sum())
        for split in SPLITS:
            count = counts.get((source, split), {})
            samples, patients = count.get("samples", 0), count.get("patients", 0)
            row: dict[str, object] = {
                "source": source,
                "split": split,
                "samples": samples,
                "share": round(samples / scope, 4) if scope else 0.0,
                "patients": patients,
                "images_per_patient": round(samples / patients, 3) if patients else None,
            }
            for column in label_cols:
                annotated = count.get(("annotated", column), 0)
                positive = count.get(("positive", column), 0)
                row[column] = round(positive / annotated, 4) if annotated else None
            for column, values in mixes.items():
                for value in values:
                    share = count.get((column, value), 0) / samples if samples else None
                    row[f"{column}={value}"] = None if share is None else round(share, 4)
            rows.append(row)
    return pd.DataFrame(rows)


def _split_counts(
    frame: pd.DataFrame, label_cols: list[str], mixes: dict[str, list[str]]
) -> dict[tuple[str, str], dict]:
    """Per (source, split), and per ("all", split), the counts `split_balance` divides:
    grouped sums, one per measure, not a scan of the rows per scope and label."""
    counts: dict[tuple[str, str], dict] = {}

    def add(name: object, values: pd.Series) -> None:
        for (source, split), value in values.items():
            counts.setdefault((source, split), {})[name] = int(value)

    splits = frame["split"]
    for source in (frame["source"], pd.Series("all", index=frame.index)):
        keys = [source.rename("s"), splits.rename("t")]
        add("samples", frame.groupby(keys).size())
        add("patients", frame["patient_id"].groupby(keys).nunique())
        if label_cols:  # every label in one grouped sum per measure
            labels = frame[label_cols]
            for measure, table in (
                ("annotated", labels.notna()),
                ("positive", labels.eq(POSITIVE).fillna(False)),
            ):
                for column, sums in table.groupby(keys).sum().items():
                    add((measure, column), sums)
        for column in mixes:
            mix = frame[column].fillna(MISSING_VALUE).astype(str)
            for (s, t, value), n in mix.groupby([*keys, mix.rename("v")]).size().items():
                counts.setdefault((s, t), {})[(column, value)] = int(n)
    return counts


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
