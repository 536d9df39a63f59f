"""DVC versions the collections (`cxr` in depth, `satds` beside it): the real `dvc`, `git`
and `kedro` commands on generated sample data in a temporary git repository, a temporary
local remote and a fresh clone.

One module-scoped build (about 90 s of CPU, mostly six `kedro run`s): `dvc repro` twice,
a parameter change, `dvc push` / `git clone` / `dvc pull`, then `git checkout` +
`dvc checkout` of the older version. Tests read the logs and files each step left behind.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
import yaml
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog
from PIL import Image

from tests.conftest import PROJECT
from unimed_kedro import dvc_stages
from unimed_kedro.datasets import RawSourceDataset
from unimed_kedro.pipelines.cxr.pipeline import SOURCES
from unimed_kedro.sampledata import generate_satds, generate_unimed
from unimed_kedro.sources.registry import entry

# one build shared by the module: keep its tests on one worker (`-n 2 --dist loadgroup`)
pytestmark = pytest.mark.xdist_group("dvc")

DVC = Path(sys.executable).with_name("dvc")
# dvc.yaml's commands call `kedro`: the one next to this interpreter comes first on PATH
ENV = {
    **os.environ,
    "DO_NOT_TRACK": "1",
    "KEDRO_DISABLE_TELEMETRY": "1",
    "DVC_NO_ANALYTICS": "1",
    "COLUMNS": "200",
    "PATH": os.pathsep.join([str(DVC.parent), os.environ.get("PATH", "")]),
}
INGEST = [f"cxr-ingest@{s}" for s in SOURCES]
# the other collections' stages (satds's sources all sit in raw_root/satds/: one ingest
# stage reads them)
OTHER_STAGES = [
    "satds-ingest",
    "satds",
    *(f"unimed-ingest@{s}" for s in dvc_stages.sources("unimed")),
    "unimed",
]
OUTPUTS = ["data/05_model_input/cxr", "data/08_reporting/cxr"]
PARAMS = "conf/base/cxr/parameters.yml"


def run(cwd: Path, *cmd: str) -> str:
    result = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=600
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(map(str, cmd))}:\n{log[-4000:]}"
    return log


def dvc(cwd: Path, *args: str) -> str:
    return run(cwd, DVC, *args)


def git(cwd: Path, *args: str) -> str:
    return run(cwd, "git", "-c", "user.name=t", "-c", "user.email=t@t", *args)


def ran(log: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", log)


def skipped(log: str) -> list[str]:
    return re.findall(r"Stage '([^']+)' didn't change, skipping", log)


def digests(root: Path) -> dict[str, str]:
    """sha256 of every file of the DVC-tracked training set and reports."""
    files = sorted(p for out in OUTPUTS for p in (root / out).rglob("*") if p.is_file())
    assert files, f"no outputs under {root}"
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files
    }


def set_image_size(project: Path, value: int) -> None:
    path = project / PARAMS
    text, count = re.subn(r"(?m)^(\s+image_size:)\s*\d+", rf"\g<1> {value}", path.read_text())
    assert count == 1
    path.write_text(text)


def project_copy(target: Path) -> Path:
    """What a checkout of this project holds (code, conf, DVC files) + sample raw data."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "local")
    shutil.copytree(PROJECT / "conf", target / "conf", ignore=ignore)
    (target / "conf" / "local").mkdir()
    (target / "conf" / "local" / ".gitkeep").touch()
    shutil.copytree(
        PROJECT / "src" / "unimed_kedro", target / "src" / "unimed_kedro", ignore=ignore
    )
    for name in ("pyproject.toml", ".telemetry", ".gitignore", ".dvcignore", "dvc.yaml"):
        shutil.copy(PROJECT / name, target / name)
    generate_unimed(target / "data" / "01_raw", seed=0)  # the chest sources and UniMed's
    generate_satds(target / "data" / "01_raw", seed=0)
    return target


