"""Node results a rerun does not recompute (issue 18: a no-change rerun in seconds).

A memoized node function (`memoized`) does no work when Kedro calls it: it returns one
`Deferred` per output, holding a key (a digest of the function, the package's code and
every input) and the work, done at most once, when a dataset asks for a value. A dataset
saving a Deferred (`save`) first asks the run's memo whether the file or folder it
writes still holds that key's result, untouched since it was written (its state, as
`lstat` sees it); then the save writes nothing and, when every output of a node is held,
the node's work is never done. The next node's inputs are then the same files in the
same state, or the same Deferreds, so its key is unchanged too.

An input's key: a Deferred's own; for a table or store on disk (`memo_source()`), the key
its output was recorded with (`save`), or its state when it was not written by a run;
an object's `memo_key()` (a raw source folder: its state); parameters, JSON, small
frames and bytes by their content. An input of any other kind makes the node run as
before. The records live in `<data folder>/.node-memo/`, one small JSON per output,
outside every output (so no output's bytes depend on when it was written); without a
configured folder (a node called by a test) nothing is remembered.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import secrets
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from unimed_kedro.io.atomic import atomic_write_bytes
from unimed_kedro.io.digests import package_digest, scan_tree

log = logging.getLogger(__name__)
_folder: list[Path | None] = [None]


def configure(folder: Path | None) -> None:
    """Where this run keeps its records (None: remember nothing)."""
    _folder[0] = folder
    _FOLDER_STATES.clear()


def on_first_work(callback: Callable[[], object] | None) -> None:
    """Call `callback` once, when the first node's work of the run begins (None: forget
    it). The engine's workers start then: a rerun with nothing changed starts none, whose
    start-up (a fork server importing the jobs' modules) took a core from its walks."""
    _first_work[:] = [] if callback is None else [callback]


_first_work: list[Callable[[], object]] = []


def _working() -> None:
    try:
        callback = _first_work.pop()
    except IndexError:  # none, or another thread's work began first
        return
    callback()


class Deferred:
    """A node's output, computed by `make` only when asked (`value`), known by `key`."""

    def __init__(self, key: str, make: Callable[[], Any]):
        self.key = key
        self._make = make

    def value(self) -> Any:
        return self._make()

    def memo_key(self) -> str:
        return self.key

    def __deepcopy__(self, memo: dict) -> Deferred:  # a MemoryDataset copies what it holds
        return self


def memoized(func: Callable, outputs: int | None) -> Callable:
    """`func` whose results are Deferreds (`outputs`: how many it returns, None for a
    single value). When an input has no key, `func` runs at once, as it always did."""

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        key = key_of([_identity(func), code_digest(), list(args), kwargs])

        def call() -> Any:  # an input that is a Deferred is computed only now
            _working()
            return func(*map(settled, args), **{k: settled(v) for k, v in kwargs.items()})

        if key is None:
            return call()
        once = _Once(call)
        if outputs is None:
            return Deferred(key, once)
        return [Deferred(f"{key}-{i}", functools.partial(_item, once, i)) for i in range(outputs)]

    run.memoized = True  # type: ignore[attr-defined]
    return run


class _Once:
    """`make()` called at most once, whichever output asks first (`kedro run --async`
    saves a node's outputs from several threads)."""

    def __init__(self, make: Callable[[], Any]):
        self._make: Callable[[], Any] | None = make
        self._value: Any = None
        self._lock = threading.Lock()

    def __call__(self) -> Any:
        with self._lock:
            if self._make is not None:
                try:
                    self._value, self._make = self._make(), None
                except Exception as error:  # Kedro reports it as the save's error
                    setattr(error, _WORK, True)
                    raise
            return self._value


_WORK = "_unimed_node_work"


def work_error(error: BaseException) -> BaseException | None:
    """The node's own error that a dataset's save of its Deferred raised (Kedro wraps it
    in a `DatasetError` of that save), or None: the one-line failure names it, not the
    save."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if getattr(current, _WORK, False):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _item(results: Callable[[], Any], i: int) -> Any:
    return results()[i]


def settled(value: Any) -> Any:
    """What a node that is not memoized receives: a Deferred's value."""
    return value.value() if isinstance(value, Deferred) else value


def key_of(value: Any) -> str | None:
    """The digest of `value` (see the module's note), or None when it has none."""
    try:
        text = json.dumps(value, sort_keys=True, default=_keyed)
    except (_NoKey, TypeError, ValueError):  # TypeError: keys of mixed types
        return None
    return hashlib.sha256(text.encode()).hexdigest()


class _NoKey(Exception):
    pass


def loaded(value: Any, path: str | os.PathLike) -> Any:
    """`value` as a dataset loaded it from `path`: a node reading it is keyed by what
    `path` was written for (`recorded_key`), not by its content alone. A table read whole
    is the same bytes after an ingest that re-read a changed folder, but the images it
    names may not be."""
    try:
        ref = weakref.ref(value, functools.partial(_forget, id(value)))
    except TypeError:  # a dict, a str: keyed by content
        return value
    _ORIGINS[id(value)] = (ref, os.fspath(path))
    return value


def _forget(ident: int, _: weakref.ref) -> None:
    _ORIGINS.pop(ident, None)


_ORIGINS: dict[int, tuple[weakref.ref, str]] = {}


def _keyed(value: Any) -> Any:
    source = getattr(value, "memo_source", None)
    if callable(source) and not isinstance(value, type):  # a table or store on disk
        path, detail = source()
        return {"output": recorded_key(path) or state_of(path), "detail": detail}
    origin = _ORIGINS.get(id(value))
    if origin is not None and origin[0]() is value and (key := recorded_key(origin[1])):
        return {"output": key}
    memo_key = getattr(value, "memo_key", None)
    if callable(memo_key) and not isinstance(value, type):
        if (key := memo_key()) is None:
            raise _NoKey
        return {"memo_key": key}
    if isinstance(value, pd.DataFrame):
        return {"frame": _frame_digest(value)}
    if isinstance(value, (bytes, bytearray, memoryview)):  # an image, a figure
        return {"bytes": hashlib.sha256(value).hexdigest()}
    if isinstance(value, (tuple, set, frozenset)):
        return sorted(value, key=repr) if isinstance(value, (set, frozenset)) else list(value)
    raise _NoKey


def _frame_digest(frame: pd.DataFrame) -> str:
    try:
        table = pa.Table.from_pandas(frame)
    except (pa.ArrowException, TypeError, ValueError) as error:
        raise _NoKey from error
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue()).hexdigest()


