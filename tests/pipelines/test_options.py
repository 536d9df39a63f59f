"""Settings are checked where their stage starts, each bad value a `ValueError` naming
`<collection>.<section>.<key>` and what was expected (as normalize's are): split and
export by the one helper (`schema/options.py`), the link setting once for ingest and the
normalize workers (`<collection>.ingest.allow_symlinks`). With the real `kedro run`, a bad
export value stops the run before any shard is written."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import load_conf
from tests.pipelines.conftest import KEDRO, project_copy
from unimed_kedro.pipelines.cxr.pipeline import SOURCES, create_pipeline
from unimed_kedro.sampledata import generate_cxr
from unimed_kedro.sources.registry import entry
from unimed_kedro.stages.export.nodes import ExportOptions
from unimed_kedro.stages.ingest.nodes import IngestOptions
from unimed_kedro.stages.split.nodes import SplitOptions, split_samples

CONF = load_conf("cxr/parameters.yml")["cxr"]


def test_project_params_are_valid():
    split = SplitOptions.from_params(CONF["split"])
    assert split.ratios == {"train": 0.8, "val": 0.1, "test": 0.1} and split.seed == 42
    export = ExportOptions.from_params(CONF["export"])
    assert export.collection == "cxr" and export.shard_maxcount == 1000
    assert IngestOptions.from_params(CONF["ingest"]).allow_symlinks is False


SPLIT_ERRORS = [
    ({"ratios": "80/10/10"}, "cxr.split.ratios: expected a number >= 0 for each of train, val"),
    ({"ratios": {"train": 0.8, "val": 0.2}}, "cxr.split.ratios: expected a number >= 0 for"),
    (
        {"ratios": {"train": 0.8, "val": 0.1, "test": 0.1, "dev": 0.1}},
        "cxr.split.ratios: expected a number >= 0 for each of train, val, test",
    ),
    (
        {"ratios": {"train": 0.8, "val": -0.1, "test": 0.3}},
        "cxr.split.ratios.val: expected a number >= 0, got -0.1",
    ),
    (
        {"ratios": {"train": "0.8", "val": 0.1, "test": 0.1}},
        "cxr.split.ratios.train: expected a number >= 0, got '0.8'",
    ),
    (
        {"ratios": {"train": 0.8, "val": 0.1, "test": float("nan")}},
        "cxr.split.ratios.test: expected a number >= 0, got nan",
    ),
    (
        {"ratios": {"train": 0, "val": 0, "test": 0}},
        "cxr.split.ratios: expected ratios summing to more than 0",
    ),
    (
        {"ratios": {"train": 0, "val": 0, "test": 1}},
        "cxr.split.ratios: expected train + val above 0 with use_official_split",
    ),
    ({"seed": "x"}, "cxr.split.seed: expected an integer, got 'x'"),
    ({"seed": 4.2}, "cxr.split.seed: expected an integer, got 4.2"),
    ({"use_official_split": "yes"}, "cxr.split.use_official_split: expected true or false"),
    ({"keep_official_val": 1}, "cxr.split.keep_official_val: expected true or false, got 1"),
    ({"ratio": {"train": 1}}, "cxr.split.ratio: unknown setting; known: ['balance_columns', "),
    ({"balance_columns": "view"}, "cxr.split.balance_columns: expected a list of names"),
    ({"balance_columns": ["View Position"]}, "cxr.split.balance_columns[0]: expected a name"),
    ({"collection": "c x r"}, "split.collection: expected a name of [a-z0-9_-], got 'c x r'"),
]


@pytest.mark.parametrize("change,message", SPLIT_ERRORS)
def test_bad_split_value_names_the_param(change, message):
    with pytest.raises(ValueError) as raised:
        SplitOptions.from_params({**CONF["split"], **change})
    assert str(raised.value).startswith(message), str(raised.value)


def test_missing_split_setting_is_named():
    params = {k: v for k, v in CONF["split"].items() if k != "seed"}
    with pytest.raises(ValueError, match=r"^cxr\.split\.seed: missing"):
        SplitOptions.from_params(params)
    with pytest.raises(ValueError, match=r"^split: expected a mapping of settings, got None"):
        SplitOptions.from_params(None)


def test_split_node_checks_its_params_first():
    """Before the samples are read at all: an empty frame would not reach `ratios`."""
    with pytest.raises(ValueError, match=r"^cxr\.split\.ratios\.test: expected a number"):
        split_samples(None, {**CONF["split"], "ratios": {"train": 1, "val": 0, "test": -1}})


def test_split_without_official_split_may_leave_train_and_val_empty():
    params = {**CONF["split"], "use_official_split": False}
    ratios = {"train": 0, "val": 0, "test": 1}
    assert SplitOptions.from_params({**params, "ratios": ratios}).ratios == ratios


EXPORT_ERRORS = [
    ({"shard_maxcount": 0}, "cxr.export.shard_maxcount: expected a positive integer, got 0"),
    ({"shard_maxcount": "many"}, "cxr.export.shard_maxcount: expected a positive integer"),
    ({"files_chunk_size": -5}, "cxr.export.files_chunk_size: expected a positive integer, got -5"),
    ({"files_chunk_size": 2.5}, "cxr.export.files_chunk_size: expected a positive integer"),
    ({"seed": None}, "cxr.export.seed: expected an integer, got None"),
    ({"seed": True}, "cxr.export.seed: expected an integer, got True"),
    (
        {"redistributable_only": "false"},
        "cxr.export.redistributable_only: expected true or false, got 'false'",
    ),
    (
        {"sample_format": "jsonl"},
        "cxr.export.sample_format: expected one of ['image_record', 'image_text'], got 'jsonl'",
    ),
    ({"collection": "cxr/x"}, "export.collection: expected a name of [a-z0-9_-], got 'cxr/x'"),
    ({"collection": 7}, "export.collection: expected a name of [a-z0-9_-], got 7"),
    ({"shard_max_count": 10}, "cxr.export.shard_max_count: unknown setting"),
]


@pytest.mark.parametrize("change,message", EXPORT_ERRORS)
def test_bad_export_value_names_the_param(change, message):
    with pytest.raises(ValueError) as raised:
        ExportOptions.from_params({**CONF["export"], **change})
    assert str(raised.value).startswith(message), str(raised.value)


def test_missing_export_collection_is_named():
    params = {k: v for k, v in CONF["export"].items() if k != "collection"}
    with pytest.raises(ValueError, match=r"^export\.collection: missing"):
        ExportOptions.from_params(params)


def test_ingest_and_normalize_nodes_read_the_one_ingest_section():
    """Every source's ingest node and the normalize planner take `params:cxr.ingest`."""
    pipeline = create_pipeline()
    readers = {n.name for n in pipeline.nodes if "params:cxr.ingest" in n.inputs}
    assert readers == {f"cxr.{s}.ingest" for s in SOURCES} | {"cxr.normalize_images"}


def _kedro_run(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DO_NOT_TRACK": "1", "KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "200"}
    return subprocess.run(
        [str(KEDRO), "run", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_bad_export_param_stops_the_run_before_any_shard(tmp_path):
    raw = tmp_path / "raw"
    generate_cxr(raw, seed=0)
    for source in SOURCES[:-1]:  # a smaller build: OpenI alone
        shutil.rmtree(raw / entry(source).folder)
    project = project_copy(tmp_path / "project")
    params = f"raw_root={raw},cxr.export.shard_maxcount=0"
    result = _kedro_run(project, "--pipelines", "cxr", "--params", params)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "cxr.export.shard_maxcount: expected a positive integer, got 0" in output, output
    assert "cxr.build_shard_index" in output
    out = project / "data" / "05_model_input" / "cxr"
    features = project / "data" / "04_feature" / "cxr"
    assert (features / "samples.parquet").is_file()  # the stages before export ran
    assert not list(out.rglob("*.tar")) and not (out / "shard_index.parquet").exists()
    assert not (out / "files").exists()
