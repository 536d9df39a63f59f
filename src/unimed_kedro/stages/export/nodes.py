"""Export nodes: plan the shards, describe the writing jobs, account for every record.

Each node reading the stage's params checks them first (`ExportOptions`): a wrong value
stops the run there, naming the parameter, before any shard or file is written.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from unimed_kedro.datasets.chunk_store_dataset import ChunkStore
from unimed_kedro.datasets.files_layout_dataset import FilesLayoutPlan
from unimed_kedro.engine.jobs import (
    ChunkJob,
    ChunkTask,
    fingerprint,
    preload_of,
    row_digests,
    rows_digest,
    worker_modules,
)
from unimed_kedro.schema import SPLITS, label_columns_in, reject_records, seeded_keys
from unimed_kedro.schema.options import (
    Options,
    choice,
    flag,
    identifier,
    integer,
    number,
    setting,
)
from unimed_kedro.schema.tables import (
    Batches,
    Rows,
    Table,
    Tabular,
    arrow_of,
    batches_of,
    columns_of,
    frame_of,
    groups_of,
    narrowed,
    present,
    taken,
    with_columns,
)
from unimed_kedro.writers.files_layout import (
    INDEX_SOURCE_COLUMNS,
    FilesChunk,
    filename_order,
    master_index,
    write_files_chunk,
)
from unimed_kedro.writers.members import FORMATS, sample_format
from unimed_kedro.writers.webdataset import ShardSpec, write_shard

log = logging.getLogger(__name__)
# Bump when the writers' output format changes: existing shards are rebuilt.
WRITER_VERSION = 2
# What decides a stored image's bytes (the raw file, how it was encoded): in every export
# fingerprint, so a re-encoded image is written again.
STORED_IMAGE = ["sha256", "encoding"]


def folder_names(value: Any, where: str) -> dict:
    """{source: output folder name}, each a name of [a-z0-9_-]."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected a mapping of source -> folder name, got {value!r}")
    return {str(k): identifier(v, f"{where}.{k}") for k, v in value.items()}


