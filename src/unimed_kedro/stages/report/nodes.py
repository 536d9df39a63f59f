"""Report nodes: chart the exported samples, draw thumbnails, write the data card.

Everything is computed from the shard index (the samples actually exported), so the counts
agree with statistics.json also when the licence filter holds sources back.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from unimed_kedro.datasets.chunk_store_dataset import ChunkStore
from unimed_kedro.reporting import charts, datacard
from unimed_kedro.reporting.summary import label_counts, split_counts, split_prevalence
from unimed_kedro.reporting.thumbnails import Tile, pick_samples, thumbnail_sheet
from unimed_kedro.schema import label_columns_in
from unimed_kedro.schema.tables import Rows, Tabular, columns_of, compact_frame, narrowed, present
from unimed_kedro.stages.split.nodes import SplitOptions


def summary(shard_index: Tabular, columns: list[str], labels: bool = True) -> pd.DataFrame:
    """`columns` of the shard index (those it has), with its label columns: never the
    whole rows. Patients are counted, never named: their ids come as numbers."""
    have = columns_of(shard_index)
    wanted = present(shard_index, [*columns, *(label_columns_in(have) if labels else [])])
    return compact_frame(shard_index, wanted, ["patient_id"])[0]


def plot_label_distribution(
    shard_index: Tabular, vocabulary: dict, params: dict
) -> tuple[dict, str]:
    """Positive / negative / uncertain counts per label and source: plotly and SVG."""
    counts = label_counts(summary(shard_index, ["source"]), vocabulary["labels"]["union"])
    title = f"{params['collection']}: label values per source"
    return (
        charts.label_distribution_figure(counts, title),
        charts.label_distribution_svg(counts, title),
    )


def plot_split_balance(shard_index: Tabular, vocabulary: dict, params: dict) -> tuple[dict, str]:
    """Samples per split and source, and label prevalence per split: plotly and SVG."""
    samples = summary(shard_index, ["source", "split"])
    per_split = split_counts(samples)
    prevalence = split_prevalence(samples, vocabulary["labels"]["union"])
    title = f"{params['collection']}: split balance"
    return (
        charts.split_balance_figure(per_split, prevalence, title),
        charts.split_balance_svg(per_split, prevalence, title),
    )


def draw_thumbnails(
    shard_index: Tabular, store: ChunkStore, params: dict
) -> tuple[bytes, pd.DataFrame]:
    """A PNG grid with one row per source, and the samples it shows."""
    options = params["thumbnails"]
    ids = summary(shard_index, ["sample_id", "source", "split"], labels=False)
    picked = pick_samples(
        ids.assign(row=np.arange(len(ids))), int(options["per_source"]), int(options["seed"])
    )
    captions = Rows(narrowed(shard_index, ["caption"]), picked["row"].to_numpy()).frame()
    picked = picked.drop(columns="row").assign(caption=captions["caption"].to_numpy())
    paths = [path for path, _ in store.locations(list(picked["sample_id"]))]
    images = {s: Path(path).read_bytes() for s, path in zip(picked["sample_id"], paths)}
    rows = [
        [
            Tile(images[r.sample_id], r.sample_id, f"{r.source} · {r.split}", r.caption)
            for r in part.itertuples()
        ]
        for _, part in picked.groupby("source", sort=True)
    ]
    sheet = thumbnail_sheet(
        rows, side=int(options["side"]), caption_lines=int(options["caption_lines"])
    )
    return sheet, picked[["sample_id", "source", "split", "caption"]]


def build_datacard(
    statistics: dict,
    rejects: pd.DataFrame,
    corrections: pd.DataFrame,
    shard_index: Tabular,
    thumbnail_samples: pd.DataFrame,
    thumbnails: bytes,
    label_svg: str,
    split_svg: str,
    provenance: dict,
    sources: dict[str, dict],
    vocabulary: dict,
    normalize: dict,
    split: dict,
    params: dict,
) -> dict:
    """Everything the data card shows; licences and citations are the sources' own, as
    ingest recorded them."""
    # file names as catalog.yml writes them next to the card (the Markdown card links them)
    chart_list = [
        datacard.Chart("Label values per source", "label_distribution.svg", label_svg),
        datacard.Chart("Split balance", "split_balance.svg", split_svg),
    ]
    mix = balance_columns(split)
    return datacard.datacard_context(
        statistics=statistics,
        rejects=rejects,
        corrections=corrections,
        samples=summary(shard_index, ["source", "patient_id", "split", "caption_kind", *mix]),
        picked=thumbnail_samples,
        thumbnails=thumbnails,
        charts=chart_list,
        infos=sources,
        names=vocabulary["labels"]["union"],
        normalize=normalize,
        provenance=provenance,
        params=params,
        mix_columns=mix,
    )


def balance_columns(section: dict) -> tuple:
    """The columns the balance table mixes: the split section's (checked), or those a
    collection without splits lists in another section."""
    if "ratios" in section:
        return SplitOptions.from_params(section).balance_columns
    return tuple(section.get("balance_columns", ()))


def render_datacard(context: dict) -> tuple[str, str]:
    """The card as a self-contained HTML page and as Markdown."""
    return datacard.render_html(context), datacard.render_markdown(context)
