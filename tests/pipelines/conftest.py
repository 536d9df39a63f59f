"""Builds the `cxr` collection once per test session from generated sample data, with the
real `kedro` command in a copy of this project, so tests read what a user would get."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PROJECT
from unimed_kedro.sampledata import generate_cxr

KEDRO = Path(sys.executable).with_name("kedro")
QUIET = {"DO_NOT_TRACK": "1", "KEDRO_DISABLE_TELEMETRY": "1", "DVC_NO_ANALYTICS": "1"}


@dataclass
class Build:
    project: Path
    raw: Path
    expected: dict
    log: str
    returncode: int = 0  # a run that may fail (`run_kedro`) says how it ended

    @property
    def out(self) -> Path:
        return self.project / "data" / "05_model_input" / "cxr"

    @property
    def reports(self) -> Path:
        return self.project / "data" / "08_reporting" / "cxr"

    @property
    def features(self) -> Path:
        return self.project / "data" / "04_feature" / "cxr"

    def digests(self) -> dict[str, str]:
        return output_digests(self.project, self.out, self.reports)

    def statistics(self) -> dict:
        return json.loads((self.reports / "statistics.json").read_text())


def output_digests(project: Path, *roots: Path) -> dict[str, str]:
    """sha256 of every file under `roots` (a build's outputs and reports), by path inside
    the project. The data card is left out: it records the command line and code revision
    on purpose."""
    return {
        str(p.relative_to(project)): hashlib.sha256(p.read_bytes()).hexdigest()
        for root in roots
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith("datacard.")
    }


def project_copy(target: Path) -> Path:
    target.mkdir(parents=True)
    shutil.copytree(PROJECT / "conf", target / "conf", ignore=shutil.ignore_patterns("local"))
    (target / "conf" / "local").mkdir()
    shutil.copy(PROJECT / "pyproject.toml", target / "pyproject.toml")
    (target / "src").mkdir()  # Kedro checks it exists; the package itself is installed
    shutil.copy(PROJECT / ".telemetry", target / ".telemetry")
    return target


def kedro_env(changes: dict[str, str | None] | None = None) -> dict[str, str]:
    """The environment `kedro` runs in here: this one, telemetry off, a 200-column terminal;
    `changes` sets variables over it (None unsets one, e.g. COLUMNS for what a pipe gets)."""
    env = {**os.environ, **QUIET, "COLUMNS": "200", **(changes or {})}
    return {name: value for name, value in env.items() if value is not None}


def run_kedro(
    project: Path, *args: str, env: dict[str, str | None] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """`kedro <args>` in `project` (`kedro_env(env)`), its output captured, returned
    whatever its exit code: the caller asserts what it expects."""
    return subprocess.run(
        [str(KEDRO), *args],
        cwd=project,
        env=kedro_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def kedro_run(project: Path, *args: str) -> str:
    """`kedro run <args>`, which must succeed; its output."""
    result = run_kedro(project, "run", *args)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def build(root: Path, flag: str = "--pipelines", params: str = "") -> Build:
    raw = root / "raw"
    expected = generate_cxr(raw, seed=0)
    project = project_copy(root / "project")
    log = kedro_run(
        project, flag, "cxr", "--params", ",".join(filter(None, [f"raw_root={raw}", params]))
    )
    return Build(project, raw, expected, log)


@pytest.fixture(scope="session")
def cxr_build(tmp_path_factory) -> Build:
    return build(tmp_path_factory.mktemp("cxr-a"))