def weights(value: Any, where: str) -> dict:
    """{output folder: upsampling factor >= 0}."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected a mapping of folder -> factor, got {value!r}")
    return {str(k): number(0)(v, f"{where}.{k}") for k, v in value.items()}


@dataclass(frozen=True)
class ExportOptions(Options):
    """`<collection>.export` params, typed and checked (`from_params`)."""

    SECTION = "export"
    collection: str = setting(identifier, missing="the collection's name, in shard names")
    seed: int = setting(integer(), missing="the seed of the order within a split")
    sample_format: str = setting(choice(FORMATS), "image_record")
    shard_maxcount: int = setting(integer(1), 1000)
    files_chunk_size: int = setting(integer(1), 500)
    redistributable_only: bool = setting(flag, False)
    # split: `<split>/<collection>-<split>-NNNNNN.tar`; source: one folder per source,
    # `<name>_webdataset/<name>-NNNNNN.tar` (UniMed's), `<name>` from `folders` or the source
    shards_by: str = setting(choice(("split", "source")), "split")
    folders: dict = setting(folder_names, {})
    # per output folder, its weight in mixture.json (default 1.0)
    upsampling: dict = setting(weights, {})


# what the shard index is planned from: the rest of each row streams through
PLAN_COLUMNS = ["sample_id", "source", "raw_relpath", "license", "split"]


def build_shard_index(
    samples: Tabular, sources: dict[str, dict], params: dict
) -> tuple[Batches, pd.DataFrame]:
    """Key, shard and position of every exported sample, a batch at a time in shard
    order; samples held back by the licence filter become rejects. Shards group the
    samples by split, or by source (`shards_by`); order within a group is a seeded
    shuffle that does not move when other samples are added."""
    options = ExportOptions.from_params(params)
    plan = frame_of(samples, present(samples, PLAN_COLUMNS)).reset_index(drop=True)
    kept, rejects = licence_filter(plan, sources, options.redistributable_only)
    kept["key"] = kept["sample_id"]
    order = ["order", "order_tail"]  # the seeded digest, as two numbers: not 64 hex digits
    kept[order] = seeded_keys(kept["sample_id"], options.seed)
    if options.shards_by == "source":
        kept["folder"] = [options.folders.get(s, s) for s in kept["source"]]
        group, name = "folder", "{g}_webdataset/{g}-{n:06d}.tar"
    else:
        group, name = "split", "{g}/" + options.collection + "-{g}-{n:06d}.tar"
    kept = kept.sort_values([group, *order], kind="stable")
    number = kept.groupby(group).cumcount() // options.shard_maxcount
    names: dict[tuple, str] = {}  # one string per shard, shared by its rows
    kept["webdataset_shard"] = [
        names.setdefault((g, n), name.format(g=g, n=n)) for g, n in zip(kept[group], number)
    ]
    added = kept.drop(columns=[*plan.columns, *order])
    rows = taken(samples, kept.index.to_numpy())  # `plan`'s index: row numbers
    return Batches(with_columns(rows, added)), rejects


def licence_filter(
    samples: pd.DataFrame, sources: dict[str, dict], redistributable_only: bool
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The samples whose source's licence allows the export, and rejects for the rest."""
    shared = {name: bool(info["redistributable"]) for name, info in sources.items()}
    allowed = [shared[s] or not redistributable_only for s in samples["source"].tolist()]
    mask = pd.Series(allowed, index=samples.index, dtype=bool)
    excluded = samples[~mask]
    details = [
        f"licence '{license}' does not allow redistribution"
        for license in excluded["license"].tolist()
    ]
    rejects = reject_records(
        excluded, stage="export", reasons=["license_excluded"] * len(excluded), details=details
    )
    return samples[mask].copy(), rejects


def _with_stored_image(columns: list[str]) -> list[str]:
    return list(dict.fromkeys(columns + STORED_IMAGE))


def _task_fingerprints(
    table: pd.DataFrame | Table, columns: list[str], groups: Mapping[Any, np.ndarray]
) -> dict[Any, str]:
    """Fingerprint per group of rows (name -> ascending row positions) from the content of
    `columns` and `STORED_IMAGE`, without JSON: each group's cell hashes, in row order,
    fed to its digest a batch of the table at a time."""
    columns = _with_stored_image(columns)
    names = list(groups)
    owner = np.full(len(table), -1, dtype=np.int64)
    for code, name in enumerate(names):
        owner[groups[name]] = code
    digests = [hashlib.sha256() for _ in names]
    start = 0
    for batch in batches_of(table, columns):
        hashes, codes = row_digests(batch), owner[start : start + len(batch)]
        start += len(batch)
        order = np.argsort(codes, kind="stable")  # a group's rows keep their order
        for part in np.split(order, np.flatnonzero(np.diff(codes[order])) + 1):
            if len(part) and codes[part[0]] >= 0:
                digests[codes[part[0]]].update(np.ascontiguousarray(hashes[part]).tobytes())
    return {
        name: fingerprint(WRITER_VERSION, columns, h.hexdigest()) for name, h in zip(names, digests)
    }


@worker_modules("unimed_kedro.writers.webdataset")
def plan_webdataset(
    shard_index: Tabular, store: ChunkStore, params: dict, executor: dict
) -> ChunkJob:
    """One task per shard; each sample is its stored image plus the members of the
    collection's `export.sample_format`. A task names its rows of the shard index, which
    its worker reads from disk."""
    format_ = sample_format(ExportOptions.from_params(params).sample_format)
    columns = format_.fields + label_columns_in(columns_of(shard_index))
    places = arrow_of(shard_index, ["sample_id", "webdataset_shard"])
    images = store.located(places["sample_id"])
    shards = groups_of(places["webdataset_shard"])
    prints = _task_fingerprints(shard_index, columns, shards)
    rows = narrowed(shard_index, columns)
    tasks = [
        ChunkTask(
            shard.replace("/", "_").removesuffix(".tar"),
            ShardSpec(shard, Rows(rows, positions), images.take(positions), format_.members),
            prints[shard],
        )
        for shard, positions in shards.items()
    ]
    return ChunkJob(
        tasks, write_shard, executor, "webdataset", "samples", preload=preload_of(plan_webdataset)
    )


