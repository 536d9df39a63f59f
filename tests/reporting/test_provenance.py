"""Provenance: the equivalent command, git and DVC revisions, and the hook that hands them
to the report nodes."""

from __future__ import annotations

import subprocess

import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node, Pipeline

from unimed_kedro.hooks import ProvenanceHooks
from unimed_kedro.reporting.provenance import (
    NOT_TRACKED,
    command_line,
    dvc_revision,
    git_revision,
    run_provenance,
)

RUN_PARAMS = {
    "project_path": "/nowhere",
    "env": None,
    "kedro_version": "1.7.0",
    "pipeline_names": ["cxr"],
    "tags": None,
    "node_names": None,
    "runtime_params": {"raw_root": "/data/raw"},
    "runner": "<kedro.runner.sequential_runner.SequentialRunner object at 0x7f>",
    "run_id": "2026-11-23T08.00.00.000Z",
    "only_missing_outputs": False,
}


def test_command_line_of_a_plain_run():
    assert command_line(RUN_PARAMS) == "kedro run --pipelines cxr --params raw_root=/data/raw"


def test_command_line_with_options_nested_params_and_quoting():
    run = {
        **RUN_PARAMS,
        "env": "prod",
        "tags": ["a", "b"],
        "only_missing_outputs": True,
        "runner": "<kedro.runner.thread_runner.ThreadRunner object at 0x7f>",
        "runtime_params": {
            "raw_root": "/my data",
            "cxr": {"normalize": {"image_size": 384}, "export": {"redistributable_only": True}},
        },
    }
    assert command_line(run) == (
        "kedro run --pipelines cxr --env prod --tags a,b --runner ThreadRunner "
        "--only-missing-outputs --params 'raw_root=/my data,cxr.normalize.image_size=384,"
        "cxr.export.redistributable_only=true'"
    )


def test_no_run_id_or_time_in_provenance(tmp_path):
    record = run_provenance({**RUN_PARAMS, "project_path": str(tmp_path)}, {})
    assert RUN_PARAMS["run_id"] not in repr(record) and "0x7f" not in repr(record)
    assert record == run_provenance(
        {**RUN_PARAMS, "project_path": str(tmp_path), "run_id": "another"}, {}
    )


def _git(path, *args):
    subprocess.run(
        ["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True,
        capture_output=True,
    )


def test_git_revision_outside_and_inside_a_repository(tmp_path):
    assert git_revision(tmp_path) == {"commit": "unknown", "dirty": None}
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("1")
    _git(tmp_path, "add", "a.txt")
    _git(tmp_path, "commit", "-q", "-m", "first")
    clean = git_revision(tmp_path)
    assert len(clean["commit"]) == 40 and clean["dirty"] is False
    (tmp_path / "new_output.csv").write_text("x")  # untracked files do not count
    assert git_revision(tmp_path)["dirty"] is False
    (tmp_path / "a.txt").write_text("2")
    assert git_revision(tmp_path) == {"commit": clean["commit"], "dirty": True}


LOCK = {
    "schema": "2.0",
    "stages": {
        "other": {"cmd": "python other.py"},
        "cxr-ingest@nih": {"cmd": "kedro run --pipelines cxr --namespaces cxr.nih"},
        "cxr": {
            "cmd": "kedro run --pipelines cxr --from-nodes cxr.merge_manifests",
            "deps": [{"path": "src", "md5": "1"}],
        },
    },
}


def test_dvc_revision_without_a_lock_file(tmp_path):
    assert dvc_revision(tmp_path, ["cxr"]) == NOT_TRACKED


def test_dvc_revision_of_the_stage_dvc_is_running(tmp_path, monkeypatch):
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(LOCK))
    monkeypatch.setenv("DVC_STAGE", "cxr")
    found = dvc_revision(tmp_path, ["cxr"], "anything")
    assert list(found["stages"]) == ["cxr"] and len(found["stages"]["cxr"]) == 64
    assert found["dvc_repro_stage"] == "cxr"


def test_dvc_revision_by_command_else_every_stage_of_the_pipeline(tmp_path, monkeypatch):
    monkeypatch.delenv("DVC_STAGE", raising=False)
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(LOCK))
    same = dvc_revision(tmp_path, ["cxr"], "kedro run --pipelines cxr --namespaces cxr.nih")
    assert list(same["stages"]) == ["cxr-ingest@nih"] and same["dvc_repro_stage"] is None
    full = dvc_revision(tmp_path, ["cxr"], "kedro run --pipelines cxr")
    assert list(full["stages"]) == ["cxr", "cxr-ingest@nih"]
    assert dvc_revision(tmp_path, ["unimed"], "kedro run --pipelines unimed") == NOT_TRACKED


def _report(provenance: dict, params: dict) -> str:
    return provenance["command"]


def test_hook_fills_namespaced_provenance_before_the_run(tmp_path):
    pipeline = Pipeline(
        [Node(_report, ["provenance", "params:report"], "card", name="card")], namespace="cxr"
    )
    catalog = DataCatalog(
        {"params:cxr.report": MemoryDataset({"title": "t"}), "params:unused": MemoryDataset(1)}
    )
    ProvenanceHooks().before_pipeline_run(
        run_params={**RUN_PARAMS, "project_path": str(tmp_path)}, pipeline=pipeline, catalog=catalog
    )
    record = catalog.load("cxr.provenance")
    assert record["command"] == "kedro run --pipelines cxr --params raw_root=/data/raw"
    assert record["parameters"] == {"params:cxr.report": {"title": "t"}}  # only those read
    assert record["git"]["commit"] == "unknown" and record["dvc"] == NOT_TRACKED


def test_hook_leaves_pipelines_without_a_report_alone():
    catalog = DataCatalog()
    pipeline = Pipeline([Node(_report, ["a", "b"], "c")])
    ProvenanceHooks().before_pipeline_run(run_params=RUN_PARAMS, pipeline=pipeline, catalog=catalog)
    with pytest.raises(Exception):  # noqa: B017 (nothing was registered)
        catalog.load("provenance")
