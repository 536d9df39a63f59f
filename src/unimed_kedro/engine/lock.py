"""One run at a time on a project's data folder.

Two `kedro run`s writing the same outputs would interleave chunk commits, index rewrites and
the sweeps of unlisted files and temporaries. A run holds an exclusive `flock` on
`<data>/.lock` from before its first node to its end (`hooks.DataLockHooks`); a second run
finds it taken and stops at once with a message naming the holder, before it writes
anything. The kernel releases the lock when the holding process dies, however it dies
(SIGKILL included), so a killed run never leaves it stuck; the file's content (who holds
it) is only information. Worker processes forked while the lock is held close their copy
of it, so only the run's own process holds it. A process that holds the lock may take it
again (a notebook session whose previous run failed before releasing it).
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import socket
import sys
import time
from pathlib import Path

LOCK_NAME = ".lock"
_HELD: dict[str, int] = {}  # real path of a lock file -> the descriptor holding it


class DataFolderBusy(RuntimeError):
    """Another process holds the data folder's lock."""


def data_folder(project_path: str | Path) -> Path:
    """The data folder a project's runs write into (the catalog's `data/...` paths)."""
    return Path(project_path) / "data"


def acquire(data_dir: Path) -> Path:
    """Take the lock of `data_dir` (created if missing) or raise `DataFolderBusy`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_NAME
    key = os.path.realpath(path)
    if key in _HELD:
        return path
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        raise DataFolderBusy(
            f"{data_dir} is in use by another run ({holder}): two runs on one data folder "
            "would overwrite each other's outputs. Wait for that run to end (or stop it), "
            f"then run again. The lock ({path}) is released when its process ends."
        ) from None
    _HELD[key] = fd
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": time.strftime("%Y-%m-%d %H:%M:%S"),
        "command": shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(record).encode() + b"\n", 0)
    return path


def release(data_dir: Path) -> None:
    """Give the lock of `data_dir` back, if this process holds it."""
    fd = _HELD.pop(os.path.realpath(data_dir / LOCK_NAME), None)
    if fd is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def held(data_dir: Path) -> bool:
    """Whether this process holds the lock of `data_dir`."""
    return os.path.realpath(data_dir / LOCK_NAME) in _HELD


def _holder(fd: int) -> str:
    try:
        record = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return (
            f"`{record['command']}`, pid {record['pid']} on {record['host']}, "
            f"since {record['since']}"
        )
    except (OSError, ValueError, KeyError, TypeError):
        return "its holder wrote no details yet"


def _forget_in_child() -> None:
    """A forked worker must not keep the lock alive after the run's process is gone:
    closing its copy leaves the parent's lock in place (flock belongs to the open file,
    released when its last descriptor closes)."""
    for fd in _HELD.values():
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD.clear()


os.register_at_fork(after_in_child=_forget_in_child)
