"""The real-index benchmark end to end on a fake torchxrayvision wheel: the three index
members in their real formats (headers as published, rows invented: the real rows may
not be committed), no network, a real `kedro run` twice."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import json
import sys
import tarfile
import zipfile
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from unimed_kedro.sampledata.cxr import _openi_xml

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "real_index_scale.py"

CHEXPERT_HEADER = (
    "Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding,Enlarged Cardiomediastinum,Cardiomegaly,"
    "Lung Opacity,Lung Lesion,Edema,Consolidation,Pneumonia,Atelectasis,Pneumothorax,"
    "Pleural Effusion,Pleural Other,Fracture,Support Devices"
)
# torchxrayvision's copy of the v2020 file still says `Patient Gender`
NIH_HEADER = (
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,"
    "View Position,OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]"
)
CHEXPERT_ROWS = [
    ("train/patient00001/study1/view1_frontal.jpg", "Female", "68", "Frontal", "AP", {0: "1.0"}),
    ("train/patient00002/study1/view1_frontal.jpg", "Male", "54", "Frontal", "PA", {2: "1.0"}),
    ("train/patient00002/study1/view2_lateral.jpg", "Male", "54", "Lateral", "", {5: "-1.0"}),
    ("train/patient00003/study2/view1_frontal.jpg", "Unknown", "0", "Frontal", "AP", {13: "0.0"}),
]
NIH_ROWS = [
    "00000001_000.png,Cardiomegaly|Emphysema,0,1,58,M,PA,2894,2729,0.143,0.143",
    "00000001_001.png,No Finding,1,1,58,M,PA,2500,2048,0.168,0.168",
    "00000002_000.png,Effusion,0,2,81,F,AP,3056,2544,0.139,0.139",
]
OPENI_IMAGES = {1: ["CXR1_1_IM-0001-3001", "CXR1_1_IM-0001-4001"], 2: ["CXR2_IM-0652-1001"], 3: []}
RECORDS = len(CHEXPERT_ROWS) + len(NIH_ROWS) + sum(map(len, OPENI_IMAGES.values()))


def fake_wheel(path: Path) -> Path:
    chexpert = [CHEXPERT_HEADER] + [
        ",".join(
            [f"CheXpert-v1.0-small/{rel}", sex, age, side, ap_pa]
            + [labels.get(i, "") for i in range(14)]
        )
        for rel, sex, age, side, ap_pa, labels in CHEXPERT_ROWS
    ]
    reports = io.BytesIO()
    with tarfile.open(fileobj=reports, mode="w:gz") as tar:
        for number, images in OPENI_IMAGES.items():
            mesh = (["normal"], [], "The lungs are clear.", "Normal chest x-XXXX.")
            rng = np.random.default_rng(number)
            data = _openi_xml(number, mesh, (), images, rng).encode()
            info = tarfile.TarInfo(f"ecgen-radiology/{number}.xml")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with zipfile.ZipFile(path, "w") as wheel:
        data = "torchxrayvision/data/"
        wheel.writestr(f"{data}chexpert_train.csv.gz", gzip.compress("\n".join(chexpert).encode()))
        nih = "\n".join([NIH_HEADER, *NIH_ROWS]) + "\n"
        wheel.writestr(f"{data}Data_Entry_2017_v2020.csv.gz", gzip.compress(nih.encode()))
        wheel.writestr(f"{data}NLMCXR_reports.tgz", reports.getvalue())
    return path


def load_script(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("real_index_scale", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    # registered so the generator's forked Pool can pickle the module's functions
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def test_benchmark_reports_every_replicated_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = fake_wheel(tmp_path / "torchxrayvision-1.5.7-py3-none-any.whl")
    workdir = tmp_path / "work"
    argv = ["--wheel", str(wheel), "--workdir", str(workdir), "--replicate", "2"]
    results = load_script(monkeypatch).main(argv)
    summary = results["summary"]
    assert summary["samples"] == 2 * RECORDS  # every replica is new samples, none rejected
    assert results["statistics"]["rejected"] == 2  # the image-less report, twice
    assert summary["rerun_wall_s"] > 0 and summary["peak_parent_rss_mb"] > 0
    assert summary["peak_tree_rss_mb"] >= summary["peak_parent_rss_mb"]
    nodes = [row["node"] for row in results["first_run"]["nodes"]]
    assert "cxr.normalize_images" in nodes and nodes[0] == "startup"
    assert json.loads((workdir / "real-index-scale.json").read_text()) == results
    assert not list(workdir.glob("project*"))  # deleted after the runs


def test_fraction_heads_each_index_and_images_are_distinct(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = load_script(monkeypatch)
    wheel = fake_wheel(tmp_path / "fake.whl")
    layout = script.plan(script.read_indexes(wheel), 0.5, 1)
    # round(4 / 2) CheXpert rows, round(1.5) NIH rows, round(1.5) reports: 2 + 1 images
    assert layout.records == {"chexpert": 2, "nih": 2, "openi": 3}
    raw = tmp_path / "raw"
    assert script.build_raw(layout, raw, wheel, tmp_path) is not None
    digests = {hashlib.sha256((raw / rel).read_bytes()).digest() for rel in layout.images}
    assert len(digests) == len(layout.images) == 7
    assert script.build_raw(layout, raw, wheel, tmp_path) is None  # complete: reused
