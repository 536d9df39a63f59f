"""How a run fails (issue 15), with the real `kedro run` and its output piped, as CI sees it.

- A raw_root that does not exist, is empty, is a file or holds none of the collection's
  sources stops the run before anything is written: exit code != 0, a message naming
  raw_root and the folders expected (from the registry), a previous build left as it was.
  Leaving one source out (an empty folder, the DVC way) still runs; an empty collection is
  built only when asked (`allow_empty_collection`).
- A failed run ends with one line naming the node, the file and the cause; the output is
  short, not wrapped at 80 columns, without dataset load/save chatter; the traceback is
  in info.log.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from kedro.io import DatasetError

from tests.pipelines.conftest import project_copy, run_kedro
from unimed_kedro.hooks import failure_line
from unimed_kedro.sampledata import generate_cxr
from unimed_kedro.sources.registry import entry

SOURCES = ["chexpert", "nih", "mimic", "openi"]
OUTPUTS = ["02_intermediate", "04_feature", "05_model_input", "08_reporting"]
CHATTER = ("Loading data from", "Saving data to")


def _kedro_run(project: Path, *args: str) -> subprocess.CompletedProcess:
    """`kedro run` with stdout and stderr piped and no terminal width given (COLUMNS
    unset): what a log file, a pipe or CI gets."""
    return run_kedro(project, "run", *args, env={"COLUMNS": None, "LINES": None})


def _outputs(project: Path) -> dict[str, tuple[str, int]]:
    """Every file under the build's output folders: content digest and modification time."""
    return {
        str(p.relative_to(project)): (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mtime_ns,
        )
        for folder in OUTPUTS
        for p in sorted((project / "data" / folder).rglob("*"))
        if p.is_file()
    }


def _missing(root: Path) -> Path:
    return root / "nowhere"


def _empty(root: Path) -> Path:
    (root / "empty").mkdir()
    return root / "empty"


def _file(root: Path) -> Path:
    (root / "raw.tar").write_bytes(b"not a folder")
    return root / "raw.tar"


def _no_sources(root: Path) -> Path:
    """Other folders, and one of the collection's folders left empty."""
    raw = root / "raw"
    (raw / "downloads" / "partial").mkdir(parents=True)
    (raw / "notes.txt").write_text("to do\n")
    (raw / entry("nih").folder).mkdir()
    return raw


@pytest.fixture(scope="module")
def finished(cxr_build, tmp_path_factory):
    """A copy of a finished build, to run the bad raw_roots against."""
    project = tmp_path_factory.mktemp("cxr-finished") / "project"
    shutil.copytree(cxr_build.project, project, symlinks=True)
    return project


@pytest.mark.parametrize("bad_root", [_missing, _empty, _file, _no_sources])
def test_a_raw_root_without_sources_stops_before_anything_is_written(bad_root, finished, tmp_path):
    before = _outputs(finished)
    assert any("/05_model_input/" in p for p in before) and any(
        "/08_reporting/" in p for p in before
    )
    raw_root = bad_root(tmp_path)
    result = _kedro_run(finished, "--pipelines", "cxr", "--params", f"raw_root={raw_root}")
    assert result.returncode != 0
    last = (result.stdout + result.stderr).strip().splitlines()[-1]
    assert "RawRootError" in last and f"raw_root {raw_root} " in last
    assert all(f"{entry(s).folder}/ ({s})" in last for s in SOURCES), last
    assert "Running node" not in result.stdout + result.stderr
    assert _outputs(finished) == before


def test_one_source_left_out_as_an_empty_folder_still_ingests(cxr_build, tmp_path):
    """DVC's per-source stage of a source left out: its folder is empty, the others are
    there; the check looks at the whole collection, not at the one namespace run."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for source in SOURCES[1:]:
        (raw / entry(source).folder).symlink_to(cxr_build.raw / entry(source).folder)
    (raw / entry("chexpert").folder).mkdir()
    project = project_copy(tmp_path / "project")
    args = ["--pipelines", "cxr", "--namespaces", "cxr.chexpert", "--params", f"raw_root={raw}"]
    result = _kedro_run(project, *args)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    info = project / "data" / "02_intermediate" / "cxr" / "chexpert" / "source.json"
    assert json.loads(info.read_text())["present"] is False


def test_an_empty_collection_only_when_asked(tmp_path):
    project = project_copy(tmp_path / "project")
    raw = _empty(tmp_path)
    params = f"raw_root={raw},allow_empty_collection=true"
    result = _kedro_run(project, "--pipelines", "cxr", "--params", params)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    reports = project / "data" / "08_reporting" / "cxr"
    assert json.loads((reports / "statistics.json").read_text())["exported"] == 0
    assert (reports / "datacard.md").is_file()
    log = result.stdout + result.stderr
    assert "allow_empty_collection" in log
    assert not any(chatter in log for chatter in CHATTER)  # a successful run too


def test_a_failed_run_ends_with_one_line_naming_node_file_and_cause(tmp_path):
    raw = tmp_path / "raw"
    generate_cxr(raw, seed=0)
    table = raw / entry("chexpert").folder / "train.csv"
    lines = table.read_text().splitlines(keepends=True)
    table.write_text(lines[0].replace("Path", "Filename", 1) + "".join(lines[1:]))
    project = project_copy(tmp_path / "project")
    result = _kedro_run(project, "--pipelines", "cxr", "--params", f"raw_root={raw}")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    last = output.strip().splitlines()[-1]
    assert "cxr.chexpert.ingest" in last and "LayoutError" in last, last
    assert f"{table}, line 1: missing columns ['Path']" in last  # one line, > 80 columns
    assert len(output.splitlines()) < 25, output
    assert "Traceback" not in output and "╭" not in output
    assert not any(chatter in output for chatter in CHATTER)
    # Kedro's own long lines are not wrapped either (the node's work runs when its
    # outputs are saved, engine.memo: Kedro reports no "failed with error" line then)
    assert any(len(line) > 120 and "Running node" in line for line in output.splitlines())
    log = (project / "info.log").read_text()
    assert "Traceback (most recent call last)" in log and "LayoutError" in log
    assert "in node cxr.chexpert.ingest" in log


def _raised(error: Exception, cause: BaseException | None = None) -> Exception:
    try:
        raise error from cause
    except Exception as caught:
        return caught


def test_failure_line_is_one_line_with_the_cause_said_once():
    cause = _raised(OSError("disk full\nwhile writing shard 3"))
    wrapped = _raised(DatasetError("Failed while saving data to cxr.webdataset"), cause)
    line = failure_line(wrapped, "cxr.export_webdataset")
    assert "\n" not in line
    assert line.startswith("kedro run failed in node cxr.export_webdataset: DatasetError: ")
    assert line.count("disk full while writing shard 3") == 1 and "cause: OSError" in line
    assert "raised at unimed_kedro" not in line  # raised here, not in the package
    # a worker's formatted traceback, chained by a process pool, is not repeated
    remote = _raised(RuntimeError("\nTraceback (most recent call last):\n  File ..."))
    assert failure_line(_raised(ValueError("bad pixel"), remote), None) == (
        "kedro run failed: ValueError: bad pixel"
    )
