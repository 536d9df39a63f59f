"""Chunked, resumable execution of per-sample work.

A job is a list of chunk tasks (one task writes one shard-sized output) plus a picklable
function. `run_job` skips every task whose committed marker carries the same fingerprint,
runs the rest on the configured backend, and commits a marker only after the task's files
are in place, so a run killed at any moment resumes without redoing finished chunks.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from unimed_kedro.engine.backends import map_tasks
from unimed_kedro.io.atomic import atomic_write_bytes, remove, remove_stale_temporaries

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable)

MARKER_DIR = ".chunks"


@dataclass(frozen=True)
class ChunkTask:
    """One unit of work: `key` names its marker, `payload` is what the function needs."""

    key: str
    payload: Any
    fingerprint: str


@dataclass(frozen=True)
class ChunkJob:
    """Tasks plus the top-level function `fn(task, out_dir) -> (rows, output_relpaths)`.

    `preload`: modules `fn` needs, imported once by the worker pool's fork server (see
    `worker_modules`); `index_columns`: the columns of the rows `fn` returns, for the
    store that indexes them."""

    tasks: list[ChunkTask]
    fn: Callable[[ChunkTask, Path], tuple[list[dict], list[str]]]
    executor: dict = field(default_factory=dict)
    description: str = "chunks"
    unit: str = "samples"
    preload: tuple[str, ...] = ()
    index_columns: tuple[str, ...] = ()


def worker_modules(*modules: str) -> Callable[[F], F]:
    """Mark a node that plans a job with the modules the job's workers import, so the run's
    worker pool, started before any job exists, has them loaded (see `hooks.EngineHooks`).
    The engine itself imports none of them."""

    def mark(planner: F) -> F:
        planner.worker_modules = modules  # type: ignore[attr-defined]
        return planner

    return mark


def preload_of(planner: Callable) -> tuple[str, ...]:
    """The modules `worker_modules` marked `planner` with (none when unmarked)."""
    return getattr(planner, "worker_modules", ())


def fingerprint(*parts: Any) -> str:
    """Stable digest of JSON-serialisable parts (sorted keys) used to detect changed inputs."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def row_digests(frame: pd.DataFrame, block: int = 2048) -> np.ndarray:
    """A 64-bit content hash per cell (pandas' fixed-key hash), rows x columns, for
    fingerprinting slices of a large table without serialising every row. Hashed a column
    and a block of rows at a time: pandas turns text into Python strings to hash it, and
    whole caption columns at once held ~100 MB of them at 20,000 rows; per export task,
    pandas' row hashing cost ~0.4 s per plan."""
    hashes = np.empty((len(frame), len(frame.columns)), dtype=np.uint64)
    for start in range(0, len(frame), block):
        rows = frame.iloc[start : start + block]
        for i, column in enumerate(frame.columns):
            hashes[start : start + block, i] = pd.util.hash_pandas_object(
                rows[column], index=False
            ).to_numpy()
    return hashes


def digest(values: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(values).tobytes()).hexdigest()


def chunked(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), max(1, size)):
        yield items[start : start + size]


def run_job(job: ChunkJob, out_dir: Path) -> list[dict]:
    """Run the job into `out_dir`; returns every task's rows in task order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    markers = out_dir / MARKER_DIR
    markers.mkdir(exist_ok=True)
    remove_stale_temporaries(out_dir)
    done = {t.key: rows for t in job.tasks if (rows := _committed_rows(markers, t)) is not None}
    todo = [t for t in job.tasks if t.key not in done]
    log.info(
        "%s: %d of %d chunks up to date, %d to build",
        job.description,
        len(done),
        len(job.tasks),
        len(todo),
    )
    for task, (rows, outputs) in map_tasks(
        job.fn,
        todo,
        out_dir,
        job.executor,
        desc=job.description,
        unit=job.unit,
        preload=job.preload,
    ):
        _commit(markers, task, rows, outputs)
        done[task.key] = rows
    _remove_stale_chunks(out_dir, markers, {t.key for t in job.tasks})
    return [row for t in job.tasks for row in done[t.key]]


def _marker_path(markers: Path, key: str) -> Path:
    return markers / f"{key}.json"


def _committed_rows(markers: Path, task: ChunkTask) -> list[dict] | None:
    path = _marker_path(markers, task.key)
    try:
        marker = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    out_dir = str(markers.parent)  # os.path: a files-layout chunk lists 2 files per sample
    outputs_present = all(os.path.exists(os.path.join(out_dir, rel)) for rel in marker["outputs"])
    if marker.get("fingerprint") != task.fingerprint or not outputs_present:
        return None
    return marker["rows"]


def _commit(markers: Path, task: ChunkTask, rows: list[dict], outputs: Iterable[str]) -> None:
    marker = {"fingerprint": task.fingerprint, "outputs": sorted(outputs), "rows": rows}
    atomic_write_bytes(
        _marker_path(markers, task.key), json.dumps(marker, sort_keys=True, default=str).encode()
    )


def _remove_stale_chunks(out_dir: Path, markers: Path, keep: set[str]) -> None:
    """Drop outputs of chunks that the current job no longer has (the input shrank)."""
    for marker_file in sorted(markers.glob("*.json")):
        if marker_file.stem in keep:
            continue
        try:
            outputs = json.loads(marker_file.read_text())["outputs"]
        except (json.JSONDecodeError, KeyError):
            outputs = []
        for rel in outputs:
            remove(out_dir / rel)
        marker_file.unlink()
        log.info("removed stale chunk %s", marker_file.stem)
