"""Two runs on one project cannot corrupt it: a second `kedro run` on the same data folder
stops at once with a message naming the first, a SIGKILLed run leaves no stuck lock, and
an output damaged after its chunk was committed is rebuilt, not trusted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tarfile
import time
from pathlib import Path

from tests.pipelines.conftest import KEDRO, Build, kedro_env, kedro_run, project_copy, run_kedro


def _args(raw: Path) -> list[str]:
    return ["--pipelines", "cxr", "--params", f"raw_root={raw}"]


def _start(project: Path, raw: Path) -> subprocess.Popen:
    with open(project / "run.log", "w") as log:  # a file: a full pipe would block the run
        return subprocess.Popen(
            [str(KEDRO), "run", *_args(raw)],
            cwd=project,
            env=kedro_env(),
            start_new_session=True,  # its own process group: the test stops it and its workers
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _wait_until_it_holds_the_lock(run: subprocess.Popen, project: Path) -> None:
    """The run writes who it is into data/.lock once it holds the lock (reading the file
    never takes the lock, so the run is not disturbed)."""
    lock_file = project / "data" / ".lock"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert run.poll() is None, "the run ended before it was seen holding the lock"
        try:
            if json.loads(lock_file.read_text() or "{}").get("pid") == run.pid:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise TimeoutError("the run never took the data folder's lock")


def _outputs(project: Path, raw: Path, log: str) -> dict[str, str]:
    digests = Build(project, raw, {}, log).digests()
    return {path: value for path, value in digests.items() if "/.chunks/" not in path}


def test_a_second_run_is_refused_while_the_first_holds_the_data_folder(cxr_build, tmp_path):
    project = project_copy(tmp_path / "project")
    first = _start(project, cxr_build.raw)
    try:
        _wait_until_it_holds_the_lock(first, project)
        os.killpg(first.pid, signal.SIGSTOP)  # hold it there, lock taken, mid-run
        second = run_kedro(project, "run", *_args(cxr_build.raw), timeout=300)
    finally:
        os.killpg(first.pid, signal.SIGCONT)
    first.wait(timeout=600)
    log = (project / "run.log").read_text()
    said = second.stdout + second.stderr
    assert second.returncode != 0, said[-3000:]
    assert "is in use by another run" in said and f"pid {first.pid}" in said, said[-3000:]
    assert "kedro run --pipelines cxr" in said  # names the run that holds it
    assert first.returncode == 0, log[-3000:]
    # the refused run wrote nothing: the outputs are exactly a single run's
    assert _outputs(project, cxr_build.raw, log) == _outputs(
        cxr_build.project, cxr_build.raw, cxr_build.log
    )


def test_a_sigkilled_run_leaves_no_stuck_lock(cxr_build, tmp_path):
    project = project_copy(tmp_path / "project")
    killed = _start(project, cxr_build.raw)
    try:
        _wait_until_it_holds_the_lock(killed, project)
    finally:
        os.killpg(killed.pid, signal.SIGKILL)  # the kedro process and its pool workers
        killed.wait()
    log = kedro_run(project, *_args(cxr_build.raw))  # exit code 0: not refused
    assert _outputs(project, cxr_build.raw, log) == _outputs(
        cxr_build.project, cxr_build.raw, cxr_build.log
    )


def test_outputs_damaged_after_their_commit_are_rebuilt(cxr_build, tmp_path):
    """A truncated shard, a shard replaced by another file and an image truncated in
    place (a hard link of the store's file, so the store's copy too) still exist: their
    chunks are stale all the same, and the next run rebuilds exactly them."""
    project = project_copy(tmp_path / "project")
    kedro_run(project, *_args(cxr_build.raw))
    out = project / "data" / "05_model_input" / "cxr"
    train, val = out / "webdataset" / "train", out / "webdataset" / "val"
    with open(train / "cxr-train-000000.tar", "r+b") as shard:
        shard.truncate(10240)
    (val / "cxr-val-000000.tar").write_bytes(b"not the shard")
    image = sorted((out / "files" / "Images").iterdir())[0]
    linked = image.stat().st_nlink > 1  # a copy where the filesystem cannot link
    with open(image, "r+b") as handle:
        handle.truncate(100)
    log = kedro_run(project, *_args(cxr_build.raw))
    assert "webdataset: 1 of 3 chunks up to date, 2 to build" in log
    assert "files layout: 0 of 1 chunks up to date, 1 to build" in log
    if linked:  # the store's file was truncated with it
        assert "normalize: 1 of 2 chunks up to date, 1 to build" in log
    assert _outputs(project, cxr_build.raw, log) == _outputs(
        cxr_build.project, cxr_build.raw, cxr_build.log
    )
    with tarfile.open(train / "cxr-train-000000.tar") as tar:
        assert tar.getnames()  # whole again
