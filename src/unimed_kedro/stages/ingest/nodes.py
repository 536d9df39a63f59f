"""Ingest nodes: read each source folder with its registered reader, then merge the
per-source tables. What a source says about itself (title, licence, redistribution,
citation, folder) leaves ingest as data, so later stages never import a reader."""

from __future__ import annotations

import logging
import os
import platform
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from unimed_kedro.engine.jobs import fingerprint
from unimed_kedro.io.digests import links_state, package_digest, scan_tree
from unimed_kedro.schema import rejects_frame
from unimed_kedro.schema.options import Options, flag, integer, setting
from unimed_kedro.sources.base import RawSource, SourceTables
from unimed_kedro.sources.registry import SourceEntry, entry

log = logging.getLogger(__name__)
# what parses the raw files and types the tables besides our code: part of a read's key
_LIBRARIES = {
    "python": platform.python_version(),
    "numpy": np.__version__,
    "pandas": pd.__version__,
    "pyarrow": pa.__version__,
}


@dataclass(frozen=True)
class IngestOptions(Options):
    """`<collection>.ingest` params: how raw folders are read, by ingest and by the
    normalize workers alike. `allow_symlinks`: follow symbolic links leading outside a
    source folder (DVC's `cache.type: symlink`) instead of rejecting what they reach.
    `memo_min_rows`: a read of fewer table rows is not kept in the read memo (`_read`)."""

    SECTION = "ingest"
    allow_symlinks: bool = setting(flag, False)
    memo_min_rows: int = setting(integer(0), 10_000)


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
    rejects: they lose no raw record. `params` is the collection's ingest section. With a
    memo (`raw.memo`), an unchanged folder is not read again (`_read`)."""
    options = ingest_options(params)
    source = entry(raw.name)
    info = {**source.describe().as_dict(), "folder": source.folder, "present": raw.exists}
    if not raw.exists:
        log.warning("%s: folder %s missing or empty; source skipped", raw.name, raw.path)
        reader = source.reader_class()
        empty = reader.kind.empty(reader.labels_in(vocabulary))
        return empty, rejects_frame([]), info, rejects_frame([])
    manifest, rejects, corrections = _read(raw, source, vocabulary, options)
    return manifest, rejects, info, corrections


def _read(
    raw: RawSource, source: SourceEntry, vocabulary: dict, options: IngestOptions
) -> SourceTables:
    """The source's tables (in its kind's columns and dtypes): those its memo kept under
    the same key (`read_key`), else read from the folder and remembered."""
    key, files = read_key(raw, source, vocabulary, options) if raw.memo else (None, 0)
    recalled = raw.memo.recall(key) if raw.memo and key else None
    if recalled is not None:
        log.info(
            "%s: folder unchanged since the last read (%d files); reusing its %d records, "
            "%d rejects and %d corrections",
            raw.name,
            files,
            len(recalled.manifest),
            len(recalled.rejects),
            len(recalled.corrections),
        )
        return recalled
    tables = source.open(raw.path, vocabulary, allow_symlinks=options.allow_symlinks).read()
    log.info(
        "%s: %d records kept, %d rejected at ingest %s, %d corrected %s",
        raw.name,
        len(tables.manifest),
        len(tables.rejects),
        _by_reason(tables.rejects),
        len(tables.corrections),
        _by_reason(tables.corrections),
    )
    if raw.memo and key and sum(map(len, tables)) >= options.memo_min_rows:
        # below the bar, reading the folder again costs less than writing and checking
        # the memo (~0.05 s a source): the memo pays off for large sources only
        raw.memo.remember(key, tables)
    return tables


def read_key(
    raw: RawSource, source: SourceEntry, vocabulary: dict, options: IngestOptions
) -> tuple[str | None, int]:
    """The key a read of `raw` is remembered under, and how many files the folder holds.

    The key digests everything the read depends on: the readers' code (`sources`, and the
    `schema` they build on), the source's registry entry, the vocabulary, the ingest
    settings, the libraries that parse and type the tables, the folder's state as `lstat`
    sees it (`scan_tree`: taken before the read, so a file changed while it runs makes the
    next run read again) and what its links lead to. No key (None) when a link leads to a
    folder outside: what that holds is not in the state."""
    # the walk the node memo's key took, if any (`ReadMemo.folder_key`)
    state = raw.memo.take_tree(raw.path) if raw.memo else scan_tree(raw.path)
    links = links_state(raw.path, state.links)
    if links is None:
        log.info("%s: a link leads to a folder outside; the folder is read every run", raw.name)
        return None, state.files
    key = fingerprint(
        package_digest("unimed_kedro.sources", "unimed_kedro.schema"),
        raw.name,
        {"folder": source.folder, "reader": source.reader, "options": source.options},
        vocabulary,
        options.as_params(),
        state.digest,
        links,
        os.path.realpath(raw.path),
        _LIBRARIES,
    )
    return key, state.files


def _by_reason(table: pd.DataFrame) -> dict | str:
    return table["reason"].value_counts().sort_index().to_dict() or ""


def merge_tables(*tables: pd.DataFrame) -> pd.DataFrame:
    """Concatenate per-source tables (sorted within each source, sources in order);
    records in sample-id order, the order every later stage streams them in."""
    non_empty = [t for t in tables if len(t)]
    merged = pd.concat(non_empty, ignore_index=True) if non_empty else tables[0].iloc[:0]
    if "sample_id" in merged and "stage" not in merged:
        duplicated = merged["sample_id"][merged["sample_id"].duplicated()]
        if len(duplicated):
            raise ValueError(f"sample ids are not unique across sources: {sorted(duplicated)[:5]}")
        merged = merged.sort_values("sample_id", kind="stable", ignore_index=True)
    return merged


def merge_sources(*infos: dict) -> dict[str, dict]:
    """The collection's sources by name, in the collection's order."""
    return {info["name"]: info for info in infos}
