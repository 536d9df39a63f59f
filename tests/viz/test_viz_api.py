"""kedro-viz through its real API, on a sample build of `cxr`: the FastAPI app that
`kedro viz run` serves, created in-process (no port, no PyPI version check), and the
static site of `kedro viz build`.

What a user must see: every dataset of the pipeline as a node on the layer the catalog
declares, the layers as ordered bands, `cxr` and each source as a collapsible namespace,
the lineage edges, and a non-empty preview for every dataset that has one (tables, the
normalised-image contact sheet, plotly charts and the thumbnail sheet of the report stage).
What a user must not see in the static site `kedro viz build --include-previews` makes to
share: an image or a table row of a sample whose source's licence forbids redistribution
(only NIH's allows it in the sample data), or an absolute local path.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.pipelines.conftest import run_kedro
from tests.viz import viz_build  # noqa: F401  (the shared sample build)

LAYERS = [
    "01_raw",
    "02_intermediate",
    "03_primary",
    "04_feature",
    "05_model_input",
    "06_models",
    "07_model_output",
    "08_reporting",
]
SOURCES = ["chexpert", "nih", "mimic", "openi"]
RESTRICTED = ["chexpert", "mimic", "openi"]  # licences that forbid redistribution
NAMESPACES = ["cxr", *(f"cxr.{source}" for source in SOURCES)]
PNG = b"\x89PNG\r\n\x1a\n"
pytestmark = pytest.mark.xdist_group("cxr-viz")  # one build per worker under --dist loadgroup


@dataclass
class Viz:
    client: Any  # fastapi.testclient.TestClient
    main: dict
    catalog: Any
    pipeline: Any
    datasets: list[str]  # the cxr pipeline's datasets, parameters left out

    @property
    def by_name(self) -> dict[str, dict]:
        return {n["name"]: n for n in self.main["nodes"] if n["type"] == "data"}

    def declared_layer(self, name: str) -> str | None:
        metadata = getattr(self.catalog.get(name), "metadata", None) or {}
        return (metadata.get("kedro-viz") or {}).get("layer")

    def has_preview(self, name: str) -> bool:
        dataset = self.catalog.get(name)
        metadata = getattr(dataset, "metadata", None) or {}
        return (
            hasattr(dataset, "preview")
            and (metadata.get("kedro-viz") or {}).get("preview", True) is not False
        )

    def details(self, name: str) -> dict:
        response = self.client.get(f"/api/nodes/{self.by_name[name]['id']}")
        assert response.status_code == 200, f"/api/nodes for {name}: {response.status_code}"
        return response.json()


@pytest.fixture(scope="module")
def viz(viz_build) -> Viz:  # noqa: F811
    from fastapi.testclient import TestClient
    from kedro.framework.project import pipelines
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project
    from kedro_viz.api import apps
    from kedro_viz.data_access import data_access_manager
    from kedro_viz.server import load_and_populate_data

    project, params = viz_build.project, {"raw_root": str(viz_build.raw)}
    bootstrap_project(project)
    data_access_manager.reset_fields()
    load_and_populate_data(project, pipeline_name="cxr", extra_params=params)
    client = TestClient(apps.create_api_app_from_project(project), raise_server_exceptions=False)
    main = client.get("/api/main")
    assert main.status_code == 200, main.text
    with KedroSession.create(project_path=project, runtime_params=params) as session:
        catalog = session.load_context().catalog
    pipeline = pipelines["cxr"]
    datasets = sorted(d for d in pipeline.datasets() if not d.startswith("params:"))
    return Viz(client, main.json(), catalog, pipeline, datasets)


def check_preview(name: str, details: dict) -> str | None:
    """Why a dataset's preview is unusable, or None when it shows data."""
    kind, preview = details.get("preview_type"), details.get("preview")
    if not preview:
        return f"no preview ({kind})"
    if kind == "TablePreview":
        if not preview.get("columns"):
            return "table without columns"
        # rejects and corrections may be empty; a restricted source's tables show no row
        empty_allowed = name.endswith(("rejects", "corrections")) or any(
            name.startswith(f"cxr.{source}.") for source in RESTRICTED
        )
        if not preview.get("data") and not empty_allowed:
            return "table without rows"
    elif kind == "ImagePreview":
        if not base64.b64decode(preview).startswith(PNG):
            return "image preview is not a base64 PNG"
    elif kind == "PlotlyPreview":
        if not preview.get("data"):
            return "plotly figure without traces"
    elif kind == "JSONPreview" and not json.loads(preview):
        return "empty JSON"
    return None


