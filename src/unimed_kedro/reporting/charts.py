"""Charts of a collection, twice: plotly figures (saved as plotly JSON, drawn by kedro-viz)
and static SVG twins for the data card, with the same colours per outcome, source and split.

Figures are built as plain plotly-JSON dicts, not `plotly.graph_objects`: the first
`go.Figure` of a process loads plotly's validators and, through `make_subplots`, IPython,
about a second per run for two small charts.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from unimed_kedro.reporting.summary import OUTCOMES
from unimed_kedro.reporting.svg import Panel, Series, bar_chart_svg
from unimed_kedro.schema import SPLITS

OUTCOME_COLORS = {"positive": "#c0392b", "negative": "#2e86c1", "uncertain": "#e69f00"}
SPLIT_COLORS = {"train": "#1b7837", "val": "#7b3294", "test": "#e08214"}
PALETTE = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c"]
# The look of plotly's `plotly_white` template, which plotly.js alone cannot resolve by name.
STYLE = {"plot_bgcolor": "white", "paper_bgcolor": "white"}
AXIS = {"gridcolor": "#EBF0F8", "zerolinecolor": "#EBF0F8", "automargin": True}


def source_colors(sources: list[str]) -> dict[str, str]:
    return {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(sources)}


def _bar(x: list, y: list, **style: Any) -> dict:
    return {"type": "bar", "x": x, "y": y, **style}


def _stacked_rows(titles: list[str], gap: float, shared_x: bool) -> dict:
    """Layout of one column of subplots, top to bottom: an x/y axis pair per row (row 1 is
    plotly's `x`/`y`, row r `x<r>`/`y<r>`) and each row's title above it, as plotly's
    `make_subplots` lays them out."""
    rows = max(1, len(titles))
    height = (1 - gap * (rows - 1)) / rows
    layout: dict[str, Any] = {"annotations": []}
    for row in range(1, rows + 1):
        suffix = "" if row == 1 else str(row)
        top = 1 - (row - 1) * (height + gap)
        layout[f"xaxis{suffix}"] = {"anchor": f"y{suffix}", "domain": [0.0, 1.0], **AXIS}
        layout[f"yaxis{suffix}"] = {
            "anchor": f"x{suffix}",
            "domain": [round(top - height, 6), round(top, 6)],
            **AXIS,
        }
        if shared_x:
            layout[f"xaxis{suffix}"].update(
                showticklabels=row == rows, **({"matches": "x"} if row > 1 else {})
            )
        if row <= len(titles):
            layout["annotations"].append(
                {
                    "text": titles[row - 1],
                    "x": 0.5,
                    "xref": "paper",
                    "xanchor": "center",
                    "y": round(top, 6),
                    "yref": "paper",
                    "yanchor": "bottom",
                    "showarrow": False,
                    "font": {"size": 16},
                }
            )
    return layout


def _axes(row: int) -> dict:
    suffix = "" if row == 1 else str(row)
    return {"xaxis": f"x{suffix}", "yaxis": f"y{suffix}"}


def label_distribution_figure(counts: pd.DataFrame, title: str) -> dict:
    """Grouped bars of positive / negative / uncertain counts per label, one row of
    subplots per source (`counts` from `summary.label_counts`)."""
    sources = list(dict.fromkeys(counts["source"]))
    data = []
    for row, source in enumerate(sources, start=1):
        part = counts[counts["source"].eq(source)]
        data += [
            _bar(
                part["label"].tolist(),
                part[outcome].tolist(),
                name=outcome,
                legendgroup=outcome,
                showlegend=row == 1,
                marker={"color": OUTCOME_COLORS[outcome]},
                **_axes(row),
            )
            for outcome in OUTCOMES
        ]
    layout = _stacked_rows(sources, gap=0.06, shared_x=True)
    for row in range(1, max(1, len(sources)) + 1):
        layout["yaxis" + ("" if row == 1 else str(row))]["title"] = {"text": "samples"}
    layout.update(
        STYLE,
        title={"text": title},
        barmode="group",
        height=220 + 200 * max(1, len(sources)),
        legend={"title": {"text": "label value"}},
    )
    return {"data": data, "layout": layout}


def split_balance_figure(per_split: pd.DataFrame, prevalence: pd.DataFrame, title: str) -> dict:
    """Top: samples per split, one bar per source. Bottom: label prevalence per split
    (`per_split` and `prevalence` from `summary.split_counts` / `split_prevalence`)."""
    colors = source_colors(list(per_split.index))
    data = [
        _bar(
            list(SPLITS),
            [int(row[s]) for s in SPLITS],
            name=source,
            legendgroup="sources",
            legendgrouptitle={"text": "source"},
            marker={"color": colors[source]},
            **_axes(1),
        )
        for source, row in per_split.iterrows()
    ]
    data += [
        _bar(
            list(prevalence.index),
            [None if pd.isna(v) else float(v) for v in prevalence[split]],
            name=split,
            legendgroup="splits",
            legendgrouptitle={"text": "split"},
            marker={"color": SPLIT_COLORS[split]},
            **_axes(2),
        )
        for split in SPLITS
    ]
    layout = _stacked_rows(
        ["samples per split and source", "label prevalence per split (positives / annotated)"],
        gap=0.2,
        shared_x=False,
    )
    layout["yaxis"]["title"] = {"text": "samples"}
    layout["yaxis2"].update(title={"text": "prevalence"}, range=[0, 1])
    layout.update(
        STYLE,
        title={"text": title},
        barmode="group",
        height=760,
        legend={"groupclick": "toggleitem"},
    )
    return {"data": data, "layout": layout}


def label_distribution_svg(counts: pd.DataFrame, title: str) -> str:
    """Static twin of `label_distribution_figure`: per source, stacked bars of positive,
    negative and uncertain counts per label (bar length = annotated samples)."""
    sources = list(dict.fromkeys(counts["source"]))
    labels = list(dict.fromkeys(counts["label"]))
    legend = [Series(o, OUTCOME_COLORS[o], []) for o in OUTCOMES]
    panels = []
    for i, source in enumerate(sources):
        part = counts[counts["source"].eq(source)].set_index("label").reindex(labels)
        series = [Series(o, OUTCOME_COLORS[o], [float(v) for v in part[o]]) for o in OUTCOMES]
        panels.append(Panel(source, labels, series, width=150, row_labels=i == 0))
    return bar_chart_svg(title, panels, legend)


def split_balance_svg(per_split: pd.DataFrame, prevalence: pd.DataFrame, title: str) -> str:
    """Static twin of `split_balance_figure`: samples per split stacked by source, and
    label prevalence per split."""
    colors = source_colors(list(per_split.index))
    sources = [
        Series(s, colors[s], [float(per_split.loc[s, sp]) for sp in SPLITS])
        for s in per_split.index
    ]
    splits = [Series(s, SPLIT_COLORS[s], [float(v) for v in prevalence[s]]) for s in SPLITS]
    panels = [
        Panel("samples per split", list(SPLITS), sources, width=220),
        Panel(
            "prevalence (positives / annotated)",
            list(prevalence.index),
            splits,
            stacked=False,
            max_value=1.0,
            value_format="{:.0%}",
            width=220,
        ),
    ]
    return bar_chart_svg(title, panels, sources + splits)