@worker_modules("unimed_kedro.writers.files_layout")
def plan_files(
    shard_index: Tabular, store: ChunkStore, params: dict, executor: dict
) -> FilesLayoutPlan:
    """Chunks of consecutive rows of the shard index, each read by its worker from disk
    (a chunk's rows lie in a row group or two); the master index made from the shard
    index a batch at a time, in file-name order."""
    names = arrow_of(shard_index, ["sample_id", "key", "image_ext"])
    images = store.located(names["sample_id"])
    size = ExportOptions.from_params(params).files_chunk_size
    chunks = {
        start: np.arange(start, min(start + size, len(names)))
        for start in range(0, len(names), size)
    }
    columns = ["key", "image_ext", "structured_caption"]
    prints = _task_fingerprints(shard_index, columns, chunks)
    rows = narrowed(shard_index, columns)
    tasks = [
        ChunkTask(
            f"files-{start // size:06d}",
            FilesChunk(Rows(rows, part), images.take(part)),
            prints[start],
        )
        for start, part in chunks.items()
    ]
    job = ChunkJob(
        tasks,
        write_files_chunk,
        executor,
        "files layout",
        "samples",
        preload=preload_of(plan_files),
    )
    source = narrowed(shard_index, _with_stored_image(INDEX_SOURCE_COLUMNS))
    order = filename_order(names["key"], names["image_ext"])
    return FilesLayoutPlan(
        job,
        lambda: (master_index(batch) for batch in taken(source, order)),
        rows_digest(batches_of(source)),
    )


def collect_rejects(*tables: pd.DataFrame) -> pd.DataFrame:
    merged = pd.concat([t for t in tables if len(t)] or [tables[0]], ignore_index=True)
    return merged.sort_values(
        ["source", "stage", "file", "row", "sample_id"], kind="stable", na_position="first"
    ).reset_index(drop=True)


def statistics(records: Tabular, shard_index: Tabular, rejects: pd.DataFrame) -> dict:
    """Counts per source and split, rejects by reason, and the conservation check:
    raw records = exported + rejected, per source."""
    records = frame_of(records, ["source"])
    shard_index = frame_of(shard_index, present(shard_index, ["source", "patient_id", "split"]))
    sources = sorted(set(records["source"]) | set(rejects["source"]))
    per_source = {}
    for source in sources:
        kept = int(records["source"].eq(source).sum())
        rejected = rejects[rejects["source"].eq(source)]
        ingest = int(rejected["stage"].eq("ingest").sum())
        exported = int(shard_index["source"].eq(source).sum())
        per_source[source] = {
            "raw_records": kept + ingest,
            "exported": exported,
            "rejected": len(rejected),
            "rejected_by_reason": rejected["reason"].value_counts().sort_index().to_dict(),
            "patients": int(
                shard_index.loc[shard_index["source"].eq(source), "patient_id"].nunique()
            ),
            "conserved": kept + ingest == exported + len(rejected),
        }
        if not per_source[source]["conserved"]:
            log.error(
                "%s: %d raw records but %d exported + %d rejected",
                source,
                kept + ingest,
                exported,
                len(rejected),
            )
    splits = shard_index["split"].value_counts().reindex(list(SPLITS))
    return {
        "sources": per_source,
        "splits": splits.fillna(0).astype(int).to_dict(),
        "exported": len(shard_index),
        "rejected": len(rejects),
    }