def test_every_dataset_is_a_node_on_its_layer(viz):
    nodes = viz.by_name
    assert not [d for d in viz.datasets if d not in nodes], "datasets missing from /api/main"
    wrong = {
        d: (nodes[d].get("layer"), viz.declared_layer(d))
        for d in viz.datasets
        if nodes[d].get("layer") is None or nodes[d].get("layer") != viz.declared_layer(d)
    }
    assert not wrong, (
        "(drawn layer, catalog layer) of datasets off their layer; declare "
        "`metadata: {kedro-viz: {layer: ...}}` in conf/base/catalog*.yml: "
        f"{wrong}"
    )
    expected = {
        **{f"cxr.{s}.raw": "01_raw" for s in SOURCES},
        **{f"cxr.{s}.manifest": "02_intermediate" for s in SOURCES},
        "cxr.records": "02_intermediate",
        "cxr.captioned": "03_primary",
        "cxr.normalized_images": "04_feature",
        "cxr.samples": "04_feature",
        "cxr.webdataset": "05_model_input",
        "cxr.files": "05_model_input",
        "cxr.statistics": "08_reporting",
        "cxr.rejects": "08_reporting",
        "cxr.split_report": "08_reporting",
    }
    assert {d: nodes[d]["layer"] for d in expected} == expected
    # The bands, in order. kedro-viz draws none at all when the layers form a cycle (a
    # dataset of a later layer feeding one of an earlier layer, also through a namespace).
    used = {nodes[d]["layer"] for d in viz.datasets}
    assert viz.main["layers"] == [layer for layer in LAYERS if layer in used]


def test_lineage_edges(viz):
    edges = {(e["source"], e["target"]) for e in viz.main["edges"]}
    tasks = {n["full_name"]: n["id"] for n in viz.main["nodes"] if n["type"] == "task"}
    data = {name: n["id"] for name, n in viz.by_name.items()}
    missing = []
    for node in viz.pipeline.nodes:
        assert node.name in tasks, f"task {node.name} not drawn"
        for name in node.inputs:
            if name in data and (data[name], tasks[node.name]) not in edges:
                missing.append(f"{name} -> {node.name}")
        for name in node.outputs:
            if (tasks[node.name], data[name]) not in edges:
                missing.append(f"{node.name} -> {name}")
    assert not missing


def test_namespaces_are_collapsible(viz):
    tree = viz.main["modular_pipelines"]
    assert set(NAMESPACES) <= set(tree)
    drawn = {n["id"] for n in viz.main["nodes"] if n["type"] == "modularPipeline"}
    assert set(NAMESPACES) <= drawn
    assert {"id": "cxr", "type": "modularPipeline"} in tree["__root__"]["children"]
    children = {c["id"] for c in tree["cxr"]["children"] if c["type"] == "modularPipeline"}
    assert {f"cxr.{s}" for s in SOURCES} <= children
    for source in SOURCES:
        for name in (f"cxr.{source}.raw", f"cxr.{source}.manifest", f"cxr.{source}.ingest_rejects"):
            assert f"cxr.{source}" in viz.by_name[name]["modular_pipelines"], name
        assert tree[f"cxr.{source}"]["children"], f"cxr.{source} has no children"


def test_every_declared_preview_shows_data(viz):
    with_preview = [d for d in viz.datasets if viz.has_preview(d)]
    problems = {}
    for name in with_preview:
        response = viz.client.get(f"/api/nodes/{viz.by_name[name]['id']}")
        if response.status_code != 200:
            problems[name] = f"HTTP {response.status_code}"
        elif reason := check_preview(name, response.json()):
            problems[name] = reason
    assert not problems, f"previews kedro-viz cannot show: {problems}"
    # The project's own datasets declare previews, and the report stage's when it exists
    report = {"cxr.label_distribution", "cxr.split_balance", "cxr.thumbnails"}
    assert {f"cxr.{s}.raw" for s in SOURCES} | {
        "cxr.normalized_images",
        "cxr.webdataset",
        "cxr.files",
    } <= set(with_preview)
    assert report & set(viz.datasets) <= set(with_preview)


def test_preview_kinds(viz):
    manifest = viz.details("cxr.nih.manifest")
    assert manifest["preview_type"] == "TablePreview"
    assert "sample_id" in manifest["preview"]["columns"] and manifest["preview"]["data"]
    assert manifest["filepath"].endswith("nih/manifest.parquet")
    restricted = viz.details("cxr.chexpert.manifest")["preview"]
    assert "sample_id" in restricted["columns"] and not restricted["data"]
    for source in SOURCES:
        raw = viz.details(f"cxr.{source}.raw")
        assert raw["preview_type"] == "TablePreview", source
        assert raw["preview"]["data"], f"{source}: raw folder preview is empty"
    assert "train.csv" in {row[0] for row in viz.details("cxr.chexpert.raw")["preview"]["data"]}
    images = viz.details("cxr.normalized_images")
    assert images["preview_type"] == "ImagePreview"
    assert base64.b64decode(images["preview"]).startswith(PNG)
    splits = viz.details("cxr.webdataset")["preview"]["data"]
    assert {row[0] for row in splits} == {"train", "val", "test"}
    for name in ("cxr.label_distribution", "cxr.split_balance"):
        if name in viz.datasets:
            chart = viz.details(name)
            assert chart["preview_type"] == "PlotlyPreview", name
            assert chart["preview"]["data"], name
    if "cxr.thumbnails" in viz.datasets:
        sheet = viz.details("cxr.thumbnails")
        assert sheet["preview_type"] == "ImagePreview"
        assert base64.b64decode(sheet["preview"]).startswith(PNG)


