"""Report nodes of a volume collection: mid-slice overlays of a few samples per dataset
(the visual check that image and masks still line up after normalization), and the data
card with the class vocabulary."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pandas as pd

from unimed_kedro.datasets.chunk_store_dataset import ChunkStore
from unimed_kedro.imaging.contact_sheet import contact_sheet
from unimed_kedro.reporting import datacard
from unimed_kedro.schema import row_dicts
from unimed_kedro.stages.split.nodes import SplitOptions
from unimed_kedro.volumes.overlay import masks_from_store, overlay_png

VOCABULARY_INTRO = (
    "Class names after the collection's synonym map and merge rules "
    "(`vocabulary` in its parameters): samples holding each class, and the datasets it "
    "comes from. A class empty after resampling is still listed for its sample, with no box."
)


def draw_overlays(
    exported: pd.DataFrame, store: ChunkStore, params: dict
) -> tuple[dict[str, bytes], pd.DataFrame, bytes]:
    """`<Dataset>/<sample_id>.png` for the first `overlays_per_dataset` samples of each
    dataset (sample-id order), the samples shown, and a sheet of them for the card."""
    per_dataset = int(params.get("overlays_per_dataset", 1))
    picked = exported.groupby("dataset", sort=True).head(per_dataset)
    files = {}
    for row in row_dicts(picked):
        image = np.load(store.path / row["renorm_image"])
        masks = masks_from_store(store.path, row, list(row["label"]))
        spacing = json.loads(row["spacing"])  # mm per voxel: planes drawn to scale
        files[f"{row['dataset']}/{row['sample_id']}.png"] = overlay_png(
            image, masks, spacing=spacing
        )
    shown = picked[["sample_id", "source", "split"]].assign(
        caption=[", ".join(labels) for labels in picked["label"]]
    )
    return files, shown.reset_index(drop=True), contact_sheet(list(files.values()), thumb=256)


def vocabulary_table(exported: pd.DataFrame) -> datacard.Table:
    """Every final class: how many samples hold it and in which datasets."""
    samples: Counter = Counter()
    datasets: dict[str, set] = {}
    for labels, dataset in zip(exported["label"], exported["dataset"]):
        for label in labels:
            samples[label] += 1
            datasets.setdefault(label, set()).add(dataset)
    rows = [
        [name, str(samples[name]), ", ".join(sorted(datasets[name]))] for name in sorted(samples)
    ]
    return datacard.Table(["class", "samples", "datasets"], rows, [False, True, False])


def build_volume_datacard(
    statistics: dict,
    rejects: pd.DataFrame,
    corrections: pd.DataFrame,
    exported: pd.DataFrame,
    picked: pd.DataFrame,
    sheet: bytes,
    provenance: dict,
    sources: dict[str, dict],
    normalize: dict,
    split: dict,
    params: dict,
) -> dict:
    """The data card's content: the shared card with the class vocabulary in place of
    label columns."""
    context = datacard.datacard_context(
        statistics=statistics,
        rejects=rejects,
        corrections=corrections,
        samples=exported,
        picked=picked,
        thumbnails=sheet,
        charts=[],
        infos=sources,
        names={},
        normalize=normalize,
        provenance=provenance,
        params=params,
        mix_columns=SplitOptions.from_params(split).balance_columns,
    )
    summary = datacard.summary_text(params["description"], statistics, sources, unit="volumes")
    spacing = " × ".join(str(s) for s in normalize.get("spacing", []))
    return {
        **context,
        "summary": summary,
        "images": f"float32 arrays (1, H, W, D), {normalize.get('orientation', 'RAS')}, "
        f"resampled to {spacing} mm, intensities normalized per modality; boolean masks "
        "cropped to each class's box.",
        "labels_intro": VOCABULARY_INTRO,
        "labels_table": vocabulary_table(exported),
    }
