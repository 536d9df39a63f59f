"""Deterministic, atomic tar shards (the WebDataset container).

Fixed metadata (mtime 0, uid/gid 0, no user names, mode 0444, USTAR: no PAX headers) so the
same samples give the same bytes; written to a temporary file and renamed on close. Members
are written straight to the file rather than through `tarfile.TarFile`, whose per-member
bookkeeping cost more than the I/O; members copied from a file (`add_file`) move in the
kernel (`copy_file_range`) without passing through Python. The bytes equal what
`tarfile` writes for the same members.
"""

from __future__ import annotations

import os
import tarfile
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO

from unimed_kedro.io.atomic import atomic_open, write_all

BLOCK = tarfile.BLOCKSIZE
RECORD = tarfile.RECORDSIZE
COPY_BLOCK = 1 << 20  # bytes read at a time where copy_file_range is not supported


def _tarfile_header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, 0, 0o444
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "surrogateescape")


# Every header field but name, size and checksum is fixed, so headers are filled into a
# template (tarfile's own header code cost ~40 us per member, more than writing the data).
_TEMPLATE = bytearray(_tarfile_header("", 0))
_TEMPLATE[148:156] = b" " * 8  # checksum is computed with its own field as spaces
_TEMPLATE_SUM = sum(_TEMPLATE)


def member_header(name: str, size: int) -> bytes:
    encoded = name.encode()
    if len(encoded) > 100 or size >= 8**11:  # needs USTAR's prefix field: let tarfile do it
        return _tarfile_header(name, size)
    header = _TEMPLATE.copy()
    header[0 : len(encoded)] = encoded
    header[124:136] = b"%011o\0" % size
    checksum = _TEMPLATE_SUM + sum(encoded) + sum(header[124:136]) - sum(_TEMPLATE[124:136])
    header[148:155] = b"%06o\0" % checksum
    return bytes(header)


def _padding(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)


class TarShardWriter:
    """`with TarShardWriter(path) as tar: tar.add("key.jpg", data)`."""

    def __init__(self, path: Path):
        self.path = path
        self._stack = ExitStack()
        self._handle: BinaryIO | None = None
        self._offset = 0

    def __enter__(self) -> TarShardWriter:
        self._handle = self._stack.enter_context(atomic_open(self.path))
        return self

    def __exit__(self, *exc) -> bool | None:
        if exc[0] is None:
            self._finish()
        return self._stack.__exit__(*exc)

    def _finish(self) -> None:
        # Two zero blocks end the archive; tarfile pads it to whole 10 KiB records.
        end = self._offset + 2 * BLOCK
        self._write(b"\0" * (2 * BLOCK + (-end % RECORD)))

    def _write(self, data: bytes) -> None:
        assert self._handle is not None, "use TarShardWriter as a context manager"
        self._handle.write(data)
        self._offset += len(data)

    def add(self, name: str, data: bytes) -> None:
        self._write(member_header(name, len(data)))
        self._write(data + _padding(len(data)))

    def add_file(self, name: str, source: str, size: int) -> None:
        """Add file `source`, `size` bytes long, as member `name`."""
        self._write(member_header(name, size))
        handle = self._handle
        assert handle is not None
        handle.flush()
        copy_file(source, size, handle.fileno())
        handle.seek(0, os.SEEK_END)
        self._offset += size
        self._write(_padding(size))


def copy_file(source: str, size: int, target_fd: int) -> None:
    """Append the `size` bytes of file `source` to the open file `target_fd`."""
    src = os.open(source, os.O_RDONLY)
    try:
        done = 0
        while done < size:
            try:
                copied = os.copy_file_range(src, target_fd, size - done, done)
            except OSError:  # filesystems without copy_file_range support
                data = os.pread(src, min(size - done, COPY_BLOCK), done)
                write_all(target_fd, data)
                copied = len(data)
            if copied == 0:
                raise OSError(f"{source}: expected {size} bytes, file ended after {done}")
            done += copied
    finally:
        os.close(src)
