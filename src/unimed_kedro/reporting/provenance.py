"""What produced a build: the command, the parameters, the code and DVC revisions.

`run_provenance` is called by `ProvenanceHooks` (unimed_kedro.hooks) before a run. Only the
data card shows it: shards and indices never record a code revision, so that the same
inputs give the same bytes whichever commit built them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import yaml

UNKNOWN = "unknown"
NOT_TRACKED = "not tracked"
# run_params key -> `kedro run` option, in the order `kedro run --help` lists them
FILTER_OPTIONS = {
    "from_inputs": "--from-inputs",
    "to_outputs": "--to-outputs",
    "from_nodes": "--from-nodes",
    "to_nodes": "--to-nodes",
    "node_names": "--nodes",
    "tags": "--tags",
    "namespaces": "--namespaces",
}


def _flatten(params: dict, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested runtime params back to the dotted keys of `--params a.b=1`."""
    out = []
    for key, value in params.items():
        if isinstance(value, dict) and value:
            out += _flatten(value, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", value))
    return out


def _param_value(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)  # true / false / null, as YAML reads them back
    return str(value)


def _runner_name(runner: str | None) -> str | None:
    """run_params holds `str(runner_instance)`, which includes a memory address."""
    match = re.search(r"([A-Za-z_]\w*Runner)\b", runner or "")
    return match.group(1) if match else None


def command_line(run_params: dict) -> str:
    """The `kedro run` command equivalent to this run, options in a canonical order."""
    words = ["kedro", "run"]
    if run_params.get("pipeline_names"):
        words += ["--pipelines", ",".join(run_params["pipeline_names"])]
    if run_params.get("env"):
        words += ["--env", run_params["env"]]
    for key, option in FILTER_OPTIONS.items():
        if run_params.get(key):
            words += [option, ",".join(run_params[key])]
    runner = _runner_name(run_params.get("runner"))
    if runner and runner != "SequentialRunner":
        words += ["--runner", runner]
    if run_params.get("only_missing_outputs"):
        words.append("--only-missing-outputs")
    params = _flatten(run_params.get("runtime_params") or {})
    if params:
        words += ["--params", ",".join(f"{k}={_param_value(v)}" for k, v in params)]
    return " ".join(shlex.quote(w) for w in words)


def _git(path: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(path), *args], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def git_revision(path: Path) -> dict:
    """Commit of the project's git checkout and whether tracked files have uncommitted
    changes (untracked files, e.g. fresh outputs, do not count)."""
    commit = _git(path, "rev-parse", "HEAD")
    if commit is None:
        return {"commit": UNKNOWN, "dirty": None}
    status = _git(path, "status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def _runs_pipeline(command: str, names: list[str]) -> bool:
    return any(re.search(rf"--pipelines?[ =]\S*\b{re.escape(n)}\b", command) for n in names)


def _lock_stages(lock: Path, names: list[str]) -> dict[str, dict]:
    """dvc.lock entries whose command runs one of these pipelines, by stage name."""
    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
    found = {}
    for name, entry in sorted(stages.items()):
        cmd = entry.get("cmd", "")
        cmd = " ".join(cmd) if isinstance(cmd, list) else str(cmd)
        if _runs_pipeline(cmd, names):
            found[name] = {**entry, "cmd": " ".join(cmd.split())}
    return found


def dvc_revision(path: Path, pipeline_names: list[str], command: str = "") -> dict | str:
    """Digests of the dvc.lock entries of the stages behind this run: the stage `dvc repro`
    is running (DVC sets DVC_STAGE), else the stage with exactly this command, else every
    stage running these pipelines. dvc.lock is rewritten after a stage finishes, so under
    `dvc repro` these are the entries the run started from."""
    lock = path / "dvc.lock"
    if not lock.is_file() or not pipeline_names:
        return NOT_TRACKED
    stages = _lock_stages(lock, pipeline_names)
    running = os.environ.get("DVC_STAGE")
    chosen = (
        [running]
        if running in stages
        else [n for n, e in stages.items() if e["cmd"] == command] or list(stages)
    )
    if not chosen:
        return NOT_TRACKED
    digests = {
        n: hashlib.sha256(json.dumps(stages[n], sort_keys=True, default=str).encode()).hexdigest()
        for n in chosen
    }
    return {"stages": digests, "dvc_repro_stage": running if running in stages else None}


def run_provenance(run_params: dict, parameters: dict[str, Any]) -> dict:
    """Everything the data card states about how the build was made; `parameters` are the
    `params:` inputs of the run's nodes, by name. No run id or time: a rerun of the same
    command on the same revision gives the same card."""
    project = Path(run_params.get("project_path") or ".")
    names = list(run_params.get("pipeline_names") or ["__default__"])
    command = command_line(run_params)
    return {
        "command": command,
        "pipelines": names,
        "runtime_params": run_params.get("runtime_params") or {},
        "env": run_params.get("env"),
        "kedro_version": run_params.get("kedro_version"),
        "git": git_revision(project),
        "dvc": dvc_revision(project, names, command),
        "parameters": parameters,
    }
