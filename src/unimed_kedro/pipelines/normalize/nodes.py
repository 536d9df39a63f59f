"""Normalize nodes.

`plan_normalize` only describes the work (chunks of samples and a fingerprint for each);
the `ImageChunkStoreDataset` it is saved to runs the chunks in worker processes and skips
those already built with the same inputs, like PartitionedDataset's lazy saving.
"""

from __future__ import annotations

import logging
import os

import pandas as pd

from unimed_kedro.datasets.image_chunk_store_dataset import ImageChunkStore
from unimed_kedro.engine.jobs import ChunkJob, ChunkTask, chunked, fingerprint
from unimed_kedro.imaging.normalize import NormalizeChunk, encoding_id, normalize_chunk
from unimed_kedro.schema import rejects_frame
from unimed_kedro.sources.common import RawSource

log = logging.getLogger(__name__)
OPTION_KEYS = ("image_size", "quality", "format", "color_mode", "resample", "validation")


def _file_state(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def plan_normalize(records: pd.DataFrame, params: dict, executor: dict,
                   *raw_sources: RawSource) -> ChunkJob:
    """One task per `chunk_size` samples, in sample-id order. Image paths are made absolute
    here, for the workers, from each source's folder as the catalog declares it now."""
    options = {k: params[k] for k in OPTION_KEYS if k in params}
    roots = {raw.name: str(raw.path.resolve()) for raw in raw_sources}
    encoding = encoding_id(options)
    # plain lists and string joins: per-row pandas iteration and Path objects cost ~0.5 s
    ids, sources, rels = (records[c].tolist() for c in ("sample_id", "source", "raw_relpath"))
    rows = sorted((s, src, f"{roots[src]}/{rel}") for s, src, rel in zip(ids, sources, rels))
    tasks = []
    for index, samples in enumerate(chunked(rows, int(params["chunk_size"]))):
        state = [(s, r, _file_state(r)) for s, _, r in samples]
        key = f"chunk-{index:06d}"
        tasks.append(ChunkTask(key, NormalizeChunk(samples, options), fingerprint(
            encoding, state)))
    return ChunkJob(tasks, normalize_chunk, executor, "normalize", "img")


def join_normalized(captioned: pd.DataFrame, store: ImageChunkStore
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Records with their normalised image, and the records whose image was rejected.
    Where a sample sits in the store (its file) stays out: it depends on chunking,
    which must not change any export."""
    index = store.index()
    merged = captioned.merge(index, on="sample_id", how="left", validate="one_to_one")
    merged["status"] = merged["status"].fillna("not_normalized")
    ok = merged["status"].eq("ok")
    bad = merged[~ok]
    rejects = rejects_frame(
        {"source": r.source, "sample_id": r.sample_id, "file": r.raw_relpath, "row": None,
         "stage": "normalize", "reason": r.status, "detail": r.detail}
        for r in bad.itertuples())
    if len(bad):
        log.info("normalize: %d images rejected %s", len(bad),
                 bad["status"].value_counts().sort_index().to_dict())
    integers = ["raw_bytes", "orig_width", "orig_height", "width", "height", "stored_bytes"]
    kept = merged[ok].drop(columns=["status", "detail", "file"])
    return kept.astype({c: "int64" for c in integers}).reset_index(drop=True), rejects