@pytest.fixture(scope="module")
def static_site(viz_build) -> Path:  # noqa: F811
    """`kedro viz build --include-previews` in the sample build: the site to share."""
    result = run_kedro(viz_build.project, "viz", "build", "--include-previews", timeout=400)
    log = result.stdout + result.stderr
    # `kedro viz build` exits 0 even when it fails: its own success line is the signal
    assert result.returncode == 0 and "Success!" in log, log[-3000:]
    return viz_build.project / "build"


def test_viz_build_writes_a_static_site(static_site, viz):
    site = static_site
    index = (site / "index.html").read_text()
    assert "<script" in index and 'src="http' not in index  # the bundle ships with kedro-viz
    main = json.loads((site / "api" / "main").read_text())
    names = {n["name"] for n in main["nodes"] if n["type"] == "data"}
    assert set(viz.datasets) <= names
    assert (site / "api" / "pipelines" / "cxr").is_file()
    ids = {n["name"]: n["id"] for n in main["nodes"]}

    def details(name: str) -> dict:
        return json.loads((site / "api" / "nodes" / ids[name]).read_text())

    for name in (
        "cxr.nih.manifest",
        "cxr.samples",
        "cxr.normalized_images",
        "cxr.webdataset",
        "cxr.split_report",
        *({"cxr.label_distribution", "cxr.thumbnails"} & set(viz.datasets)),
    ):
        assert check_preview(name, details(name)) is None, name


def test_the_shared_site_shows_no_restricted_sample_and_no_local_path(
    static_site,
    viz_build,  # noqa: F811
    viz,
):
    """Images, table rows and sample ids of chexpert/mimic/openi never reach the site;
    neither does the project's or raw data's absolute path (`datasets/previews.py`)."""
    import pandas as pd

    from unimed_kedro.imaging.contact_sheet import contact_sheet

    main = json.loads((static_site / "api" / "main").read_text())
    names = {n["id"]: n["name"] for n in main["nodes"]}
    nodes = {
        names.get(p.name, p.name): json.loads(p.read_text())
        for p in (static_site / "api" / "nodes").iterdir()
    }
    records = pd.read_parquet(viz_build.project / "data/02_intermediate/cxr/records.parquet")
    restricted = set(records.loc[records["source"].isin(RESTRICTED), "sample_id"])
    assert restricted
    published = "\n".join(p.read_text() for p in (static_site / "api").rglob("*") if p.is_file())
    assert not restricted & set(re.findall(r"[a-z0-9_-]+", published))
    # images: the store's sheet draws NIH's stored images only; the thumbnail sheet, which
    # shows every source, is withheld
    store = viz_build.project / "data/04_feature/cxr/normalized_images"
    index = pd.read_parquet(store / "index.parquet").dropna(subset=["file"])
    nih = index[index["sample_id"].str.startswith("nih-")].head(16)
    expected = contact_sheet([(store / f).read_bytes() for f in nih["file"]])
    unfiltered = contact_sheet([(store / f).read_bytes() for f in index["file"].head(16)])
    sheet = base64.b64decode(nodes["cxr.normalized_images"]["preview"])
    assert sheet == expected != unfiltered
    if "cxr.thumbnails" in nodes:
        thumbnails = base64.b64decode(nodes["cxr.thumbnails"]["preview"])
        assert thumbnails.startswith(PNG)
        assert thumbnails != (viz_build.reports / "thumbnails.png").read_bytes()
    # tables: rows of redistributable sources only
    for name, node in nodes.items():
        preview = node.get("preview")
        # (a dataset this build did not write, another collection's, publishes no preview)
        if (
            node.get("preview_type") == "TablePreview"
            and preview
            and "source" in preview["columns"]
        ):
            at = preview["columns"].index("source")
            assert {row[at] for row in preview["data"]} <= {"nih"}, name
    # no absolute local path anywhere
    local = (str(viz_build.project), str(viz_build.raw))
    leaks = {
        name: sorted(
            key for key, value in node.items() if any(p in json.dumps(value) for p in local)
        )
        for name, node in nodes.items()
        if any(p in json.dumps(node) for p in local)
    }
    assert leaks == {}
    assert viz.details("cxr.nih.raw")["filepath"] == "<raw_root>/chest_xray8"
