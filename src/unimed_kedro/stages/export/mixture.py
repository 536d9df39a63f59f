"""Export nodes of a pretraining collection with one shard folder per source: open_clip's
mixture (`--train-data` brace patterns joined by `::` and their upsampling factors), made
from the shard index that planned the shards and checked against the shards written, and
statistics that count held-out evaluation records apart from rejects."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from unimed_kedro.schema.tables import Tabular, frame_of
from unimed_kedro.splitting.holdout import HELD_OUT
from unimed_kedro.stages.export.nodes import ExportOptions, statistics


def mixture(shard_index: Tabular, shards: dict[str, list[Path]], params: dict) -> dict:
    """`mixture.json`: per non-empty folder its shards, samples and weight, in name order;
    `train_data`, `upsampling_factors` and `train_num_samples` for open_clip."""
    options = ExportOptions.from_params(params)
    shard_index = frame_of(shard_index, ["folder", "sample_id", "webdataset_shard"])
    per = shard_index.groupby("folder", sort=True).agg(
        samples=("sample_id", "size"), shards=("webdataset_shard", "nunique")
    )
    entries = []
    for folder, row in per.iterrows():
        written = len(shards.get(f"{folder}_webdataset", []))
        if written != row["shards"]:
            raise ValueError(
                f"{folder}_webdataset: {written} shards written, {row['shards']} planned"
            )
        weight = float(options.upsampling.get(str(folder), 1.0))
        entries.append(
            {
                "name": folder,
                "shards": int(row["shards"]),
                "samples": int(row["samples"]),
                "weight": weight,
            }
        )
    return {
        "train_data": "::".join(
            f"{e['name']}_webdataset/{e['name']}-{{000000..{e['shards'] - 1:06d}}}.tar"
            for e in entries
        ),
        "upsampling_factors": "::".join(str(e["weight"]) for e in entries),
        "train_num_samples": sum(e["samples"] for e in entries),
        "sources": entries,
    }


def statistics_with_holdout(records: Tabular, shard_index: Tabular, rejects: pd.DataFrame) -> dict:
    """`statistics` with, per source, `held_out` (official evaluation records, their
    patients' and their images' copies) counted apart: raw = exported + rejected + held
    out, where the shared statistics count them as rejected."""
    stats = statistics(records, shard_index, rejects)
    for source, entry in stats["sources"].items():
        held = int((rejects["source"].eq(source) & rejects["reason"].eq(HELD_OUT)).sum())
        entry["held_out"] = held
        entry["rejected"] -= held
        entry["rejected_by_reason"].pop(HELD_OUT, None)
    stats["held_out"] = int(rejects["reason"].eq(HELD_OUT).sum())
    stats["rejected"] -= stats["held_out"]
    return stats
