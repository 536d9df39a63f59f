"""Split nodes. The stage's params are checked first (`SplitOptions`): a wrong value stops
the run there, naming the parameter."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from unimed_kedro.reporting.summary import split_balance
from unimed_kedro.schema import SPLITS, label_columns_in
from unimed_kedro.schema.options import Options, flag, integer, names, number, setting
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


def split_samples(normalized: pd.DataFrame, params: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add `split` to every sample; returns the samples and the split report (per source
    and split: patients, images per patient, label prevalence, `balance_columns` mix)."""
    options = SplitOptions.from_params(params)
    frame = normalized.sort_values("sample_id", kind="stable").reset_index(drop=True)
    labels = label_columns_in(frame.columns)
    frame["split"] = assign_splits(frame, labels, options.as_params()) if len(frame) else []
    check_no_leakage(frame)
    log.info(
        "split: %s",
        frame["split"].value_counts().reindex(list(SPLITS)).fillna(0).astype(int).to_dict(),
    )
    return frame, split_balance(frame, labels, options.balance_columns)
