"""Acceptance of the report stage on the sample-data build (issue: report and data card)."""

from __future__ import annotations

import base64
import io
import json
import re

import plotly.io
import pytest
from PIL import Image

from tests.conftest import CXR_SOURCES, source_infos
from tests.pipelines.conftest import build
from unimed_kedro.datasets import PngDataset

INFOS = source_infos(CXR_SOURCES)

OUTPUTS = [
    "label_distribution.json",
    "split_balance.json",
    "thumbnails.png",
    "datacard.html",
    "datacard.md",
    "label_distribution.svg",
    "split_balance.svg",
]
STABLE = [
    "label_distribution.json",
    "split_balance.json",
    "thumbnails.png",
    "label_distribution.svg",
    "split_balance.svg",
]


@pytest.fixture(scope="module")
def second_build(tmp_path_factory):
    return build(tmp_path_factory.mktemp("cxr-report-b"))


def test_report_files_exist(cxr_build):
    for name in OUTPUTS:
        assert (cxr_build.reports / name).stat().st_size > 0, name


def test_charts_are_plotly_json_with_traces_per_source(cxr_build):
    stats = cxr_build.statistics()
    # plotly itself reads what the run wrote
    labels = plotly.io.read_json(cxr_build.reports / "label_distribution.json")
    assert len(labels.data) == 3 * len(stats["sources"])
    for i, source in enumerate(sorted(stats["sources"])):
        traces = labels.data[3 * i : 3 * i + 3]
        assert [t.name for t in traces] == ["positive", "negative", "uncertain"]
        assert labels.layout.annotations[i].text == source  # subplot title
    balance = plotly.io.read_json(cxr_build.reports / "split_balance.json")
    samples = {t.name: sum(t.y) for t in balance.data if t.name in stats["sources"]}
    assert samples == {s: v["exported"] for s, v in stats["sources"].items()}


def test_thumbnails_show_every_source_but_viz_withholds_restricted_ones(cxr_build):
    dataset = PngDataset(filepath=str(cxr_build.reports / "thumbnails.png"))
    image = Image.open(io.BytesIO(dataset.load()))
    rows = len(cxr_build.statistics()["sources"])
    assert image.format == "PNG" and image.height > rows * 200 and image.width > 3 * 200
    # cxr holds sources whose licence forbids redistribution: a hosted viz site shows a
    # notice instead of the sheet
    preview = Image.open(io.BytesIO(base64.b64decode(dataset.preview())))
    assert preview.format == "PNG" and preview.size != image.size


def test_datacard_counts_match_statistics(cxr_build):
    stats = cxr_build.statistics()
    card = (cxr_build.reports / "datacard.md").read_text(encoding="utf-8")
    page = (cxr_build.reports / "datacard.html").read_text(encoding="utf-8")
    for source, got in stats["sources"].items():
        title = INFOS[source]["title"]
        row = (
            f"| {title} | {got['raw_records']} | {got['exported']} | {got['rejected']} | "
            f"{got['patients']} |"
        )
        assert row in card, row
        assert title in page and INFOS[source]["license"] in page
        for reason, _count in got["rejected_by_reason"].items():
            assert re.search(rf"^\| {reason} \|.*", card, re.M), reason
    assert f"This build holds {stats['exported']} image" in card
    assert f"<b>{stats['exported']}</b><span>samples" in page
    splits = stats["splits"]
    for split in ("train", "val", "test"):
        assert re.search(rf"^\| {split} \| {splits[split]} \|", card, re.M), split


def test_datacard_records_the_command_and_is_offline(cxr_build):
    command = f"kedro run --pipelines cxr --params raw_root={cxr_build.raw}"
    for name in ("datacard.md", "datacard.html"):
        text = (cxr_build.reports / name).read_text(encoding="utf-8")
        assert command in text, name
        assert "Code revision" in text and "unknown" in text  # the copy is no git checkout
    page = (cxr_build.reports / "datacard.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 1
    for pattern in (
        r"<script[^>]*\bsrc=",
        r"<link[^>]*href=[\"']?https?:",
        r"@import",
        r"url\(\s*[\"']?https?:",
        r"src=[\"']?https?:",
    ):
        assert not re.search(pattern, page, re.I), pattern


def test_two_builds_give_identical_charts_and_thumbnails(cxr_build, second_build):
    for name in STABLE:
        assert (cxr_build.reports / name).read_bytes() == (
            second_build.reports / name
        ).read_bytes(), name
    # the cards differ only where the command differs (raw_root)
    first = (cxr_build.reports / "datacard.md").read_text(encoding="utf-8")
    second = (second_build.reports / "datacard.md").read_text(encoding="utf-8")
    assert first.replace(str(cxr_build.raw), "RAW") == second.replace(str(second_build.raw), "RAW")


def test_plotly_json_is_valid_for_viz(cxr_build):
    figure = json.loads((cxr_build.reports / "split_balance.json").read_text())
    assert {"data", "layout"} <= set(figure)
