"""Hardening of the `cxr` run, with the real `kedro` command on sample data broken on
purpose: hostile or odd raw files are rejects that name what they broke (links leading
out of raw_root, header bombs, extreme strips, undecodable bytes) while every good sample
still gets through; every output is the same on every run and machine; a wrong setting
stops the run at once, naming it; a killed run leaves no worker process behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import encode, radiograph
from tests.imaging.test_limits import png_bomb
from tests.pipelines.conftest import KEDRO, Build, kedro_env, kedro_run, project_copy, run_kedro
from unimed_kedro.sampledata import generate_cxr
from unimed_kedro.sources.registry import entry

ADDRESS = re.compile(rb"0x[0-9a-f]{6,}")


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    """Untouched sample data, shared by the tests that do not change it."""
    root = tmp_path_factory.mktemp("cxr-cleanup") / "raw"
    generate_cxr(root, seed=0)
    return root


# ------------------------------------------------------------------ broken raw data
def _break_raw(raw: Path, clean: pd.DataFrame, outside: Path) -> dict[str, tuple[str, str]]:
    """Break one sample (or study) per class of fault; returns sample id -> (stage,
    reason) of every sample that must become a reject."""
    outside.mkdir()
    (outside / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    by_source = {s: frame.sort_values("sample_id") for s, frame in clean.groupby("source")}

    def path_of(row) -> Path:
        return raw / entry(row.source).folder / row.raw_relpath

    expected: dict[str, tuple[str, str]] = {}
    chexpert = list(by_source["chexpert"].itertuples())
    # a raw image swapped for a link to a file outside raw_root
    path_of(chexpert[0]).unlink()
    path_of(chexpert[0]).symlink_to(outside / "passwd")
    expected[chexpert[0].sample_id] = ("ingest", "outside_raw_root")
    # bytes Pillow cannot identify: its message held a memory address
    path_of(chexpert[1]).write_bytes(b"this is not an image, only text " * 200)
    expected[chexpert[1].sample_id] = ("normalize", "corrupt_image")
    # a link that stays in the source folder is no fault: ingest and workers both read it
    inner = path_of(chexpert[2])
    inner.rename(inner.with_name("moved-" + inner.name))
    inner.symlink_to("moved-" + inner.name)
    # a study folder swapped for a link to a folder outside raw_root
    mimic = by_source["mimic"]
    study = path_of(next(mimic.itertuples())).parent
    study.rename(outside / "study")
    study.symlink_to(outside / "study")
    rel = str(study.relative_to(raw / entry("mimic").folder)) + "/"
    for sample_id in mimic.loc[mimic["raw_relpath"].str.startswith(rel), "sample_id"]:
        expected[sample_id] = ("ingest", "outside_raw_root")
    # a 20000 x 20000 16-bit PNG header (800 MB decoded)
    nih = next(by_source["nih"].itertuples())
    path_of(nih).write_bytes(png_bomb(20000, 20000, depth=16, color=0, rows=64))
    expected[nih.sample_id] = ("normalize", "too_large")
    # a 3000 x 200 strip
    openi = next(by_source["openi"].itertuples())
    path_of(openi).write_bytes(encode(radiograph(3000, 200), "PNG"))
    expected[openi.sample_id] = ("normalize", "extreme_aspect_ratio")
    return expected


@pytest.fixture(scope="module")
def broken_build(cxr_build, tmp_path_factory) -> tuple[Build, dict, str]:
    root = tmp_path_factory.mktemp("cxr-broken")
    raw = root / "raw"
    expected_ledger = generate_cxr(raw, seed=0)
    clean = pd.read_parquet(cxr_build.features / "samples.parquet")
    expected = _break_raw(raw, clean, root / "outside")
    project = project_copy(root / "project")
    log = kedro_run(project, "--pipelines", "cxr", "--params", f"raw_root={raw}")
    return Build(project, raw, expected_ledger, log), expected, str(root)


def test_broken_files_are_rejects_and_good_samples_all_get_through(broken_build, cxr_build):
    build, expected, _ = broken_build  # kedro_run asserted exit code 0
    rejects = pd.read_csv(build.reports / "rejects.csv")
    found = {
        row.sample_id: (row.stage, row.reason)
        for row in rejects.itertuples()
        if row.sample_id in expected
    }
    assert found == expected
    details = dict(zip(rejects["sample_id"], rejects["detail"]))
    bomb = next(s for s, (_, reason) in expected.items() if reason == "too_large")
    assert details[bomb] == "400000000 pixels, expected <= 40000000 pixels (max_pixels)"
    strip = next(s for s, (_, reason) in expected.items() if reason == "extreme_aspect_ratio")
    assert "expected <= 10:1 (max_aspect_ratio)" in details[strip]
    clean = set(pd.read_parquet(cxr_build.features / "samples.parquet")["sample_id"])
    kept = set(pd.read_parquet(build.features / "samples.parquet")["sample_id"])
    assert kept == clean - set(expected)
    # every reject of the clean build is still there, as it was
    before = pd.read_csv(cxr_build.reports / "rejects.csv")
    after = rejects[~rejects["sample_id"].isin(expected)]
    pd.testing.assert_frame_equal(before.reset_index(drop=True), after.reset_index(drop=True))


def test_no_output_holds_an_address_or_the_build_path(broken_build):
    """A corrupt image's detail named Pillow's `<_io.BytesIO object at 0x...>`. Every
    output is checked: the shards, the files layout, the tables, the reports and the data
    card up to its provenance section (which records the command on purpose)."""
    build, expected, root = broken_build
    corrupt = next(s for s, (_, reason) in expected.items() if reason == "corrupt_image")
    rejects = pd.read_csv(build.reports / "rejects.csv")
    detail = rejects.loc[rejects["sample_id"] == corrupt, "detail"].item()
    assert detail == (
        "cannot decode view1_frontal.jpg: UnidentifiedImageError: cannot identify image "
        "file view1_frontal.jpg"
    )
    problems = []
    for path in sorted([*build.out.rglob("*"), *build.reports.rglob("*")]):
        if not path.is_file() or "/.chunks/" in str(path):
            continue
        data = path.read_bytes()
        if path.name.startswith("datacard."):
            cut = b'<section id="provenance">' if path.suffix == ".html" else b"## Provenance"
            assert cut in data, path
            data = data[: data.index(cut)]
        if ADDRESS.search(data) or root.encode() in data:
            problems.append(str(path.relative_to(build.project)))
    assert not problems


# ------------------------------------------------------------------ wrong settings
@pytest.mark.parametrize(
    "param,message",
    [
        (
            "cxr.normalize.image_size=abc",
            "cxr.normalize.image_size: expected a positive integer, got 'abc'",
        ),
        (
            "cxr.normalize.format=gif",
            "cxr.normalize.format: expected one of ['jpeg', 'png', 'webp'], got 'gif'",
        ),
        (
            "cxr.normalize.quality=200",
            "cxr.normalize.quality: expected an integer from 1 to 100, got 200",
        ),
    ],
)
def test_a_wrong_normalize_setting_stops_the_run_naming_it(tmp_path, raw, param, message):
    project = project_copy(tmp_path / "project")
    result = run_kedro(project, "run", "--pipelines", "cxr", "--params", f"raw_root={raw},{param}")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert message in output, output[-3000:]
    assert "corrupt_image" not in output
    store = project / "data" / "04_feature" / "cxr" / "normalized_images"
    assert not list(store.glob("chunk-*")), "images were processed with the wrong setting"
    assert not (project / "data" / "05_model_input" / "cxr").exists()


def test_an_unknown_executor_stops_the_run_before_any_node(tmp_path, raw):
    project = project_copy(tmp_path / "project")
    args = f"raw_root={raw},executor.kind=gpu"
    result = run_kedro(project, "run", "--pipelines", "cxr", "--params", args)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "executor.kind: expected one of ['dask', 'inline', 'local'], got 'gpu'" in output
    assert not (project / "data" / "02_intermediate" / "cxr").exists(), "a node ran"


# ------------------------------------------------------------------ killed runs
def _marked(marker: bytes) -> dict[int, tuple[str, int]]:
    """Live processes (pid -> name, parent pid) whose environment holds `marker`: the run
    and every process it started (pool workers, the fork server, the resource tracker)."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            if stat[0] != "Z" and marker in (proc / "environ").read_bytes():
                found[int(proc.name)] = ((proc / "comm").read_text().strip(), int(stat[1]))
        except OSError:
            continue
    return found


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc")
def test_a_killed_run_leaves_no_worker_process(tmp_path, raw):
    project = project_copy(tmp_path / "project")
    marker = f"UNIMED_CLEANUP_TEST={uuid.uuid4().hex}"
    name, _, value = marker.partition("=")
    args = f"raw_root={raw},cxr.normalize.chunk_size=1,executor.workers=2"
    run = subprocess.Popen(
        [str(KEDRO), "run", "--pipelines", "cxr", "--params", args],
        cwd=project,
        env=kedro_env({name: value}),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    markers = project / "data" / "04_feature" / "cxr" / "normalized_images" / ".chunks"
    try:
        deadline = time.monotonic() + 180
        while not list(markers.glob("*.json")) and time.monotonic() < deadline:
            assert run.poll() is None, "the run ended before it could be killed"
            time.sleep(0.02)
        while time.monotonic() < deadline:  # both pool workers started
            started = _marked(marker.encode())  # kedro, the fork server, 2 workers, ...
            if len([p for p, (_, parent) in started.items() if parent in started]) >= 3:
                break
            assert run.poll() is None, "the run ended before it could be killed"
            time.sleep(0.02)
        os.kill(run.pid, signal.SIGKILL)  # the kedro process only, as the OOM killer would
        run.wait(timeout=30)
        deadline = time.monotonic() + 5
        while _marked(marker.encode()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _marked(marker.encode()), "processes of the killed run are still running"
    finally:
        for pid in _marked(marker.encode()):  # only this test's processes
            os.kill(pid, signal.SIGKILL)
        if run.poll() is None:
            run.kill()
            run.wait(timeout=30)
