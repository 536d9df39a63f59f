"""Ask the kernel to fetch a chunk's input files while the worker is busy with the first
ones: a worker decoding one image no longer waits on the disk for the next."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable

# Opening never blocks (a FIFO among the inputs) nor, unless asked, follows a link.
OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def readahead(paths: Iterable[str], follow_symlinks: bool = False) -> None:
    """Start reading `paths` into the page cache in the background (no-op for cached
    files): a worker decoding one image no longer waits on the disk for the next. Only
    regular files are read ahead, asked of the opened file (`fstat`); a symbolic link is
    skipped unless `follow_symlinks`. Missing files and anything else are left to the
    reader, which reports them."""
    flags = OPEN_FLAGS if follow_symlinks else OPEN_FLAGS | NOFOLLOW
    for path in paths:
        try:
            fd = os.open(path, flags)
        except OSError:
            continue
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
        except (AttributeError, OSError):  # platforms without posix_fadvise
            pass
        finally:
            os.close(fd)
