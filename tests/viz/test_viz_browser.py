"""The lineage page of `kedro viz run` and the data card, drawn by headless Chromium.

The server is the real `kedro viz run` on 127.0.0.1 in a sample build; Chromium (Debian's
`chromium` package) loads its page with no network and dumps the DOM after the app has
rendered. Checks: every dataset and node of `cxr` is an SVG node placed by the layout, the
layer bands and namespaces are drawn, selecting the thumbnail sheet shows its image
preview, and the data card's thumbnail sheet is decoded and painted (compared pixel by
pixel with the PNG it embeds).
"""

from __future__ import annotations

import base64
import io
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from itertools import count
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.pipelines.conftest import KEDRO
from tests.viz import viz_build  # noqa: F401  (the shared sample build)
from unimed_kedro.pipelines import cxr

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed: apt-get install chromium"),
    pytest.mark.xdist_group("cxr-viz"),  # one build per worker under --dist loadgroup
]

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-quic",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
]
ENV = {
    **os.environ,
    "DO_NOT_TRACK": "1",
    "KEDRO_DISABLE_TELEMETRY": "1",
    "DVC_NO_ANALYTICS": "1",
    "COLUMNS": "200",
}
# `kedro viz run` asks PyPI for its latest version (30 s timeout, no flag to skip it): a
# proxy on a closed local port makes that request fail at once, with or without network.
NO_PYPI = {
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}
PROFILES = count()
RUNNING_AT = re.compile(r"running at\s+(http://127\.0\.0\.1:\d+)")
NODE = re.compile(r'<g\b[^>]*class="pipeline-node pipeline-node--(\w+)[^"]*"[^>]*>')


