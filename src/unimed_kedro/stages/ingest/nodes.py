"""Ingest nodes: read each source folder with its registered reader, then merge the
per-source tables. What a source says about itself (title, licence, redistribution,
citation, folder) leaves ingest as data, so later stages never import a reader."""

from __future__ import annotations

import logging

import pandas as pd

from unimed_kedro.schema import RecordKind, rejects_frame
from unimed_kedro.sources.base import RawSource
from unimed_kedro.sources.registry import entry

log = logging.getLogger(__name__)


def ingest_source(
    raw: RawSource, vocabulary: dict
) -> tuple[pd.DataFrame, pd.DataFrame, dict, pd.DataFrame]:
    """Manifest, ingest rejects, facts and corrections of one source; an absent folder is
    skipped with a log line and gives an empty manifest. Corrections (values of kept
    records read as unknown, unusable table rows naming no record) are apart from the
    rejects: they lose no raw record."""
    source = entry(raw.name)
    info = {**source.describe().as_dict(), "folder": source.folder, "present": raw.exists}
    kind, labels = source.reader_class().kind, list(vocabulary["labels"]["union"])
    if not raw.exists:
        log.warning("%s: folder %s missing or empty; source skipped", raw.name, raw.path)
        empty = conform(kind.empty(labels), kind, labels)
        return empty, rejects_frame([]), info, rejects_frame([])
    manifest, rejects, corrections = source.open(raw.path, vocabulary).read()
    manifest = conform(manifest, kind, labels)
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


def conform(manifest: pd.DataFrame, kind: RecordKind, labels: list[str]) -> pd.DataFrame:
    """The manifest in its kind's columns and dtypes, whatever it holds: float columns
    (labels, age) float64 even when empty; a column a source never fills (shipped
    captions of a source that ships none) holds None, not all-NaN floats: the records of
    a build without the sources that fill it must still hold what later stages expect."""
    floats = kind.dtypes(labels)
    frame = manifest.reindex(columns=kind.manifest_columns(labels)).astype(floats)
    for column in frame.columns.difference(list(floats), sort=False):
        values = frame[column]
        if (values.dtype == object or values.dtype.kind == "f") and values.isna().any():
            frame[column] = values.astype(object).where(values.notna(), None)
    return frame


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
