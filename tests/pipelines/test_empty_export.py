"""A build in which normalize rejects every image (here the one source present, every image
of it corrupt): the run completes, exports nothing and accounts for every record as a
reject, rather than failing in the writers on an empty export table."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

from tests.pipelines.conftest import project_copy, run_kedro
from unimed_kedro.sampledata import generate_cxr
from unimed_kedro.sources.registry import entry

SOURCE = "nih"
IMAGES = {".png", ".jpg", ".jpeg"}


def _corrupt_single_source(raw: Path) -> int:
    """Keep only SOURCE's folder and make every image in it undecodable; returns its raw
    record count."""
    expected = generate_cxr(raw, seed=0)
    for folder in raw.iterdir():
        if folder.is_dir() and folder.name != entry(SOURCE).folder:
            shutil.rmtree(folder)
    images = [p for p in (raw / entry(SOURCE).folder).rglob("*") if p.suffix.lower() in IMAGES]
    assert images
    for path in images:
        path.write_bytes(b"not an image at all " * 40)
    return expected[SOURCE]["records"]


def test_every_image_rejected_completes_exporting_nothing(tmp_path):
    records = _corrupt_single_source(tmp_path / "raw")
    project = project_copy(tmp_path / "project")
    result = run_kedro(
        project, "run", "--pipelines", "cxr", "--params", f"raw_root={tmp_path / 'raw'}"
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out, reports = project / "data/05_model_input/cxr", project / "data/08_reporting/cxr"
    stats = json.loads((reports / "statistics.json").read_text())
    assert stats["exported"] == 0 and set(stats["sources"]) == {SOURCE}
    assert stats["sources"][SOURCE]["raw_records"] == records == stats["rejected"]
    assert stats["sources"][SOURCE]["conserved"]
    assert stats["sources"][SOURCE]["rejected_by_reason"].get("corrupt_image")
    assert len(pd.read_csv(reports / "rejects.csv")) == records
    assert not list((out / "webdataset").rglob("*.tar"))
    files = out / "files"
    # no image nor caption: the index files and their marker only
    assert not [
        p for p in files.rglob("*") if p.is_file() and p.parent.name not in ("metadata", ".chunks")
    ]
    assert pd.read_csv(files / "metadata/master_index.csv").empty
