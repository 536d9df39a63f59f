"""The execution backends: executor settings checked before anything starts, and pool
workers that never outlive the process that started them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from unimed_kedro.engine import backends
from unimed_kedro.engine.backends import check_executor, start_in_background


@pytest.mark.parametrize(
    "executor,message",
    [
        (
            {"kind": "threads"},
            "executor.kind: expected one of ['dask', 'inline', 'local'], got 'threads'",
        ),
        (
            {"workers": -1},
            "executor.workers: expected a non-negative integer (0: all cores), got -1",
        ),
        ({"workers": "two"}, "executor.workers: expected a non-negative integer"),
        ({"mp_context": "fork-server"}, "executor.mp_context: expected one of"),
        ({"address": 8786}, "executor.address: expected a scheduler address or null, got 8786"),
        ("local", "executor: expected a mapping"),
    ],
)
def test_bad_executor_settings_name_the_setting(executor, message):
    with pytest.raises(ValueError) as raised:
        check_executor(executor)
    assert str(raised.value).startswith(message), str(raised.value)


@pytest.mark.parametrize(
    "executor",
    [
        {"kind": "local", "workers": 0, "mp_context": "forkserver", "address": None},
        {"kind": "dask", "workers": 2, "address": "tcp://127.0.0.1:8786"},
        {"kind": "inline"},
        {"kind": "local", "workers": None},
    ],
)
def test_good_executor_settings_pass(executor):
    check_executor(executor)


def test_a_run_with_a_bad_executor_fails_before_starting_workers():
    """`EngineHooks` calls this before the run's first node."""
    with pytest.raises(ValueError, match="executor.kind"):
        start_in_background({"kind": "gpu", "workers": 2})
    assert not backends._POOLS


# Starts the shared pool in a child process, makes sure every worker is up, prints their
# pids, then waits to be killed.
POOL = """
import sys, time
from unimed_kedro.engine import backends
pool, workers = backends._shared_pool({"workers": 2, "mp_context": sys.argv[1]}, ())
for future in [pool.submit(time.sleep, 0.5) for _ in range(workers)]:
    future.result()
print(" ".join(str(pid) for pid in pool._processes), flush=True)
time.sleep(120)
"""


def marked(marker: str) -> list[int]:
    """Live processes whose environment holds `marker` (what a run's children inherit)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and _alive(int(proc.name)):
            try:
                if marker.encode() in (proc / "environ").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                pass
    return found


def _alive(pid: int) -> bool:
    """Running (a zombie no parent has reaped yet counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("method", ["forkserver", "spawn"])
def test_workers_die_with_a_killed_parent(method):
    marker = f"UNIMED_BACKENDS_TEST={uuid.uuid4().hex}"
    name, _, value = marker.partition("=")
    parent = subprocess.Popen(
        [sys.executable, "-c", POOL, method],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, name: value},
    )
    try:
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2
        names = {Path(f"/proc/{pid}/comm").read_text().strip() for pid in pids}
        assert names == {backends.WORKER_NAME.decode()}
        os.kill(parent.pid, signal.SIGKILL)  # the parent only, as the OOM killer would
        parent.wait(timeout=10)
        deadline = time.monotonic() + 5
        while marked(marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in pids if _alive(pid)], "orphaned pool workers"
        assert not marked(marker), "the fork server or resource tracker stayed behind"
    finally:
        try:
            os.killpg(parent.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        parent.wait(timeout=10)