def _identity(func: Callable) -> list:
    """A function by name, what it wraps and what its closure holds: `per_batch(f)` and
    `per_batch(g)` share a name but not a closure."""
    cells = [cell.cell_contents for cell in getattr(func, "__closure__", None) or ()]
    named = [f"{getattr(c, '__module__', '')}.{getattr(c, '__qualname__', '')}" for c in cells]
    return [getattr(func, "__module__", ""), getattr(func, "__qualname__", repr(func)), named]


@functools.cache
def code_digest() -> str:
    return package_digest(__name__.split(".")[0])


# --- the datasets' side ------------------------------------------------------------------


def save(path: str | os.PathLike, data: Any, write: Callable[[Any], None], about: str) -> None:
    """`write(data)`, or for a Deferred `write(data.value())` unless `path` still holds
    its result. `about`: what else decides the bytes written (the dataset's settings).

    What was written is recorded with the key it was made for: a node reading it is keyed
    by that (`recorded_key`), not by the file's bytes or times. So a node whose inputs
    changed but whose output came out byte-identical (ingest re-reading a folder where an
    image was replaced in place) still changes the keys of the nodes after it, and
    normalize looks at that image again. An output of a node that has no key gets a new
    one each time: what follows it is never taken as unchanged."""
    record = _record_path(path)
    if not isinstance(data, Deferred):
        write(data)
        key = f"unkeyed-{secrets.token_hex(16)}"
    else:
        key = hashlib.sha256(f"{data.key}\0{about}".encode()).hexdigest()
        if record is not None and recorded_key(path) == key:
            log.info("%s: unchanged inputs, code and settings: kept as it is", path)
            return
        write(data.value())
    if record is not None:
        state = state_of(path, fresh=True)
        text = json.dumps({"path": os.fspath(path), "key": key, "state": state})
        atomic_write_bytes(record, text.encode())


def recorded_key(path: str | os.PathLike) -> str | None:
    """The key `path` was last written for, while it is still as written; else None."""
    record = _record_path(path)
    if record is None:
        return None
    try:
        kept = json.loads(record.read_text())
    except (OSError, ValueError):
        return None
    return kept.get("key") if kept.get("state") == state_of(path) else None


def _record_path(path: str | os.PathLike) -> Path | None:
    folder = _folder[0]
    if folder is None:
        return None
    name = hashlib.sha256(os.path.abspath(path).encode()).hexdigest()[:32]
    return folder / f"{name}.json"


def state_of(path: str | os.PathLike, fresh: bool = False) -> str | None:
    """A file's size, modification time and inode; for a folder, every entry below it
    by path, size and modification time (`scan_tree`), walked once a run unless `fresh`
    (the image store is an input of four nodes; only its own save changes it); None when
    nothing is there."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not os.path.isdir(path):
        return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"
    where = os.path.abspath(path)
    if fresh or where not in _FOLDER_STATES:
        _FOLDER_STATES[where] = scan_tree(path, ctime=False).digest
    return _FOLDER_STATES[where]


_FOLDER_STATES: dict[str, str] = {}
