"""The split stage of a pretraining collection: no train/val/test assignment, but
evaluation data held out and one copy of each image kept (`splitting.holdout`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from unimed_kedro.schema.options import Options, flag, names, setting
from unimed_kedro.schema.tables import Batches, Tabular, frame_of, present, taken, with_columns
from unimed_kedro.splitting.holdout import overlap, select

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SelectOptions(Options):
    """`<collection>.select` params: which source's copy of an image is kept, and whether
    official evaluation splits are held out."""

    SECTION = "select"
    source_priority: tuple = setting(names, ())
    exclude_official_eval: bool = setting(flag, True)


# what holding out and dedup read: the rest of each row streams through
SELECT_COLUMNS = ["sample_id", "source", "patient_id", "sha256", "official_split", "raw_relpath"]


def select_pretraining(
    normalized: Tabular, params: dict
) -> tuple[Batches, pd.DataFrame, pd.DataFrame]:
    """The pretraining samples (split `train`, in sample-id order, a batch at a time), the
    rejects of the others, and how many images each pair of sources shares."""
    options = SelectOptions.from_params(params)
    frame = frame_of(normalized, present(normalized, SELECT_COLUMNS))
    order = frame["sample_id"].argsort(kind="stable").to_numpy()
    frame = frame.iloc[order].reset_index(drop=True).assign(_row=order)
    kept, rejects = select(frame, list(options.source_priority), options.exclude_official_eval)
    log.info(
        "select: %d kept, %s",
        len(kept),
        rejects["reason"].value_counts().sort_index().to_dict() or "none left out",
    )
    split = pd.DataFrame({"split": ["train"] * len(kept)})
    samples = with_columns(taken(normalized, kept["_row"].to_numpy()), split)
    return Batches(samples), rejects, overlap(frame)
