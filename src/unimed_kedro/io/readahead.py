"""Ask the kernel to fetch a chunk's input files while the worker is busy with the first
ones: a worker decoding one image no longer waits on the disk for the next."""

from __future__ import annotations

import os
from collections.abc import Iterable


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
