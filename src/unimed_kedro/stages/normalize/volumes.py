"""Normalize nodes for volume records: one task per `chunk_size` images (default one; the
records of one image, from the datasets that share a folder, go together), run by the
engine like the 2D stage's chunks; the store's folder is the collection's
`preprocessed_npy/`, so the arrays are written once, where they are used."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from unimed_kedro.engine.backends import check_executor
from unimed_kedro.engine.jobs import (
    ChunkJob,
    ChunkTask,
    chunked,
    fingerprint,
    preload_of,
    worker_modules,
)
from unimed_kedro.schema import is_missing
from unimed_kedro.schema.options import section_name
from unimed_kedro.schema.tables import Tabular, frame_of
from unimed_kedro.stages.ingest.nodes import ingest_options
from unimed_kedro.stages.normalize.nodes import file_state
from unimed_kedro.volumes.options import VolumeOptions

if TYPE_CHECKING:
    from unimed_kedro.volumes.process import VolumeItem

# `unimed_kedro.volumes.process` is imported when a volume job is planned: SimpleITK,
# nibabel and scipy took 1.7 s to import, which every run (a `cxr` rerun too) paid when
# the pipelines were registered.


def volume_items(records: pd.DataFrame, roots: dict[str, str], options: VolumeOptions) -> list:
    """One `VolumeItem` per record, in sample-id order, with absolute raw paths."""
    from unimed_kedro.volumes.process import VolumeItem

    items = []
    for row in records.sort_values("sample_id").to_dict("records"):
        root = roots[row["source"]]
        index = row["channel_index"]
        items.append(
            VolumeItem(
                sample_id=row["sample_id"],
                dataset=row["dataset"],
                image=f"{root}/{row['raw_relpath']}",
                channel_index=None if is_missing(index) else int(index),
                mask=f"{root}/{row['mask_relpath']}",
                mask_kind=row["mask_kind"],
                declared=tuple(str(k) for k in row["declared_keys"]),
                labels=tuple(row["label"]),
                parts=tuple(tuple(str(k) for k in p) for p in row["parts"]),
                modality=row["modality"],
                orientation=options.orientation_of(row["dataset"]),
            )
        )
    return items


def same_image_groups(items: list[VolumeItem]) -> list[list[VolumeItem]]:
    """Items that store the same image (one folder read as several datasets), together, in
    the order their first item comes: one task reads and normalizes that image once."""
    groups: dict[tuple, list[VolumeItem]] = {}
    for item in items:
        key = (item.image, item.channel_index, item.orientation)
        groups.setdefault(key, []).append(item)
    return list(groups.values())


def _state(item: VolumeItem) -> list:
    """What a task's fingerprint sees of its raw files: size and mtime of the image and
    the mask (a folder's own times change when a label file is added or removed)."""
    return [file_state(item.image), file_state(str(item.mask))]


@worker_modules("unimed_kedro.volumes.process")
def plan_volumes(
    records: Tabular,
    sources: dict[str, dict],
    params: dict,
    ingest: dict,
    executor: dict,
    raw_root: str,
) -> ChunkJob:
    """The job that normalizes every labelled record's volume and masks."""
    from unimed_kedro.volumes import process

    options = VolumeOptions.from_params(params, section_name(params, "normalize"))
    check_executor(executor)
    root = Path(raw_root).resolve()
    roots = {name: str(root / info["folder"]) for name, info in sources.items()}
    items = volume_items(frame_of(records), roots, options)
    for item in items:  # a configuration error stops the run here, not in a worker
        process.check_item(item)
    allow = ingest_options(ingest).allow_symlinks
    tasks = []
    for groups in chunked(same_image_groups(items), options.chunk_size):
        group = [item for same in groups for item in same]
        state = [(dataclasses.asdict(item), _state(item)) for item in group]
        tasks.append(
            ChunkTask(
                group[0].sample_id,
                process.VolumeChunk(tuple(group), options, allow, root=str(root)),
                # what decides stored values only: workers or threads rebuild nothing
                fingerprint(process.OUTPUT_VERSION, options.encoding(), allow, state),
            )
        )
    return ChunkJob(
        tasks,
        process.normalize_volumes,
        executor,
        "normalize volumes",
        "volumes",
        preload=preload_of(plan_volumes),
        index_columns=process.INDEX_COLUMNS,
    )
