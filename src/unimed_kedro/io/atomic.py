"""The workers' file primitives. Atomic writes: readers never see a half-written file, a
killed run leaves none. Most writers create `.<name>.tmp-<pid>-<8 hex digits>` (a file, or
a folder of files) next to the target and rename it into place; `remove_stale_temporaries`
sweeps leftovers of killed runs before a new run starts. `NewFiles` adds many small files
to a folder without temporary names (an unnamed file linked in once written).

A temporary name is unambiguous: hidden, with the writer's pid and a random tag, matched
by the sweep as a whole (`TEMPORARY`). No output is named so (sample ids hold no dots and
never start with one), and a temporary whose writer is still alive is never swept.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

TMP_MARK = ".tmp-"
# `.<name>.tmp-<pid>-<tag>`: what `temporary` makes, and all the sweep ever deletes.
TEMPORARY = re.compile(r"\.(?P<name>.+)\.tmp-(?P<pid>[0-9]+)-(?P<tag>[0-9a-f]{8})")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[str]:
    """A temporary name (`temporary`) to write `path` under, its folder made: renamed over
    `path` only on success, deleted on failure. For writers that open files themselves.
    When `path` already holds the same bytes it is left as it was, times included: what
    tells a change by a file's state (`engine.memo`, DVC) sees none."""
    os.makedirs(os.path.dirname(os.fspath(path)) or ".", exist_ok=True)
    tmp = temporary(path)
    try:
        yield tmp
        if _same_bytes(tmp, path):
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


def _same_bytes(new: str, old: str | Path, block: int = 1 << 20) -> bool:
    try:
        if os.path.getsize(new) != os.path.getsize(old):
            return False
        with open(new, "rb") as a, open(old, "rb") as b:
            while chunk := a.read(block):
                if chunk != b.read(block):
                    return False
        return True
    except OSError:  # nothing there yet, or unreadable: write it
        return False


@contextmanager
def atomic_open(path: Path) -> Iterator[BinaryIO]:
    """Open a temporary file for writing; rename it over `path` only on success."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        yield handle


def write_all(fd: int, data: bytes | memoryview) -> None:
    """Write all of `data` to the open file `fd`: `os.write` may write fewer bytes than
    asked (a signal, a nearly full disk, a network filesystem); the rest is written, and a
    write that makes no progress raises rather than leave a short file."""
    view = memoryview(data).cast("B")
    total = len(view)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.EIO, f"short write: {len(view)} of {total} bytes not written")
        view = view[written:]


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
        old = Path(temporary(path))
        os.replace(path, old)
        os.replace(tmp, path)
        remove(old)
    else:
        os.replace(tmp, path)


class NewFiles:
    """Adds files to one folder, each appearing whole: written into an unnamed file
    (`O_TMPFILE`) then linked in under its name, or hard-linked from a finished file. Half
    the metadata operations of temporary name + rename (the files layout makes two files
    per sample, and its workers queue on the folder's lock), and a killed process leaves
    nothing behind. A name that exists already (a rerun) or a filesystem without
    `O_TMPFILE` or hard links takes the temporary name + rename path."""

    def __init__(self, folder: str):
        os.makedirs(folder, exist_ok=True)
        self.folder = folder
        self._fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        self._tmpfile = getattr(os, "O_TMPFILE", 0)  # Linux only

    def __enter__(self) -> NewFiles:
        return self

    def __exit__(self, *exc) -> None:
        os.close(self._fd)

    def write(self, name: str, data: bytes) -> None:
        if not (self._tmpfile and self._write_unnamed(name, data)):
            atomic_write_fd(f"{self.folder}/{name}", lambda fd: write_all(fd, data))

    def _write_unnamed(self, name: str, data: bytes) -> bool:
        """Write `name` as an unnamed file linked in once whole; False when the other path
        must (`name` exists) or from now on always must (no `O_TMPFILE`, no /proc)."""
        try:
            fd = os.open(".", self._tmpfile | os.O_WRONLY, 0o644, dir_fd=self._fd)
        except OSError:  # the filesystem cannot make unnamed files
            self._tmpfile = 0
            return False
        try:
            write_all(fd, data)  # its errors are the write's, not a reason to fall back
            try:
                os.link(f"/proc/self/fd/{fd}", name, dst_dir_fd=self._fd)
            except FileExistsError:  # the other path replaces it
                return False
            except OSError:  # e.g. no /proc to name the unnamed file by
                self._tmpfile = 0
                return False
            return True
        finally:
            os.close(fd)

    def link(self, source: str, name: str) -> None:
        try:
            os.link(source, name, dst_dir_fd=self._fd)
        except OSError:  # exists, or another filesystem
            link_or_copy(source, f"{self.folder}/{name}")


def link_or_copy(source: str, target: str) -> None:
    """Hard-link `source` as `target` (replacing it atomically); copy where the filesystem
    cannot link (another device, no hard links)."""
    tmp = temporary(target)
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)
    if os.path.lexists(tmp):  # `target` already was this link: rename leaves both names
        os.unlink(tmp)


def remove(path: str | Path) -> None:
    """Delete a file or a folder tree, if it exists."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def temporary(path: str | Path) -> str:
    """The temporary name every writer here writes `path` under: hidden, next to it, with
    this process's pid and a random tag (two writers of one name never share it)."""
    folder, name = os.path.split(os.fspath(path))
    return os.path.join(folder, f".{name}{TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")


def temporary_writer(name: str) -> int | None:
    """The pid that writes file or folder `name` if `name` is a temporary, else None."""
    match = TEMPORARY.fullmatch(name)
    return int(match["pid"]) if match else None


def process_alive(pid: int) -> bool:
    """Whether process `pid` runs on this machine (another user's counts too). A zombie
    does not: a killed worker stays one until something reaps it, which an init that does
    not reap (some containers) never does, and it writes nothing any more."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:  # no /proc (not Linux), or gone since the kill
        return False
    # the state follows the command name, which is in parentheses and may hold spaces
    return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] in (b"Z", b"X")


def commit(staged: list[tuple[str, Path]]) -> None:
    """Rename (temporary, final) pairs written ahead into place."""
    for tmp, path in staged:
        os.replace(tmp, path)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_open(path) as handle:
        handle.write(data)


def remove_stale_temporaries(root: Path) -> int:
    """Delete temporaries left by killed runs under `root`; returns how many. Only names
    `temporary` makes are touched, and only when their writer is dead: a live process's
    (this one's index staged in a thread, another run's worker) is being written."""
    count = 0
    for folder, dirs, files in os.walk(root):
        count += _sweep(folder, dirs + files)
        dirs[:] = [d for d in dirs if temporary_writer(d) is None]  # removed or being written
    return count


def _sweep(folder: str, names: list[str]) -> int:
    stale = [
        n for n in names if (pid := temporary_writer(n)) is not None and not process_alive(pid)
    ]
    for name in stale:
        remove(os.path.join(folder, name))
    return len(stale)


@contextmanager
def scratch_dir(folder: str | Path, name: str) -> Iterator[str]:
    """A folder `folder/.<name>.tmp-<pid>-<tag>` for one writer's intermediate files,
    removed on exit. A killed run's scratch folders in `folder` are swept first (their
    writers are dead): a temporary name is how a later run tells them from outputs."""
    folder = os.fspath(folder)
    with os.scandir(folder) as entries:
        _sweep(folder, [e.name for e in entries])
    path = temporary(os.path.join(folder, name))
    os.mkdir(path)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
