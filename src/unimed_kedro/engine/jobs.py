"""Chunked, resumable execution of per-sample work.

A job is a list of chunk tasks (one task writes one shard-sized output) plus a picklable
function. `run_job` skips every task whose committed marker carries the same fingerprint
and whose outputs are still as committed, runs the rest on the configured backend, and
commits a marker only after the task's files are in place, so a run killed at any moment
resumes without redoing finished chunks.

A marker (`.chunks/<key>.json`) lists every output its chunk owns with what verifies it
cheaply (a file's size, a folder's digest of file names and sizes): a truncated, replaced
or missing output makes the chunk stale. The markers are the folder's inventory: outputs a
chunk no longer lists are removed when the job ends, and the saving dataset removes every
other file no marker lists (`remove_unlisted`), so an output folder holds exactly what the
last build decided, never a previous build's leftovers.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import stat
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from unimed_kedro.engine.backends import map_tasks
from unimed_kedro.io.atomic import (
    atomic_write_bytes,
    remove,
    remove_stale_temporaries,
    temporary_writer,
)

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


def rows_digest(frames: Iterable[pd.DataFrame]) -> str:
    """`digest(row_digests(...))` of the frames' rows as one table, a frame at a time."""
    hashed = hashlib.sha256()
    for frame in frames:
        hashed.update(np.ascontiguousarray(row_digests(frame)).tobytes())
    return hashed.hexdigest()


def digest(values: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(values).tobytes()).hexdigest()


def chunked(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), max(1, size)):
        yield items[start : start + size]


def run_job(job: ChunkJob, out_dir: Path, keep_markers: Collection[str] = ()) -> None:
    """Run the job into `out_dir`; each task's rows are then in its marker (`job_rows`).
    Files that an earlier version of a chunk, or a chunk the job no longer has, wrote and
    that no chunk of this job lists are removed at the end; the dataset saving the job
    removes the rest of what no marker lists (`remove_unlisted`) once its own files are
    written. `keep_markers`: keys the saving dataset commits outputs under itself
    (`commit_outputs`), not stale chunks. Markers are read a task at a time and their rows
    not kept: at 343k samples the normalize job's rows alone were ~400 MB of dicts."""
    claim(out_dir)
    markers = out_dir / MARKER_DIR
    remove_stale_temporaries(out_dir)
    todo, rebuilt = [], []
    for task in job.tasks:
        marker = _read_marker(markers, task.key)
        if marker is None or not _up_to_date(out_dir, marker, task):
            todo.append(task)
            rebuilt += [{**marker, "rows": []}] if marker else []
    log.info(
        "%s: %d of %d chunks up to date, %d to build",
        job.description,
        len(job.tasks) - len(todo),
        len(job.tasks),
        len(todo),
    )
    with collector_paused():
        for task, (rows, outputs) in map_tasks(
            partial(measured, job.fn),
            todo,
            out_dir,
            job.executor,
            desc=job.description,
            unit=job.unit,
            preload=job.preload,
        ):
            _commit(out_dir, task, rows, outputs)
    keys = {t.key for t in job.tasks} | set(keep_markers)
    _remove_old_outputs(out_dir, keys, rebuilt)


def job_rows(job: ChunkJob, out_dir: Path) -> Iterator[list[dict]]:
    """Each task's rows, in task order, as its committed marker holds them (after
    `run_job`), read a task at a time."""
    markers = out_dir / MARKER_DIR
    for task in job.tasks:
        marker = _read_marker(markers, task.key)
        if marker is None:
            raise RuntimeError(f"{out_dir}: chunk {task.key} has no marker; run the job first")
        yield marker["rows"]


def is_current(out_dir: Path, key: str, fingerprint: str) -> bool:
    """Whether the outputs committed under `key` by `commit_outputs` came from the same
    inputs (`fingerprint`) and are all still as committed: a dataset's own files (an index
    written by the parent) are skipped on a rerun like a chunk."""
    marker = _read_marker(out_dir / MARKER_DIR, key)
    return marker is not None and _up_to_date(out_dir, marker, ChunkTask(key, None, fingerprint))


