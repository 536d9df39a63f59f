"""Charts of a collection, twice: plotly figures (saved as plotly JSON, drawn by kedro-viz)
and static SVG twins for the data card, with the same colours per outcome, source and split.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from unimed_kedro.reporting.summary import OUTCOMES, SPLITS
from unimed_kedro.reporting.svg import Panel, Series, bar_chart_svg

OUTCOME_COLORS = {"positive": "#c0392b", "negative": "#2e86c1", "uncertain": "#e69f00"}
SPLIT_COLORS = {"train": "#1b7837", "val": "#7b3294", "test": "#e08214"}
PALETTE = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3",
           "#8c8c8c"]
TEMPLATE = "plotly_white"


def source_colors(sources: list[str]) -> dict[str, str]:
    return {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(sources)}


def label_distribution_figure(counts: pd.DataFrame, title: str) -> go.Figure:
    """Grouped bars of positive / negative / uncertain counts per label, one row of
    subplots per source (`counts` from `summary.label_counts`)."""
    sources = list(dict.fromkeys(counts["source"]))
    fig = make_subplots(rows=max(1, len(sources)), cols=1, shared_xaxes=True,
                        subplot_titles=sources or None, vertical_spacing=0.06)
    for row, source in enumerate(sources, start=1):
        part = counts[counts["source"].eq(source)]
        for outcome in OUTCOMES:
            fig.add_trace(go.Bar(x=list(part["label"]), y=list(part[outcome]), name=outcome,
                                 legendgroup=outcome, showlegend=row == 1,
                                 marker_color=OUTCOME_COLORS[outcome]), row=row, col=1)
        fig.update_yaxes(title_text="samples", row=row, col=1)
    fig.update_layout(title=title, barmode="group", template=TEMPLATE,
                      height=220 + 200 * max(1, len(sources)), legend_title_text="label value")
    return fig


def split_balance_figure(per_split: pd.DataFrame, prevalence: pd.DataFrame,
                         title: str) -> go.Figure:
    """Top: samples per split, one bar per source. Bottom: label prevalence per split
    (`per_split` and `prevalence` from `summary.split_counts` / `split_prevalence`)."""
    fig = make_subplots(rows=2, cols=1, vertical_spacing=0.2, subplot_titles=(
        "samples per split and source", "label prevalence per split (positives / annotated)"))
    colors = source_colors(list(per_split.index))
    for source, row in per_split.iterrows():
        fig.add_trace(go.Bar(x=SPLITS, y=[int(row[s]) for s in SPLITS], name=source,
                             legendgroup="sources", legendgrouptitle_text="source",
                             marker_color=colors[source]), row=1, col=1)
    for split in SPLITS:
        values = [None if pd.isna(v) else float(v) for v in prevalence[split]]
        fig.add_trace(go.Bar(x=list(prevalence.index), y=values, name=split,
                             legendgroup="splits", legendgrouptitle_text="split",
                             marker_color=SPLIT_COLORS[split]), row=2, col=1)
    fig.update_yaxes(title_text="samples", row=1, col=1)
    fig.update_yaxes(title_text="prevalence", range=[0, 1], row=2, col=1)
    fig.update_layout(title=title, barmode="group", template=TEMPLATE, height=760,
                      legend_groupclick="toggleitem")
    return fig


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
    sources = [Series(s, colors[s], [float(per_split.loc[s, sp]) for sp in SPLITS])
               for s in per_split.index]
    splits = [Series(s, SPLIT_COLORS[s], [float(v) for v in prevalence[s]]) for s in SPLITS]
    panels = [Panel("samples per split", SPLITS, sources, width=220),
              Panel("prevalence (positives / annotated)", list(prevalence.index), splits,
                    stacked=False, max_value=1.0, value_format="{:.0%}", width=220)]
    return bar_chart_svg(title, panels, sources + splits)
