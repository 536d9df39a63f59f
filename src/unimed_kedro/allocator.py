"""How this package's processes take memory from the system and give it back.

Run when the package is imported, before anything imports pyarrow (`__init__.py`), so the
parent, its fork server and workers, and a notebook all get it. Why: a node's tables are
freed when it ends, but the allocators kept the pages, so the parent's RSS grew with
every batch it had read (at 343k samples ~3x its live memory). Measured over 343k shard
index rows read a batch at a time: 467 MB RSS with the pool set from Python only, 229 MB
with this.
- Arrow's C++ default pool is mimalloc, which keeps freed pages; `pa.set_memory_pool`
  alone changes only what Python-side calls allocate, not the Parquet reader's buffers.
  The environment variable must be set before pyarrow picks its pool at import.
- glibc raises its mmap threshold to the largest block freed so far (up to 32 MB): after
  the first large table, every batch is carved from the heap and stays there, fragmented.
  A fixed threshold keeps blocks of 1 MB and more in their own mappings, returned on free.
- glibc gives every thread its own arena (16 on 2 cores); pyarrow's and the index writer's
  threads each kept one.
Only defaults: a variable the user set wins.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys

MMAP_THRESHOLD = 1 << 20  # 128 KB cost ~25% more time in reading a table by batches
ARENA_MAX = 2
_M_MMAP_THRESHOLD, _M_ARENA_MAX = -3, -8  # glibc's mallopt parameters (malloc.h)


def tune() -> None:
    """Arrow on the system allocator; glibc with a fixed mmap threshold and few arenas."""
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    pyarrow = sys.modules.get("pyarrow")
    if pyarrow is not None and os.environ["ARROW_DEFAULT_MEMORY_POOL"] == "system":
        pyarrow.set_memory_pool(pyarrow.system_memory_pool())  # imported before us
    libc = _libc()
    if libc is not None and hasattr(libc, "mallopt"):
        if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
            libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        if "MALLOC_ARENA_MAX" not in os.environ:
            libc.mallopt(_M_ARENA_MAX, ARENA_MAX)


def trim() -> None:
    """glibc's `malloc_trim(0)`: free pages anywhere in the heap back to the system."""
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


@functools.cache  # find_library runs `ldconfig -p`: once a process, not once a node
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name) if name else None
