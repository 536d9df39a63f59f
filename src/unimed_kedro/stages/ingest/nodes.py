"""Ingest nodes: read each source folder with its registered reader, then merge the
per-source tables. What a source says about itself (title, licence, redistribution,
citation, folder) leaves ingest as data, so later stages never import a reader."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pandas as pd

from unimed_kedro.schema import rejects_frame
from unimed_kedro.schema.options import Options, flag, setting
from unimed_kedro.sources.base import RawSource
from unimed_kedro.sources.registry import entry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestOptions(Options):
    """`<collection>.ingest` params: how raw folders are read, by ingest and by the
    normalize workers alike. `allow_symlinks`: follow symbolic links leading outside a
    source folder (DVC's `cache.type: symlink`) instead of rejecting what they reach."""

    SECTION = "ingest"
    allow_symlinks: bool = setting(flag, False)


def ingest_options(params: Any) -> IngestOptions:
    """The ingest section checked (an absent one: the defaults); errors name
    `<collection>.ingest.<key>`."""
    return IngestOptions.from_params({} if params is None else params)


def ingest_source(
    raw: RawSource, vocabulary: dict, params: dict | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, dict, pd.DataFrame]:
    """Manifest, ingest rejects, facts and corrections of one source; an absent folder is
    skipped with a log line and gives an empty manifest. Corrections (values of kept
    records read as unknown, unusable table rows naming no record) are apart from the
    rejects: they lose no raw record. `params` is the collection's ingest section."""
    options = ingest_options(params)
    source = entry(raw.name)
    info = {**source.describe().as_dict(), "folder": source.folder, "present": raw.exists}
    if not raw.exists:
        log.warning("%s: folder %s missing or empty; source skipped", raw.name, raw.path)
        empty = source.reader_class().kind.empty(vocabulary["labels"]["union"])
        return empty, rejects_frame([]), info, rejects_frame([])
    reader = source.open(raw.path, vocabulary, allow_symlinks=options.allow_symlinks)
    manifest, rejects, corrections = reader.read()  # in its kind's columns and dtypes
    log.info(
        "%s: %d records kept, %d rejected at ingest %s, %d corrected %s",
        raw.name,
        len(manifest),
        len(rejects),
        _by_reason(rejects),
        len(corrections),
        _by_reason(corrections),
    )
    return manifest, rejects, info, corrections


def _by_reason(table: pd.DataFrame) -> dict | str:
    return table["reason"].value_counts().sort_index().to_dict() or ""


def merge_tables(*tables: pd.DataFrame) -> pd.DataFrame:
    """Concatenate per-source tables (sorted within each source, sources in order)."""
    non_empty = [t for t in tables if len(t)]
    merged = pd.concat(non_empty, ignore_index=True) if non_empty else tables[0].iloc[:0]
    if "sample_id" in merged and "stage" not in merged:
        duplicated = merged["sample_id"][merged["sample_id"].duplicated()]
        if len(duplicated):
            raise ValueError(f"sample ids are not unique across sources: {sorted(duplicated)[:5]}")
    return merged


def merge_sources(*infos: dict) -> dict[str, dict]:
    """The collection's sources by name, in the collection's order."""
    return {info["name"]: info for info in infos}
