"""Execution backends and resumability of the `cxr` run: a real Dask scheduler and workers
on loopback, and a run killed with SIGKILL midway then finished."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.pipelines.conftest import KEDRO, build, kedro_run, project_copy

DASK = Path(sys.executable).with_name("dask")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@pytest.fixture
def dask_cluster(tmp_path):
    """`dask scheduler` + two `dask worker` processes on 127.0.0.1, stopped by PID."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    scheduler = subprocess.Popen(
        [
            str(DASK),
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--dashboard-address",
            ":0",
            "--no-show",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    processes = [scheduler]
    try:
        _wait_for_port(port)
        for i in range(2):
            processes.append(
                subprocess.Popen(
                    [
                        str(DASK),
                        "worker",
                        address,
                        "--nworkers",
                        "1",
                        "--nthreads",
                        "1",
                        "--host",
                        "127.0.0.1",
                        "--dashboard-address",
                        ":0",
                        "--local-directory",
                        str(tmp_path / f"worker{i}"),
                    ],
                    cwd=tmp_path,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        yield address
    finally:
        for process in reversed(processes):
            process.kill()
            process.wait(timeout=30)


def test_dask_cluster_outputs_match_local_processes(cxr_build, dask_cluster, tmp_path):
    on_dask = build(tmp_path, params=f"executor.kind=dask,executor.address={dask_cluster}")
    assert on_dask.digests() == cxr_build.digests()


def test_sigkilled_run_resumes_without_redoing_chunks(cxr_build, tmp_path):
    project = project_copy(tmp_path / "project")
    # small chunks so the kill lands between commits; exports must not depend on it
    args = [
        "run",
        "--pipelines",
        "cxr",
        "--params",
        f"raw_root={cxr_build.raw},cxr.normalize.chunk_size=4,executor.workers=2",
    ]
    env = {**os.environ, "DO_NOT_TRACK": "1", "KEDRO_DISABLE_TELEMETRY": "1"}
    run = subprocess.Popen(
        [str(KEDRO), *args],
        cwd=project,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    markers = project / "data" / "04_feature" / "cxr" / "normalized_images" / ".chunks"
    deadline = time.monotonic() + 120
    while len(list(markers.glob("*.json"))) < 3 and time.monotonic() < deadline:
        assert run.poll() is None, "run finished before it could be killed"
        time.sleep(0.05)
    os.killpg(run.pid, signal.SIGKILL)  # the kedro process and its pool workers
    run.wait()
    done_before = {p.name: p.stat().st_mtime_ns for p in markers.glob("*.json")}
    assert 3 <= len(done_before) < 30

    log = kedro_run(project, *args[1:])
    reused = int(re.search(r"normalize: (\d+) of (\d+) chunks up to date", log).group(1))
    assert reused >= len(done_before)
    assert all(markers.joinpath(n).stat().st_mtime_ns == t for n, t in done_before.items())
    assert not [p for p in (project / "data").rglob("*") if ".tmp-" in p.name]
    finished = type(cxr_build)(project, cxr_build.raw, cxr_build.expected, log)
    assert finished.digests() == cxr_build.digests()
