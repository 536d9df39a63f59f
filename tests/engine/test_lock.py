"""One run at a time on a data folder: a second holder is refused with a message naming the
first, and a dead holder (SIGKILL included) never leaves the lock stuck."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from unimed_kedro.engine import lock

HOLD = """
import os, sys, time
from pathlib import Path
from unimed_kedro.engine import lock
lock.acquire(Path(sys.argv[1]))
ready, started = os.pipe()
worker = os.fork() if sys.argv[2:] == ["fork"] else 1
if worker == 0:  # a pool worker forked while the lock is held
    os.write(started, b"x")  # fork has returned here: its at-fork hooks have run
    time.sleep(60)
    os._exit(0)
if worker != 1:  # "held" only once the worker runs, so killing the run races nothing
    os.read(ready, 1)
print("held", worker, flush=True)
time.sleep(120)
"""


def _holder(data: Path, *args: str) -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(data), *args], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    word, worker = process.stdout.readline().split()
    assert word == "held"
    return process, int(worker)


def test_a_second_holder_is_refused_until_the_first_is_killed(tmp_path):
    data = tmp_path / "data"
    first, _ = _holder(data)
    try:
        with pytest.raises(lock.DataFolderBusy, match=rf"in use by another run .*pid {first.pid}"):
            lock.acquire(data)
        assert not lock.held(data)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    lock.acquire(data)  # the kernel released the dead holder's lock
    try:
        assert lock.held(data)
        lock.acquire(data)  # this process may take it again
    finally:
        lock.release(data)
    assert not lock.held(data)


def test_a_forked_worker_does_not_keep_a_killed_runs_lock(tmp_path):
    """A worker forked while the run holds the lock closes its copy: when the run is
    SIGKILLed and the worker lives on, the next run still gets the lock."""
    data = tmp_path / "data"
    run, worker = _holder(data, "fork")
    try:
        run.send_signal(signal.SIGKILL)
        run.wait()
        os.kill(worker, 0)  # still alive
        lock.acquire(data)
        lock.release(data)
    finally:
        os.kill(worker, signal.SIGKILL)
