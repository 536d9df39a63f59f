"""The package's allocator policy, as a fresh interpreter that imports it sees it."""

import os
import subprocess
import sys

import pytest

# After a freed 8 MB block, is a new 2 MB block carved from the heap (glibc's dynamic
# mmap threshold rose to 8 MB) or given its own mapping (the fixed 1 MB threshold)?
PROBE = """
import ctypes, ctypes.util
{imports}
import pyarrow as pa
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.free(libc.malloc(8 << 20))
block = libc.malloc(2 << 20)
heap = [line.split()[0] for line in open("/proc/self/maps") if line.rstrip().endswith("[heap]")]
low, high = (int(x, 16) for x in heap[0].split("-"))
print(pa.default_memory_pool().backend_name, "heap" if low <= block < high else "mapped")
"""


def probe(imports: str, **env: str) -> list[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "ARROW_"))}
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(imports=imports)],
        env={**environment, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.split()


pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc, /proc")


def test_importing_the_package_puts_arrow_on_the_system_allocator_with_a_fixed_mmap_threshold():
    assert probe("") == ["mimalloc", "heap"]  # what the defaults do, so the probe can fail
    assert probe("import unimed_kedro") == ["system", "mapped"]


def test_what_the_user_set_wins():
    assert probe("import unimed_kedro", ARROW_DEFAULT_MEMORY_POOL="mimalloc")[0] == "mimalloc"
    assert probe("import unimed_kedro", MALLOC_MMAP_THRESHOLD_="16777216")[1] == "heap"


def test_a_pyarrow_imported_before_the_package_is_switched_too():
    assert probe("import pyarrow, unimed_kedro")[0] == "system"