def commit_outputs(out_dir: Path, key: str, fingerprint: str, outputs: Iterable[str]) -> None:
    """Commit files the saving dataset wrote itself under a marker `key`, as a chunk's: they
    join the folder's inventory and `is_current` verifies them on the next run."""
    root = str(out_dir)
    states = {rel: output_state(os.path.join(root, rel)) for rel in sorted(outputs)}
    _commit(out_dir, ChunkTask(key, None, fingerprint), [], states)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a job's results pour in. Every task
    adds rows the parent keeps, and each time the long-lived objects grow by a quarter the
    collector walks all of them, the run's tables included: at 343k samples the normalize
    node took 127 s with it, 107-112 s without (82 s with the collector off in the workers
    too). Result rows hold no reference cycles, so reference counting frees them as
    before; the collector resumes as it was."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def claim(out_dir: Path) -> None:
    """Make `out_dir` a folder of this engine (it holds `.chunks/`). A folder that exists
    with other files in it and no `.chunks/` is refused: every file no marker lists is
    removed after a save, so a misconfigured path (raw data, a project folder) must never
    become an output folder."""
    markers = out_dir / MARKER_DIR
    if markers.is_dir():
        return
    if out_dir.is_dir():
        found = sorted(n for n in os.listdir(out_dir) if temporary_writer(n) is None)
        if found:
            raise FileExistsError(
                f"{out_dir}: refusing to write chunk outputs into a folder this engine did "
                f"not create (it holds {found[:3]} but no {MARKER_DIR}/): files no chunk "
                "lists are removed from an output folder. Point the dataset at a new or "
                "empty folder."
            )
    markers.mkdir(parents=True, exist_ok=True)


def _marker_path(markers: Path, key: str) -> Path:
    return markers / f"{key}.json"


