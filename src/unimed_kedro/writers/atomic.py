"""Atomic file writes: readers never see a half-written file, a killed run leaves none.

Every writer creates `<name>.tmp-<pid>` next to the target and renames it into place;
`remove_stale_temporaries` sweeps leftovers of killed runs before a new run starts.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

TMP_MARK = ".tmp-"


@contextmanager
def atomic_open(path: Path) -> Iterator[BinaryIO]:
    """Open a temporary file for writing; rename it over `path` only on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary(path)
    try:
        with open(tmp, "wb") as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_fd(path: str, write: Callable[[int], object]) -> None:
    """`write(fd)` into a temporary file, renamed to `path` on success; the parent folder
    must exist. Plain `os` calls: the files layout writes two files per sample."""
    tmp = temporary(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, path)


def temporary(path: str | Path) -> str:
    """The temporary name every writer here writes `path` under."""
    return f"{path}{TMP_MARK}{os.getpid()}"


def commit(staged: list[tuple[str, Path]]) -> None:
    """Rename (temporary, final) pairs written ahead into place."""
    for tmp, path in staged:
        os.replace(tmp, path)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_open(path) as handle:
        handle.write(data)


def remove_stale_temporaries(root: Path) -> int:
    """Delete temporaries left by killed runs under `root`; returns how many. This
    process's own are being written (e.g. an index staged in a thread), not stale."""
    count = 0
    own = f"{TMP_MARK}{os.getpid()}"
    for tmp in root.rglob(f"*{TMP_MARK}*"):
        if tmp.is_file() and not tmp.name.endswith(own):
            tmp.unlink(missing_ok=True)
            count += 1
    return count
