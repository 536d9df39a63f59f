"""Normalize nodes.

`plan_normalize` only describes the work (chunks of samples and a fingerprint for each);
the `ChunkStoreDataset` it is saved to runs the chunks in worker processes and skips
those already built with the same inputs, like PartitionedDataset's lazy saving. It checks
the stage's params and the executor first (`NormalizeOptions`, `check_executor`): a wrong
value stops the run there, naming the parameter, before any image is read. Whether raw
files may be reached through links leading outside their source folder is the ingest
section's `allow_symlinks`, one setting for ingest and the workers.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from unimed_kedro.datasets.chunk_store_dataset import ChunkStore
from unimed_kedro.engine.backends import check_executor
from unimed_kedro.engine.jobs import (
    ChunkJob,
    ChunkTask,
    chunked,
    fingerprint,
    preload_of,
    worker_modules,
)
from unimed_kedro.imaging.normalize import (
    INDEX_COLUMNS,
    NormalizeChunk,
    encoding_id,
    normalize_chunk,
)
from unimed_kedro.imaging.options import NormalizeOptions
from unimed_kedro.schema import reject_records
from unimed_kedro.schema.options import section_name
from unimed_kedro.schema.tables import Batches, Tabular, batches_of, frame_of
from unimed_kedro.stages.ingest.nodes import ingest_options

log = logging.getLogger(__name__)
INTEGER_COLUMNS = ["raw_bytes", "orig_width", "orig_height", "width", "height", "stored_bytes"]


def file_state(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


@worker_modules("unimed_kedro.imaging.normalize")
def plan_normalize(
    records: Tabular,
    sources: dict[str, dict],
    params: dict,
    ingest: dict,
    executor: dict,
    raw_root: str,
) -> ChunkJob:
    """One task per `chunk_size` samples, in sample-id order. Image paths are made absolute
    here, for the workers, from raw_root and each source's folder."""
    options = normalize_options(params, ingest)
    check_executor(executor)
    root = Path(raw_root).resolve()
    roots = {name: str(root / info["folder"]) for name, info in sources.items()}
    encoding = encoding_id(options)
    checks = options.checks()
    # plain lists and string joins: per-row pandas iteration and Path objects cost ~0.5 s
    where = frame_of(records, ["sample_id", "source", "raw_relpath"])
    ids, names, rels = (where[c].tolist() for c in where.columns)
    rows = sorted((s, src, f"{roots[src]}/{rel}") for s, src, rel in zip(ids, names, rels))
    tasks = []
    for index, samples in enumerate(chunked(rows, options.chunk_size)):
        state = [(s, r, file_state(r)) for s, _, r in samples]
        key = f"chunk-{index:06d}"
        chunk = NormalizeChunk(samples, options, roots)
        tasks.append(ChunkTask(key, chunk, fingerprint(encoding, checks, state)))
    return ChunkJob(
        tasks,
        normalize_chunk,
        executor,
        "normalize",
        "img",
        preload=preload_of(plan_normalize),
        index_columns=INDEX_COLUMNS,
    )


def normalize_options(params: Any, ingest: Any = None) -> NormalizeOptions:
    """The stage's params checked, with `allow_symlinks` from the ingest section (absent:
    links leading outside are refused); errors name them as `<collection>.<section>.<key>`."""
    where = section_name(params, "normalize")
    if isinstance(params, Mapping) and "allow_symlinks" in params:
        moved = section_name(ingest if ingest is not None else params, "ingest")
        raise ValueError(
            f"{where}.allow_symlinks: moved to {moved}.allow_symlinks (one setting read by "
            "ingest and the normalize workers)"
        )
    options = NormalizeOptions.from_params(params, where)
    return dataclasses.replace(options, allow_symlinks=ingest_options(ingest).allow_symlinks)


def join_normalized(captioned: Tabular, store: ChunkStore) -> tuple[Batches, pd.DataFrame]:
    """Records with their normalised image (or volume), a batch at a time, and the records
    whose image was rejected. Where a 2D sample sits in the store (its file) stays out: it
    depends on chunking, which must not change any export."""
    index = store.index()
    if index["sample_id"].duplicated().any():
        raise ValueError("the store's index lists a sample twice")
    where = frame_of(captioned, ["sample_id", "source", "raw_relpath"])
    bad = where.merge(index[["sample_id", "status", "detail"]], on="sample_id", how="left")
    bad["status"] = bad["status"].fillna("not_normalized")
    bad = bad[bad["status"].ne("ok")]
    rejects = reject_records(
        bad, stage="normalize", reasons=bad["status"].tolist(), details=bad["detail"].tolist()
    )
    if len(bad):
        log.info(
            "normalize: %d images rejected %s",
            len(bad),
            bad["status"].value_counts().sort_index().to_dict(),
        )
    ok = index[index["status"].eq("ok")].drop(columns=["status", "detail", "file"], errors="ignore")
    integers = {c: "int64" for c in INTEGER_COLUMNS if c in ok}
    return Batches(_stored(batch, ok.astype(integers)) for batch in batches_of(captioned)), rejects


def _stored(records: pd.DataFrame, stored: pd.DataFrame) -> pd.DataFrame:
    """The records of a batch whose image is stored, with the store's columns."""
    return records.merge(stored, on="sample_id", how="inner", sort=False)
