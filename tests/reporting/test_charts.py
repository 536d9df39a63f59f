"""Charts: plotly figures have the expected traces; SVG twins are static and stable."""

from __future__ import annotations

import json
import re

from tests.reporting.conftest import NAMES
from unimed_kedro.datasets import PlotlyFigureDataset
from unimed_kedro.reporting import charts
from unimed_kedro.reporting.summary import label_counts, split_counts, split_prevalence


def test_label_counts_per_source_and_outcome(samples):
    counts = label_counts(samples, NAMES).set_index(["source", "label"])
    assert counts.loc[("chexpert", "Pleural Effusion")].to_dict() == {
        "positive": 1,
        "negative": 1,
        "uncertain": 1,
        "not_annotated": 0,
    }
    assert counts.loc[("chexpert", "Hernia"), "not_annotated"] == 3
    assert counts.loc[("nih", "No Finding"), "positive"] == 2
    # labels keep the vocabulary (column) order
    assert list(counts.loc["nih"].index) == ["No Finding", "Pleural Effusion", "Hernia"]


def test_split_counts_and_prevalence(samples):
    assert split_counts(samples).to_dict("index") == {
        "chexpert": {"train": 2, "val": 1, "test": 0},
        "nih": {"train": 1, "val": 0, "test": 2},
    }
    prevalence = split_prevalence(samples, NAMES)
    assert prevalence.loc["No Finding", "test"] == 1.0
    assert prevalence.loc["Pleural Effusion", "train"] == round(1 / 3, 4)  # 1 of 3 annotated
    assert prevalence["val"].isna().sum() == 1  # hernia: nothing annotated in val


def test_label_distribution_figure_has_outcome_traces_per_source(samples):
    fig = charts.label_distribution_figure(label_counts(samples, NAMES), "t")
    assert [t["name"] for t in fig["data"]] == ["positive", "negative", "uncertain"] * 2
    assert all(t["type"] == "bar" for t in fig["data"])
    chexpert_uncertain = fig["data"][2]
    assert chexpert_uncertain["x"] == ["No Finding", "Pleural Effusion", "Hernia"]
    assert chexpert_uncertain["y"] == [0, 1, 0]
    assert [t["showlegend"] for t in fig["data"]] == [True] * 3 + [False] * 3
    assert fig["layout"]["barmode"] == "group"


def test_subplots_stack_top_down_with_titles_and_plotly_accepts_them(samples):
    """The hand-made subplot layout is what plotly's own validator accepts, and each source
    gets its own row, titled, from the top."""
    import plotly.graph_objects as go

    fig = charts.label_distribution_figure(label_counts(samples, NAMES), "t")
    assert [t["yaxis"] for t in fig["data"]] == ["y"] * 3 + ["y2"] * 3
    top, bottom = fig["layout"]["yaxis"]["domain"], fig["layout"]["yaxis2"]["domain"]
    assert top[1] == 1.0 and bottom[0] == 0.0 and bottom[1] < top[0]
    assert [a["text"] for a in fig["layout"]["annotations"]] == ["chexpert", "nih"]
    balance = charts.split_balance_figure(
        split_counts(samples), split_prevalence(samples, NAMES), "t"
    )
    for figure in (fig, balance):
        go.Figure(figure)  # raises on any property plotly does not know


def test_split_balance_figure_has_sources_and_splits(samples):
    fig = charts.split_balance_figure(split_counts(samples), split_prevalence(samples, NAMES), "t")
    assert [t["name"] for t in fig["data"]] == ["chexpert", "nih", "train", "val", "test"]
    assert fig["data"][1]["y"] == [1, 0, 2]  # nih per split
    assert fig["data"][4]["y"][0] == 1.0  # test prevalence of No Finding
    assert fig["data"][3]["y"][2] is None  # nothing annotated: no bar rather than 0


def test_plotly_json_dataset_round_trip_and_preview(samples, tmp_path):
    fig = charts.label_distribution_figure(label_counts(samples, NAMES), "t")
    dataset = PlotlyFigureDataset(filepath=str(tmp_path / "chart.json"))
    dataset.save(fig)
    first = (tmp_path / "chart.json").read_bytes()
    dataset.save(charts.label_distribution_figure(label_counts(samples, NAMES), "t"))
    assert (tmp_path / "chart.json").read_bytes() == first  # same data, same bytes
    preview = dataset.preview()
    assert len(preview["data"]) == 6 and preview["data"][0]["type"] == "bar"
    assert json.loads(first)["layout"]["title"]["text"] == "t"
    assert dataset.load() == json.loads(first)


def test_svg_twins_are_static_and_stable(samples):
    counts = label_counts(samples, NAMES)
    svg = charts.label_distribution_svg(counts, "labels")
    assert svg == charts.label_distribution_svg(counts, "labels")
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "<script" not in svg and "href" not in svg
    # one bar per non-zero (source, label, outcome), with its value as a tooltip
    assert svg.count("<rect") - 1 - 3 == int(
        (counts[["positive", "negative", "uncertain"]] > 0).sum().sum()
    )
    assert "<title>Pleural Effusion · uncertain: 1</title>" in svg
    balance = charts.split_balance_svg(
        split_counts(samples), split_prevalence(samples, NAMES), "balance"
    )
    assert "<title>test · nih: 2</title>" in balance
    assert "<title>No Finding · test: 100%</title>" in balance
    assert not re.search(r"\d\.\d{2,}", svg + balance)  # fixed precision coordinates
