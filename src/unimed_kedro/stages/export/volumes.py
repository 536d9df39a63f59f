"""Export nodes for volume collections: the samples the licence filter lets through as
SAT-DS JSON lines, per dataset, per split and merged, and the split JSON of each dataset.
The arrays are already in place (the normalize store is `preprocessed_npy/`)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

from unimed_kedro.schema import is_missing, row_dicts
from unimed_kedro.schema.options import Options, flag, identifier, setting
from unimed_kedro.schema.tables import Tabular, frame_of
from unimed_kedro.stages.export.nodes import licence_filter
from unimed_kedro.writers.satds import jsonl, split_json

STORE = "preprocessed_npy"  # the normalize store's folder inside the collection's outputs
_JSON_COLUMNS = ("chwd", "spacing", "affine", "boxes", "roi")


@dataclass(frozen=True)
class VolumeExportOptions(Options):
    """`<collection>.export` params of a volume collection."""

    SECTION = "export"
    collection: str = setting(identifier, missing="the collection's name")
    redistributable_only: bool = setting(flag, False)


def export_volumes(
    samples: Tabular, sources: dict[str, dict], params: dict
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The exported samples, each with its JSON `line`, in dataset then sample-id order;
    samples held back by the licence filter become rejects."""
    options = VolumeExportOptions.from_params(params)
    kept, rejects = licence_filter(frame_of(samples), sources, options.redistributable_only)
    kept = kept.sort_values(["dataset", "sample_id"], kind="stable").reset_index(drop=True)
    folders = {name: info["folder"] for name, info in sources.items()}
    kept["line"] = [json.dumps(_line(row, folders), ensure_ascii=False) for row in row_dicts(kept)]
    return kept, rejects


def _line(row: dict, folders: dict[str, str]) -> dict:
    """A sample as SAT-DS writes it: raw paths relative to raw_root, array paths
    relative to the collection's output folder."""
    folder = folders[row["source"]]
    decoded = {c: json.loads(row[c]) for c in _JSON_COLUMNS}
    line = {
        "image": f"{folder}/{row['raw_relpath']}",
        "mask": f"{folder}/{row['mask_relpath']}",
        "label": list(row["label"]),
        "modality": row["modality"],
        "dataset": row["dataset"],
        "official_split": row["official_split"] or "unknown",
        "patient_id": row["patient_id"],
        "sample_id": row["sample_id"],
        "renorm_image": f"{STORE}/{row['renorm_image']}",
        "chwd": decoded["chwd"],
        "renorm_segmentation_dir": f"{STORE}/{row['renorm_segmentation_dir']}",
        "renorm_y1x1z1_y2x2z2": decoded["boxes"],
        "roi_y1x1z1_y2x2z2": decoded["roi"],
        "spacing": decoded["spacing"],
        "affine": decoded["affine"],
        "license": row["license"],
        "split": row["split"],
    }
    if not is_missing(row["channel"]):
        line["channel"] = row["channel"]
    return line


def satds_files(
    exported: pd.DataFrame,
) -> tuple[dict, dict, dict, dict, str, str]:
    """Per dataset: all its lines (`jsonl/`), its split JSON (`split_json/`), its train and
    test lines (`trainset_jsonl/`, `testset_jsonl/`); and train / test merged over every
    dataset built."""
    by_dataset: dict[str, dict] = {"all": {}, "split": {}, "train": {}, "test": {}}
    for dataset, group in exported.groupby("dataset", sort=True):
        name = str(dataset)
        lines = [json.loads(line) for line in group["line"]]
        by_dataset["all"][f"{name}.jsonl"] = jsonl(lines)
        patients = group.groupby("split")["patient_id"].apply(list).to_dict()
        by_dataset["split"][f"{name}.json"] = split_json(patients)
        for split in ("train", "test"):
            chosen = [line for line in lines if line["split"] == split]
            by_dataset[split][f"{name}.jsonl"] = jsonl(chosen)
    merged = {
        split: "".join(by_dataset[split][name] for name in sorted(by_dataset[split]))
        for split in ("train", "test")
    }
    return (
        by_dataset["all"],
        by_dataset["split"],
        by_dataset["train"],
        by_dataset["test"],
        merged["train"],
        merged["test"],
    )