def _read_marker(markers: Path, key: str) -> dict | None:
    try:
        marker = json.loads(_marker_path(markers, key).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return marker if isinstance(marker, dict) else None


def output_state(path: str) -> int | str | None:
    """What a marker records of an output to verify it without reading it: a file's size,
    a folder's digest of its files' relative paths and sizes; None when it is missing."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode):
        return info.st_size
    listing = hashlib.sha256()
    for folder, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(folder, name)
            size = os.lstat(full).st_size
            listing.update(f"{os.path.relpath(full, path)}\0{size}\n".encode())
    return f"folder:{listing.hexdigest()}"


def _up_to_date(out_dir: Path, marker: dict, task: ChunkTask) -> bool:
    """Same inputs, and every output as it was committed (a truncated, replaced or
    missing file, a folder with a file more or less, rebuilds the chunk). Markers of an
    older format (a list of outputs, nothing to verify them by) rebuild too."""
    outputs = marker.get("outputs")
    if marker.get("fingerprint") != task.fingerprint or not isinstance(outputs, dict):
        return False
    root = str(out_dir)  # os.path: a files-layout chunk lists 2 files per sample
    return all(output_state(os.path.join(root, rel)) == state for rel, state in outputs.items())


def measured(
    fn: Callable[[ChunkTask, Path], tuple[list[dict], list[str]]], task: ChunkTask, out_dir: Path
) -> tuple[list[dict], dict[str, int | str | None]]:
    """Runs where the task runs: the chunk function, then the state of every output it
    lists, taken by the process that wrote them (no other machine's stale view of a shared
    filesystem, and the workers, not the parent, stat the files)."""
    rows, outputs = fn(task, out_dir)
    root = str(out_dir)
    return rows, {rel: output_state(os.path.join(root, rel)) for rel in sorted(outputs)}


def _commit(out_dir: Path, task: ChunkTask, rows: list[dict], states: dict) -> None:
    missing = [rel for rel, state in states.items() if state is None]
    if missing:
        raise RuntimeError(f"chunk {task.key} lists outputs it did not write: {missing[:5]}")
    marker = {"fingerprint": task.fingerprint, "outputs": states, "rows": rows}
    atomic_write_bytes(
        _marker_path(out_dir / MARKER_DIR, task.key),
        json.dumps(marker, sort_keys=True, default=str).encode(),
    )


def _outputs_of(marker: dict) -> list[str]:
    outputs = marker.get("outputs") or []
    return [rel for rel in outputs if isinstance(rel, str)]  # a dict iterates its paths


class Listed:
    """Every output the committed markers of a folder list (and `keep`), held as 64-bit
    hashes of their relative paths, 8 bytes each, and the folders that hold them. At 1M
    samples the files layout's 2M paths as a set of strings, with the marker dicts they
    came from, held ~450 MB. Two paths share a hash with odds of ~2⁻⁶⁴ per pair: at
    worst a stray file is kept, never a listed one removed."""

    def __init__(self, out_dir: Path, keep: Iterable[str] = ()):
        markers, keep = out_dir / MARKER_DIR, list(keep)
        # one growing buffer, not an array per marker: those small objects, each outliving
        # its marker's strings, kept the allocator's pages of every marker (~100 MB at 1M)
        hashes, heads = bytearray(path_hashes(keep)), {r.rpartition("/")[0] for r in keep}
        for marker_file in markers.glob("*.json"):
            marker = _read_marker(markers, marker_file.stem)
            outputs = _outputs_of(marker) if marker else []
            hashes += path_hashes(outputs).tobytes()
            heads.update({rel.rpartition("/")[0] for rel in outputs})
        self.hashes = np.sort(np.frombuffer(hashes, dtype=np.uint64))  # repeats do no harm
        # a folder holding something listed, and every folder above it
        self.folders = {str(p) for head in heads if head for p in (Path(head), *Path(head).parents)}
        self.folders.discard(".")

    def holds(self, rels: list[str]) -> np.ndarray:
        """Whether each of `rels` is listed."""
        if not len(self.hashes):
            return np.zeros(len(rels), dtype=bool)
        hashes = path_hashes(rels)
        at = np.minimum(np.searchsorted(self.hashes, hashes), len(self.hashes) - 1)
        return self.hashes[at] == hashes


def path_hashes(rels: list[str]) -> np.ndarray:
    """64-bit hashes of relative paths (pandas' keyed SipHash: the same in every process)."""
    values = np.array(rels, dtype=object)
    return pd.util.hash_array(values, categorize=False) if rels else np.zeros(0, np.uint64)


def _remove_old_outputs(out_dir: Path, keys: set[str], rebuilt: list[dict]) -> None:
    """Drop the markers of chunks the job no longer has (the input shrank), and the
    outputs of those and of the rebuilt chunks' previous versions that no current chunk
    lists: a sample that moved to another chunk keeps its file."""
    markers = out_dir / MARKER_DIR
    old = [_outputs_of(m) for m in rebuilt]
    for marker_file in sorted(markers.glob("*.json")):
        if marker_file.stem not in keys:
            marker = _read_marker(markers, marker_file.stem)
            old.append(_outputs_of(marker) if marker else [])
            marker_file.unlink()
            log.info("removed stale chunk %s", marker_file.stem)
    gone = sorted({rel for outputs in old for rel in outputs})
    for rel, listed in zip(gone, Listed(out_dir).holds(gone) if gone else ()):
        if not listed:
            remove(_inside(out_dir, rel))


def _inside(out_dir: Path, rel: str) -> Path:
    """`out_dir / rel`, refusing a relative path that leaves `out_dir`."""
    path = Path(os.path.normpath(out_dir / rel))
    if rel.startswith("/") or not path.is_relative_to(os.path.normpath(out_dir)):
        raise ValueError(f"{out_dir}: output {rel!r} is not inside the output folder")
    return path


def remove_unlisted(out_dir: Path, keep: Iterable[str] = ()) -> int:
    """End of a successful save: remove every file and folder in `out_dir` that no
    committed marker lists and that is not in `keep` (the dataset's own files, e.g. its
    index), so the folder holds exactly what this build decided. Temporaries (a live
    writer's) and the markers stay; a symlink is removed (the link only) or, when it leads
    to something wanted, kept, and never followed. Only a folder this engine claimed
    (`.chunks/` in it) is swept. A folder's entries are read a block at a time, never its
    whole listing (the files layout's `Images/` holds one file per sample). Returns how
    many entries went."""
    if not (out_dir / MARKER_DIR).is_dir():
        raise FileNotFoundError(f"{out_dir}: no {MARKER_DIR}/, not an output folder to sweep")
    listed = Listed(out_dir, keep)
    unwanted: list[str] = []  # removed after the walk: no listing changes while read
    pending = [""]
    while pending:
        here = pending.pop()
        with os.scandir(out_dir / here) as found:
            for block in iter(lambda: list(islice(found, 4096)), []):
                rels = [here + entry.name for entry in block]
                for entry, rel, held in zip(block, rels, listed.holds(rels)):
                    if rel in listed.folders:  # looked into below, unless a link
                        pending += [] if entry.is_symlink() else [rel + "/"]
                    elif not held and rel != MARKER_DIR and temporary_writer(entry.name) is None:
                        unwanted.append(entry.path)
    for path in unwanted:
        remove(path)
    if unwanted:
        log.info("%s: removed %d files no chunk lists", out_dir, len(unwanted))
    return len(unwanted)