@dataclass
class Repo:
    path: Path
    remote: Path
    logs: dict[str, str] = field(default_factory=dict)
    versions: dict[str, dict[str, str]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Repo:
    root = tmp_path_factory.mktemp("dvc")
    project = project_copy(root / "unimed-kedro")
    repo = Repo(project, root / "remote")
    git(project, "init", "-q", "-b", "main")
    dvc(project, "init", "-q")
    shutil.copy(PROJECT / ".dvc" / "config", project / ".dvc" / "config")
    # the committed default remote stays; this checkout points it elsewhere, untracked
    dvc(project, "remote", "modify", "--local", "local", "url", str(repo.remote))
    repo.logs["add"] = dvc(
        project,
        "add",
        *sorted(str(p.relative_to(project)) for p in (project / "data" / "01_raw").iterdir()),
    )
    git(project, "add", "-A")
    git(project, "commit", "-qm", "code, conf and raw data pointers")

    repo.logs["repro1"] = dvc(project, "repro")
    repo.versions["512"] = digests(project)
    git(project, "add", "dvc.lock")
    git(project, "commit", "-qm", "cxr at image_size 512")
    # what a Python import and a kedro run leave next to the code must not count as change
    (project / "src" / "unimed_kedro" / "__pycache__").mkdir(exist_ok=True)
    (project / "src" / "unimed_kedro" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"x")
    repo.logs["repro2"] = dvc(project, "repro")
    repo.logs["status2"] = dvc(project, "status")
    return repo


@pytest.fixture(scope="module")
def resized(repo: Repo) -> Repo:
    set_image_size(repo.path, 384)
    repo.logs["params_diff"] = dvc(repo.path, "params", "diff")
    repo.logs["repro3"] = dvc(repo.path, "repro")
    repo.logs["status3"] = dvc(repo.path, "status")
    repo.versions["384"] = digests(repo.path)
    git(repo.path, "commit", "-qam", "cxr at image_size 384")
    return repo


@pytest.fixture(scope="module")
def clone(resized: Repo) -> Path:
    resized.logs["push"] = dvc(resized.path, "push")
    target = resized.path.parent / "elsewhere" / "unimed-kedro"
    target.parent.mkdir()
    git(target.parent, "clone", "-q", str(resized.path), str(target))
    dvc(target, "remote", "modify", "--local", "local", "url", str(resized.remote))
    resized.logs["pull"] = dvc(target, "pull")
    return target


def test_first_repro_runs_every_stage_once(repo):
    assert sorted(ran(repo.logs["repro1"])) == sorted([*INGEST, "cxr", *OTHER_STAGES])
    assert any((repo.path / "data/05_model_input/satds/jsonl").glob("*.jsonl"))
    for out in OUTPUTS:
        assert any((repo.path / out).iterdir())
    assert any((repo.path / OUTPUTS[0] / "webdataset").rglob("*.tar"))
    # DVC owns the training set; Kedro's resumable image store is not an output
    lock = yaml.safe_load((repo.path / "dvc.lock").read_text())
    outs = {o["path"] for stage in lock["stages"].values() for o in stage.get("outs", [])}
    assert set(OUTPUTS) <= outs
    assert not any("04_feature" in o for o in outs)


def test_second_repro_is_a_noop(repo):
    assert ran(repo.logs["repro2"]) == []
    assert sorted(skipped(repo.logs["repro2"])) == sorted([*INGEST, "cxr", *OTHER_STAGES])
    assert "Data and pipelines are up to date." in repo.logs["repro2"]
    assert "Data and pipelines are up to date." in repo.logs["status2"]


def test_image_size_change_reruns_only_the_cxr_stage(resized):
    diff = resized.logs["params_diff"]
    assert re.search(r"cxr\.normalize\.image_size\s+512\s+384", diff), diff
    assert "executor" not in diff
    assert ran(resized.logs["repro3"]) == ["cxr"]
    assert sorted(skipped(resized.logs["repro3"])) == sorted([*INGEST, *OTHER_STAGES])
    assert "Data and pipelines are up to date." in resized.logs["status3"]
    assert resized.versions["384"] != resized.versions["512"]

    out = resized.path / OUTPUTS[0]
    samples = pd.read_parquet(out / "shard_index.parquet")
    assert len(samples)
    for row in samples.itertuples():
        with Image.open(out / "files" / "Images" / f"{row.sample_id}.jpg") as image:
            assert min(image.size) == min(384, row.orig_width, row.orig_height), row.sample_id
    assert (samples[["orig_width", "orig_height"]].min(axis=1) > 384).any()


def test_push_clone_pull_restores_identical_outputs(resized, clone):
    assert "files pushed" in resized.logs["push"]
    assert digests(clone) == resized.versions["384"]
    # the clone has everything its lock file names: nothing to rebuild
    assert "Data and pipelines are up to date." in dvc(clone, "status")


def test_pulled_manifests_hold_no_absolute_paths(resized, clone):
    """Manifests are DVC outs: a clone that re-runs only `cxr` must read its own images."""
    manifests = sorted((clone / "data" / "02_intermediate" / "cxr").glob("*/manifest.parquet"))
    assert len(manifests) == len(INGEST)
    for manifest in manifests:
        frame = pd.read_parquet(manifest)
        assert "raw_relpath" in frame and len(frame)
        for column in frame.select_dtypes(include=["object", "string"]).columns:
            values = frame[column].dropna().astype(str)
            assert not values.str.startswith(("/", str(resized.path))).any(), column


def test_checkout_of_an_older_commit_restores_its_outputs(resized):
    project = resized.path
    git(project, "checkout", "-q", "HEAD~1")
    try:
        dvc(project, "checkout")
        assert digests(project) == resized.versions["512"]
        assert "Data and pipelines are up to date." in dvc(project, "status")
    finally:
        git(project, "checkout", "-q", "main")
        dvc(project, "checkout")
    assert digests(project) == resized.versions["384"]


# --- static checks of dvc.yaml against the project (no DVC run) ---------------------------


def _dvc_yaml() -> dict:
    return yaml.safe_load((PROJECT / "dvc.yaml").read_text())


def _tracked_params() -> dict[str, list[str]]:
    tracked: dict[str, list[str]] = {}
    for stage in _dvc_yaml()["stages"].values():
        for item in stage.get("do", stage).get("params", []):
            for path, keys in item.items():
                tracked.setdefault(path, []).extend(keys)
    return tracked


def _lookup(tree: dict, dotted: str):
    for part in dotted.split("."):
        tree = tree[part]
    return tree


def _keys(tree) -> set[str]:
    if isinstance(tree, dict):
        return set(tree) | {k for v in tree.values() for k in _keys(v)}
    if isinstance(tree, list):
        return {k for v in tree for k in _keys(v)}
    return set()


def test_tracked_params_exist_and_avoid_run_cache_blind_names():
    tracked = _tracked_params()
    assert tracked
    for path, keys in tracked.items():
        conf = yaml.safe_load((PROJECT / path).read_text())
        for key in keys:
            assert not key.startswith("executor"), "workers/backends must not trigger rebuilds"
            # DVC's run cache drops keys named size/nfiles from its hash (dvc#10296)
            assert not {"size", "nfiles"} & _keys(_lookup(conf, key)), key


def test_every_collection_setting_is_tracked():
    """A new section under `<collection>:` must reach dvc.yaml, or changing it would
    rebuild nothing (the generator reads the sections: regenerating adds it)."""
    stages = _dvc_yaml()["stages"]
    for collection in dvc_stages.collections(PROJECT):
        path = dvc_stages.params_file(collection)
        conf = yaml.safe_load((PROJECT / path).read_text())
        tracked = {key for item in stages[collection]["params"] for key in item.get(path, [])}
        expected = {f"{collection}.{s}" for s in conf[collection]} - {f"{collection}.executor"}
        assert expected <= tracked, collection
    assert PARAMS in _tracked_params()


def test_ingest_stage_tracks_the_params_ingest_reads():
    """The per-source ingest stage reruns when what its node reads changes: the vocabulary
    and the ingest section (`allow_symlinks` decides which records are kept)."""
    stages = _dvc_yaml()["stages"]
    for collection in dvc_stages.collections(PROJECT):
        path = dvc_stages.params_file(collection)
        conf = yaml.safe_load((PROJECT / path).read_text())[collection]
        stage = stages[f"{collection}-ingest"]
        do = stage.get("do", stage)  # one stage per source, or one for a shared folder
        tracked = [key for item in do.get("params", []) for key in item.get(path, [])]
        expected = [f"{collection}.{s}" for s in conf if s in ("ingest", "vocabulary")]
        assert tracked == expected, collection
    assert {"cxr.ingest", "cxr.vocabulary"} <= set(_tracked_params()[PARAMS])


def test_dvc_yaml_is_generated_from_the_registry_and_collections():
    """Edited by hand or stale (a source, folder, collection or parameter section changed
    since): run `python -m unimed_kedro.dvc_stages`."""
    assert (PROJECT / "dvc.yaml").read_text() == dvc_stages.render(PROJECT)


def test_generator_check_flags_a_stale_file_and_rewrites_it(tmp_path, monkeypatch, capsys):
    for name in ("src", "conf"):
        (tmp_path / name).symlink_to(PROJECT / name, target_is_directory=True)
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    monkeypatch.chdir(tmp_path)
    assert dvc_stages.main(["--check"]) == 1
    assert "stale" in capsys.readouterr().err
    assert (tmp_path / "dvc.yaml").read_text() == "stages: {}\n"
    assert dvc_stages.main([]) == 0
    assert dvc_stages.main(["--check"]) == 0
    assert (tmp_path / "dvc.yaml").read_text() == (PROJECT / "dvc.yaml").read_text()


@pytest.mark.parametrize("source", SOURCES)
def test_raw_dataset_and_ingest_stage_read_the_registry_folder(source):
    folder = entry(source).folder
    raw = RawSourceDataset(root="data/01_raw", source=source).load()
    assert raw.path == Path("data/01_raw") / folder
    # the catalog's `{collection}.{source}.raw` factory is what the pipeline loads
    conf = OmegaConfigLoader(str(PROJECT / "conf"), base_env="base", default_run_env="base")
    assert DataCatalog.from_config(conf["catalog"]).get(f"cxr.{source}.raw").load() == raw
    stages = _dvc_yaml()["stages"]
    assert list(stages["cxr-ingest"]["foreach"]) == SOURCES
    assert stages["cxr-ingest"]["foreach"][source] == folder
    assert f"data/01_raw/{folder}" in stages["cxr"]["deps"]
    assert f"data/02_intermediate/cxr/{source}" in stages["cxr"]["deps"]


def test_no_catalog_entry_is_kedro_versioned():
    catalogs = sorted((PROJECT / "conf" / "base").glob("**/catalog*.yml"))
    assert len(catalogs) > 1
    for path in catalogs:
        assert "versioned" not in _keys(yaml.safe_load(path.read_text())), path
