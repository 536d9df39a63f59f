"""Ingest nodes: run each source's adapter, then merge the per-source tables."""

from __future__ import annotations

import logging

import pandas as pd

from unimed_kedro.schema import empty_manifest, rejects_frame
from unimed_kedro.sources import adapter
from unimed_kedro.sources.common import RawSource

log = logging.getLogger(__name__)


def ingest_source(raw: RawSource, vocabulary: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Manifest and ingest rejects of one source; an absent folder is skipped with a log."""
    union = list(vocabulary["labels"]["union"])
    if not raw.exists:
        log.warning("%s: folder %s missing or empty; source skipped", raw.name, raw.path)
        return empty_manifest(union), rejects_frame([])
    manifest, rejects = adapter(raw.name).read(raw.path, vocabulary)
    reasons = rejects["reason"].value_counts().sort_index().to_dict()
    log.info("%s: %d records kept, %d rejected at ingest %s", raw.name, len(manifest),
             len(rejects), reasons or "")
    return manifest, rejects


def merge_tables(*tables: pd.DataFrame) -> pd.DataFrame:
    """Concatenate per-source tables (sorted within each source, sources in order)."""
    non_empty = [t for t in tables if len(t)]
    merged = pd.concat(non_empty, ignore_index=True) if non_empty else tables[0].iloc[:0]
    if "sample_id" in merged and "stage" not in merged:
        duplicated = merged["sample_id"][merged["sample_id"].duplicated()]
        if len(duplicated):
            raise ValueError(f"sample ids are not unique across sources: "
                             f"{sorted(duplicated)[:5]}")
    return merged
