"""Split nodes. The stage's params are checked first (`SplitOptions`): a wrong value stops
the run there, naming the parameter."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from unimed_kedro.reporting.summary import split_balance
from unimed_kedro.schema import SPLITS, label_columns_in
from unimed_kedro.schema.options import Options, flag, integer, names, number, setting
from unimed_kedro.schema.tables import (
    Batches,
    Tabular,
    arrow_of,
    columns_of,
    compact_frame,
    rereadable,
    taken,
    with_columns,
)
from unimed_kedro.splitting.assign import assign_splits
from unimed_kedro.splitting.report import check_no_leakage

log = logging.getLogger(__name__)


def ratios(value: Any, where: str) -> dict:
    """A non-negative number for each split, summing to more than 0."""
    if not isinstance(value, Mapping) or set(value) != set(SPLITS):
        raise ValueError(
            f"{where}: expected a number >= 0 for each of {', '.join(SPLITS)}, got {value!r}"
        )
    checked = {split: number(0)(value[split], f"{where}.{split}") for split in SPLITS}
    if not sum(checked.values()) > 0:
        raise ValueError(f"{where}: expected ratios summing to more than 0, got {value!r}")
    return checked


@dataclass(frozen=True)
class SplitOptions(Options):
    """`<collection>.split` params, typed and checked (`from_params`)."""

    SECTION = "split"
    ratios: dict = setting(ratios, missing="a number for each of train, val, test")
    seed: int = setting(integer(), missing="the seed of the assignment")
    use_official_split: bool = setting(flag, True)
    keep_official_val: bool = setting(flag, True)
    # columns whose value mix the split report shows per split (e.g. the view)
    balance_columns: tuple = setting(names, ())

    def check(self, where: str) -> None:
        # a source with an official test split spreads its other samples over train and val
        if self.use_official_split and not self.ratios["train"] + self.ratios["val"] > 0:
            raise ValueError(
                f"{where}.ratios: expected train + val above 0 with use_official_split "
                f"(the rest of a source with an official test goes there), got {self.ratios!r}"
            )


# what the assignment, the leakage check and the report read (with the label columns and
# `balance_columns`): the rest of each row streams through
SPLIT_COLUMNS = ["sample_id", "source", "patient_id", "sha256", "official_split"]
# identifiers the split only compares: read as numbers (`planning_frame`)
CODED_COLUMNS = ("patient_id", "sha256")


def split_samples(normalized: Tabular, params: dict) -> tuple[Batches, pd.DataFrame]:
    """Add `split` to every sample (in sample-id order); returns the samples, a batch at a
    time, and the split report (per source and split: patients, images per patient, label
    prevalence, `balance_columns` mix)."""
    options = SplitOptions.from_params(params)
    normalized = rereadable(normalized)  # read for its columns, to plan, then streamed
    present = columns_of(normalized)
    labels = label_columns_in(present)
    wanted = [*SPLIT_COLUMNS, *labels, *options.balance_columns]
    columns = [c for c in dict.fromkeys(wanted) if c in present]
    frame, order, texts = planning_frame(normalized, columns)
    frame["split"] = assign_splits(frame, labels, options.as_params()) if len(frame) else []
    check_no_leakage(frame, texts)
    log.info(
        "split: %s",
        frame["split"].value_counts().reindex(list(SPLITS)).fillna(0).astype(int).to_dict(),
    )
    # ingest merges records in sample-id order: `taken` streams them as stored
    samples = with_columns(taken(normalized, order), frame[["split"]])
    return Batches(samples), split_balance(frame, labels, options.balance_columns)


def planning_frame(
    table: Tabular, columns: list[str]
) -> tuple[pd.DataFrame, np.ndarray, dict[str, pa.Array]]:
    """`columns` of the samples in sample-id order (without the id), that order, and the
    texts of `CODED_COLUMNS`, which come as numbers (`compact_frame`); labels as float32
    (their values, 1, 0, -1 and missing, are exact in it)."""
    table = rereadable(table)
    order = pc.sort_indices(arrow_of(table, ["sample_id"])["sample_id"]).to_numpy()
    rest = [c for c in columns if c != "sample_id"]
    labels = label_columns_in(rest)
    frame, texts = compact_frame(table, rest, CODED_COLUMNS, order=order, float32=labels)
    return frame, order, texts
