"""Node results a rerun does not recompute (issue 18: a no-change rerun in seconds).

A memoized node function (`memoized`) does no work when Kedro calls it: it returns one
`Deferred` per output, holding a key (a digest of the function, the package's code and
every input) and the work, done at most once, when a dataset asks for a value. A dataset
saving a Deferred (`save`) first asks the run's memo whether the file or folder it
writes still holds that key's result, untouched since it was written (its state, as
`lstat` sees it); then the save writes nothing and, when every output of a node is held,
the node's work is never done. The next node's inputs are then the same files in the
same state, or the same Deferreds, so its key is unchanged too.

An input's key: a Deferred's own; an object's `memo_key()` (a lazily loaded table: its
file's state); parameters, JSON and small frames by their content. An input of any other
kind (a raw source folder: ingest has its own memo) makes the node run as before. The
records live in `<data folder>/.node-memo/`, one small JSON per output, outside every
output (so no output's bytes depend on when it was written); without a configured folder
(a node called by a test) nothing is remembered.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import threading
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
                self._value, self._make = self._make(), None
            return self._value


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


def _keyed(value: Any) -> Any:
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
    its result. `about`: what else decides the bytes written (the dataset's settings)."""
    if not isinstance(data, Deferred):
        write(data)
        return
    record = _record_path(path)
    key = hashlib.sha256(f"{data.key}\0{about}".encode()).hexdigest()
    if record is not None and _holds(record, path, key):
        log.info("%s: unchanged inputs, code and settings: kept as it is", path)
        return
    write(data.value())
    if record is not None:
        text = json.dumps({"path": os.fspath(path), "key": key, "state": state_of(path)})
        atomic_write_bytes(record, text.encode())


def _record_path(path: str | os.PathLike) -> Path | None:
    folder = _folder[0]
    if folder is None:
        return None
    name = hashlib.sha256(os.path.abspath(path).encode()).hexdigest()[:32]
    return folder / f"{name}.json"


def _holds(record: Path, path: str | os.PathLike, key: str) -> bool:
    try:
        kept = json.loads(record.read_text())
    except (OSError, ValueError):
        return False
    return kept.get("key") == key and kept.get("state") == state_of(path)


def state_of(path: str | os.PathLike) -> str | None:
    """A file's size, modification time and inode; for a folder, every entry below it
    by path, size and modification time (`scan_tree`: ~10 µs a file, where confirming a
    chunk's files against its marker costs ~45); None when nothing is there."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if os.path.isdir(path):
        return scan_tree(path, ctime=False).digest
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"
