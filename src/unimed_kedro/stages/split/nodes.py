"""Split nodes."""

from __future__ import annotations

import logging

import pandas as pd

from unimed_kedro.schema import SPLITS, label_columns_in
from unimed_kedro.splitting.assign import assign_splits
from unimed_kedro.splitting.report import check_no_leakage, split_report

log = logging.getLogger(__name__)


def split_samples(normalized: pd.DataFrame, params: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add `split` to every sample; returns the samples and the split report."""
    frame = normalized.sort_values("sample_id", kind="stable").reset_index(drop=True)
    labels = label_columns_in(frame.columns)
    frame["split"] = assign_splits(frame, labels, params) if len(frame) else []
    check_no_leakage(frame)
    log.info(
        "split: %s",
        frame["split"].value_counts().reindex(list(SPLITS)).fillna(0).astype(int).to_dict(),
    )
    return frame, split_report(frame, labels)
