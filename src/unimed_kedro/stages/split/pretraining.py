"""The split stage of a pretraining collection: no train/val/test assignment, but
evaluation data held out and one copy of each image kept (`splitting.holdout`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from unimed_kedro.schema.options import Options, flag, names, setting
from unimed_kedro.schema.tables import Tabular, frame_of
from unimed_kedro.splitting.holdout import overlap, select

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SelectOptions(Options):
    """`<collection>.select` params: which source's copy of an image is kept, and whether
    official evaluation splits are held out."""

    SECTION = "select"
    source_priority: tuple = setting(names, ())
    exclude_official_eval: bool = setting(flag, True)


def select_pretraining(
    normalized: Tabular, params: dict
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The pretraining samples (split `train`), the rejects of the others, and how many
    images each pair of sources shares."""
    options = SelectOptions.from_params(params)
    frame = frame_of(normalized).sort_values("sample_id", kind="stable").reset_index(drop=True)
    kept, rejects = select(frame, list(options.source_priority), options.exclude_official_eval)
    log.info(
        "select: %d kept, %s",
        len(kept),
        rejects["reason"].value_counts().sort_index().to_dict() or "none left out",
    )
    return kept.assign(split="train"), rejects, overlap(frame)
