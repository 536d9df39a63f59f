"""The workers' file primitives. Atomic writes: readers never see a half-written file, a
killed run leaves none. Every writer creates `<name>.tmp-<pid>` (a file, or a folder of
files) next to the target and renames it into place; `remove_stale_temporaries` sweeps
leftovers of killed runs before a new run starts. `readahead` asks the kernel to fetch a
chunk's input files while the worker is busy with the first ones.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Iterator
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


@contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """A temporary folder to fill; on success it replaces `path` (and what was there) as a
    whole, so a folder of files appears complete or not at all."""
    tmp = Path(temporary(path))
    remove(tmp)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        remove(tmp)
        raise
    if path.exists():  # rename cannot replace a non-empty folder: move the old one aside
        old = Path(f"{tmp}-old")
        os.replace(path, old)
        os.replace(tmp, path)
        remove(old)
    else:
        os.replace(tmp, path)


def remove(path: str | Path) -> None:
    """Delete a file or a folder tree, if it exists."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def readahead(paths: Iterable[str]) -> None:
    """Start reading `paths` into the page cache in the background (no-op for cached
    files): a worker decoding one image no longer waits on the disk for the next. Missing
    files are left to the reader, which reports them."""
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
        except (AttributeError, OSError):  # platforms without posix_fadvise
            pass
        finally:
            os.close(fd)


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
    for folder, dirs, files in os.walk(root):
        for name in [n for n in dirs + files if TMP_MARK in n and not n.endswith(own)]:
            remove(os.path.join(folder, name))
            count += 1
        dirs[:] = [d for d in dirs if TMP_MARK not in d]  # removed or being written
    return count
