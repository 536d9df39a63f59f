"""Deterministic, atomic tar shards (the WebDataset container).

Fixed metadata (mtime 0, uid/gid 0, no user names, mode 0444, USTAR: no PAX headers) so the
same samples give the same bytes; written to a temporary file and renamed on close.
"""

from __future__ import annotations

import io
import tarfile
from contextlib import ExitStack
from pathlib import Path

from unimed_kedro.writers.atomic import atomic_open


class TarShardWriter:
    """`with TarShardWriter(path) as tar: tar.add("key.jpg", data)`; `add` returns the
    member's data offset and size so a reader can seek straight to it."""

    def __init__(self, path: Path):
        self.path = path
        self._stack = ExitStack()
        self._tar: tarfile.TarFile | None = None

    def __enter__(self) -> TarShardWriter:
        handle = self._stack.enter_context(atomic_open(self.path))
        self._tar = self._stack.enter_context(
            tarfile.open(fileobj=handle, mode="w", format=tarfile.USTAR_FORMAT))
        return self

    def __exit__(self, *exc) -> bool | None:
        return self._stack.__exit__(*exc)

    def add(self, name: str, data: bytes) -> tuple[int, int]:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(data), 0, 0o444
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        tar = self._tar
        assert tar is not None, "use TarShardWriter as a context manager"
        tar.addfile(info, io.BytesIO(data))
        # addfile() works on a copy of `info` and pads the data to whole 512-byte blocks
        padded = -(-info.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
        return tar.offset - padded, info.size


def read_member(path: Path, offset: int, size: int) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.read(size)