def chromium(
    tmp_path: Path, url: str, *args: str, size: str = "1400,1800", budget_ms: int = 15000
) -> str:
    """Run headless Chromium on `url` with a fresh profile; returns its stdout."""
    profile = tmp_path / f"chromium-profile-{next(PROFILES)}"
    command = [
        CHROMIUM,
        *FLAGS,
        f"--user-data-dir={profile}",
        f"--window-size={size}",
        f"--virtual-time-budget={budget_ms}",
        *args,
        url,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def free_port() -> int:
    """A free local port below 49152: kedro-viz refuses higher ones, where Linux hands
    out ephemeral ports."""
    for port in random.Random(os.getpid()).sample(range(20000, 40000), 500):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, parents before children (read from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(0), []):
            found.append(child)
            todo.append(child)
    return found


def stop(process: subprocess.Popen) -> None:
    """`kedro viz run` serves from a multiprocessing child, and a signal to the parent
    leaves that child serving: stop the children by PID first, then the parent."""
    children = descendants(process.pid)
    for pid in reversed(children):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    deadline = time.monotonic() + 10
    for pid in children:
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            if "State:\tZ" in Path(f"/proc/{pid}/status").read_text(errors="replace"):
                break  # exited, waiting to be reaped by init
            time.sleep(0.1)
        else:
            if Path(f"/proc/{pid}").exists():
                os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def viz_server(viz_build, tmp_path_factory):  # noqa: F811
    port = free_port()
    log = tmp_path_factory.mktemp("viz-run") / "kedro-viz-run.log"
    command = [
        str(KEDRO),
        "viz",
        "run",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-browser",
        "--params",
        f"raw_root={viz_build.raw}",
    ]
    with log.open("w") as out:
        process = subprocess.Popen(
            command,
            cwd=viz_build.project,
            env={**ENV, **NO_PYPI},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        # kedro-viz moves to the next port if this one is taken meanwhile: read its own line
        deadline = time.monotonic() + 120
        while not (up := RUNNING_AT.search(log.read_text())):
            assert process.poll() is None and time.monotonic() < deadline, (
                "kedro viz run did not come up:\n" + log.read_text()[-3000:]
            )
            time.sleep(0.5)
        url = up.group(1)
        with urllib.request.urlopen(f"{url}/api/main", timeout=60) as response:
            main = json.load(response)
        yield url, main
    finally:
        stop(process)


def drawn_nodes(dom: str) -> list[dict[str, str]]:
    """The flowchart's SVG nodes: type, id, name and layout position."""
    nodes = []
    for match in NODE.finditer(dom):
        attributes = dict(re.findall(r'([\w-]+)="([^"]*)"', match.group(0)))
        nodes.append(
            {
                "type": match.group(1),
                "id": attributes["data-id"],
                "name": attributes["data-node-fullname"],
                "transform": attributes.get("transform", ""),
            }
        )
    return nodes


def drawn_page(tmp_path: Path, url: str) -> tuple[str, list[dict[str, str]]]:
    """The page's DOM and its drawn nodes. The flowchart is laid out after the API's data
    arrives; on a loaded 2-core machine that can outlast the virtual-time budget (CI saw an
    empty chart once, with three collections in the API), so an empty chart is retried with
    a longer budget before the test judges it."""
    for budget in (15000, 45000, 90000):
        dom = chromium(tmp_path, url, "--dump-dom", budget_ms=budget)
        nodes = drawn_nodes(dom)
        if nodes:
            break
    return dom, nodes


def test_viz_page_draws_the_lineage(viz_server, tmp_path):
    url, main = viz_server
    pipeline = cxr.create_pipeline()
    datasets = {d for d in pipeline.datasets() if not d.startswith("params:")}
    dom, nodes = drawn_page(tmp_path, f"{url}/?pid=cxr&expandAllPipelines=true")
    drawn_data = {n["name"] for n in nodes if n["type"] == "data"}
    assert datasets <= drawn_data, f"datasets not drawn: {sorted(datasets - drawn_data)}"
    # the API's main view holds every collection's nodes; the page draws cxr's (pid=cxr)
    tasks = {n["id"] for n in main["nodes"] if n["type"] == "task" and "cxr" in n["pipelines"]}
    assert len(tasks) == len(pipeline.nodes)
    assert tasks == {n["id"] for n in nodes if n["type"] == "task"}, "nodes not drawn"
    positions = [n["transform"] for n in nodes]
    assert all(p.startswith("translate(") for p in positions)
    assert len(set(positions)) == len(positions), "nodes are not laid out"
    # the sidebar tree: cxr and each source as a namespace that folds its nodes
    for namespace in ("cxr", "cxr.chexpert", "cxr.nih", "cxr.mimic", "cxr.openi"):
        assert f">{namespace}<" in dom, namespace
    assert dom.count("pipeline-node-icon--icon-modularPipeline") >= 5
    collapsed = drawn_nodes(chromium(tmp_path, f"{url}/?pid=cxr", "--dump-dom"))
    assert {"type": "modularPipeline", "name": "cxr"} in [
        {"type": n["type"], "name": n["name"]} for n in collapsed
    ]
    assert "cxr.chexpert.manifest" not in {n["name"] for n in collapsed}  # folded in `cxr`
    # the layer bands (kedro-viz drops them all when the catalog's layers form a cycle)
    bands = re.findall(r'class="pipeline-layer-name"[^>]*>([^<]+)<', dom)
    assert "01_raw" in bands and "08_reporting" in bands and bands == main["layers"], bands


def test_viz_page_draws_an_image_preview(viz_server, tmp_path):
    url, main = viz_server
    names = {n["name"]: n["id"] for n in main["nodes"] if n["type"] == "data"}
    # the report stage's thumbnail sheet, or before it the normalised-image contact sheet
    name = "cxr.thumbnails" if "cxr.thumbnails" in names else "cxr.normalized_images"
    with urllib.request.urlopen(f"{url}/api/nodes/{names[name]}", timeout=60) as response:
        preview = json.load(response)["preview"]
    dom = chromium(
        tmp_path, f"{url}/?pid=cxr&expandAllPipelines=true&sid={names[name]}", "--dump-dom"
    )
    images = re.findall(r'<img\b[^>]*class="pipeline-metadata__plot-image"[^>]*>', dom)
    assert images, f"no preview image drawn for {name}"
    assert f'src="data:image/png;base64,{preview}"' in images[0]


# Records, once the card has loaded, whether each image was decoded (its natural size)
# and where the first PNG sits on the page, and the page's height.
PROBE = """<script>addEventListener("load", () => {
  document.body.dataset.height = document.documentElement.scrollHeight;
  for (const img of document.images)
    img.dataset.drawn = img.complete && img.naturalWidth
      ? img.naturalWidth + "x" + img.naturalHeight : "no";
  const png = [...document.images].find(i => i.src.startsWith("data:image/png"));
  if (png) {
    const r = png.getBoundingClientRect();
    png.dataset.box = [r.left + scrollX, r.top + scrollY, r.width, r.height]
      .map(Math.round).join(",");
  }
});</script>"""


def test_datacard_draws_the_thumbnails(viz_build, tmp_path):  # noqa: F811
    card = viz_build.reports / "datacard.html"
    if not card.is_file():
        pytest.skip(
            "no data card in this build: data/08_reporting/cxr/datacard.html is "
            "written by the report stage"
        )
    html = card.read_text(encoding="utf-8")
    sheets = re.findall(r'<img\b[^>]*\bsrc="data:image/png;base64,([^"]+)"', html)
    assert sheets, "the data card embeds no PNG thumbnail sheet"
    sheet = Image.open(io.BytesIO(base64.b64decode(sheets[0]))).convert("L")

    # The card loads nothing (inline CSS, SVG charts, data: URI), so a copy elsewhere with
    # the probe added renders the same
    probed = tmp_path / "datacard-probed.html"
    at = html.rfind("</body>")
    probed.write_text(html[:at] + PROBE + html[at:] if at >= 0 else html + PROBE, encoding="utf-8")
    dom = chromium(tmp_path, probed.as_uri(), "--dump-dom", size="1200,1000", budget_ms=5000)
    drawn = re.findall(r'data-drawn="([^"]*)"', dom)
    assert f"{sheet.width}x{sheet.height}" in drawn, f"sheet not decoded: {drawn}"
    x, y, w, h = map(int, re.search(r'data-box="(\d+),(\d+),(\d+),(\d+)"', dom).groups())
    assert w > 100 and h > 100, "thumbnail sheet drawn too small"
    # Headless screenshots of a scrolled page come out white: take the whole page instead
    height = int(re.search(r'data-height="(\d+)"', dom).group(1))
    shot = tmp_path / "datacard.png"
    chromium(
        tmp_path,
        probed.as_uri(),
        f"--screenshot={shot}",
        size=f"1200,{max(height, y + h)}",
        budget_ms=5000,
    )
    painted = Image.open(shot).convert("L").crop((x, y, x + w, y + h))
    small = (max(w // 8, 1), max(h // 8, 1))
    difference = np.abs(
        np.asarray(painted.resize(small), dtype=float)
        - np.asarray(sheet.resize(small), dtype=float)
    ).mean()
    assert np.asarray(painted).std() > 20, "the thumbnail area is blank"
    assert difference < 20, f"the painted sheet differs from the PNG (mean |Δ| {difference:.1f})"
