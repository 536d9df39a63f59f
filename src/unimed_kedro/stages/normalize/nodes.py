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
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from unimed_kedro.datasets.chunk_store_dataset import ChunkStore
from unimed_kedro.engine.backends import check_executor
from unimed_kedro.engine.jobs import (
    ChunkJob,
    ChunkTask,
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
from unimed_kedro.schema.tables import Batches, Tabular, arrow_of, batches_of
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
    from raw_root and each source's folder."""
    options = normalize_options(params, ingest)
    check_executor(executor)
    root = Path(raw_root).resolve()
    roots = {name: str(root / info["folder"]) for name, info in sources.items()}
    encoding = encoding_id(options)
    checks = options.checks()
    where = arrow_of(records, ["sample_id", "source", "raw_relpath"])
    where = where.take(pc.sort_indices(where["sample_id"]))  # Arrow: no Python object a row
    tasks = []
    for index, start in enumerate(range(0, where.num_rows, options.chunk_size)):
        chunk = NormalizeChunk(where.slice(start, options.chunk_size), options, roots)
        state = [(s, r, file_state(r)) for s, _, r in chunk.samples()]
        tasks.append(ChunkTask(f"chunk-{index:06d}", chunk, fingerprint(encoding, checks, state)))
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
    depends on chunking, which must not change any export. Matched in Arrow once: the
    store's index never becomes a Python object per cell."""
    index = store.table()
    known = _text(index["sample_id"].combine_chunks())
    if len(pc.unique(known)) != len(known):
        raise ValueError("the store's index lists a sample twice")
    where = arrow_of(captioned, ["sample_id", "source", "raw_relpath"])
    at = pc.index_in(_text(where["sample_id"].combine_chunks()), value_set=known)
    status = pc.fill_null(_text(index["status"].combine_chunks()).take(at), "not_normalized")
    failed = pc.not_equal(status, "ok")
    bad = where.filter(failed).to_pandas()
    reasons = status.filter(failed).to_pylist()
    details = index["detail"].combine_chunks().take(at).filter(failed).to_pylist()
    rejects = reject_records(bad, stage="normalize", reasons=reasons, details=details)
    if len(bad):
        log.info(
            "normalize: %d images rejected %s",
            len(bad),
            pd.Series(reasons).value_counts().sort_index().to_dict(),
        )
    stored = index.drop_columns(
        [c for c in ("status", "detail", "file") if c in index.column_names]
    )
    kept = pc.invert(failed).to_numpy(zero_copy_only=False)
    rows = pc.fill_null(at, -1).to_numpy(zero_copy_only=False)
    return Batches(_stored(batches_of(captioned), stored, rows, kept)), rejects


def _text(values: pa.Array) -> pa.Array:
    """Text as one type (a column with no value at all is read as Arrow's null type)."""
    return values.cast(pa.large_string())


def _stored(
    batches: Iterable[pd.DataFrame], stored: pa.Table, rows: np.ndarray, kept: np.ndarray
) -> Iterator[pd.DataFrame]:
    """Each batch's records whose image is stored (in their order), with the store's
    columns: `rows` is each record's row of the store's index, `kept` whether it is ok."""
    start = 0
    for batch in batches:
        part = slice(start, start + len(batch))
        start += len(batch)
        columns = stored.take(pa.array(rows[part][kept[part]])).drop_columns(["sample_id"])
        columns = columns.to_pandas()
        columns = columns.astype({c: "int64" for c in INTEGER_COLUMNS if c in columns})
        yield pd.concat([batch[kept[part]].reset_index(drop=True), columns], axis=1)
