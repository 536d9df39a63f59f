"""Per-volume normalisation, one chunk of items per engine task (SAT-DS's `loader.py` +
`convert_to_npy.py`, without MONAI or torch).

Per item: the image is read and checked (size, voxels, channel), then its mask (label
map or one file per label: shape, affine, declared values, foreground), so every reject
is decided before anything is computed or written. Then one resampling turns the image to
the item's axis codes at the target spacing (`geometry`), the intensities are clipped and
z-scored by modality (`intensity`) after the optional foreground crop, the masks are
resampled onto the same (cropped) grid in one nearest-neighbour pass per 32 labels
(`masks`), and each final label is stored cropped to its box. A bad file becomes a row
with its reason, never an exception; a rejected item writes nothing, an accepted one its
image file and its folder of label files, each appearing whole.

Memory: the raw file's bytes and decompressed voxels, SimpleITK's copy of them, the
resampled float32 volume and one plane of packed masks: a few copies of one volume.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from unimed_kedro.io.atomic import atomic_dir, link_or_copy, remove
from unimed_kedro.schema.volume import LABEL_FILES, LABEL_MAP
from unimed_kedro.volumes import geometry, intensity, masks
from unimed_kedro.volumes.options import VolumeOptions, axcodes
from unimed_kedro.volumes.read import IMAGE, Limits, Rejected, Volume, read_volume
from unimed_kedro.writers.npy import write_npy, write_npy_new
from unimed_kedro.writers.satds import label_file_name

# Bump when a change here alters stored bytes: finished chunks are rebuilt.
OUTPUT_VERSION = 1
INDEX_COLUMNS = (
    "sample_id",
    "status",
    "detail",
    "sha256",
    "raw_shape",
    "raw_spacing",
    "chwd",
    "spacing",
    "affine",
    "boxes",
    "roi",
    "renorm_image",
    "renorm_segmentation_dir",
)
REJECT_REASONS = (
    "missing_image",
    "unreadable_image",
    "missing_mask",
    "unreadable_mask",
    "missing_label_file",
    "channel_out_of_range",
    "shape_mismatch",
    "affine_mismatch",
    "undeclared_mask_value",
    "empty_mask",
    "too_large",
    "outside_raw_root",
)


@dataclass(frozen=True)
class VolumeItem:
    """One sample: an image file (one channel of it), its mask, and its labels (see the
    module and `INDEX_COLUMNS`)."""

    sample_id: str
    dataset: str
    image: str
    channel_index: int | None
    mask: str | None
    mask_kind: str
    declared: tuple[str, ...]
    labels: tuple[str, ...]
    parts: tuple[tuple[str, ...], ...]
    modality: str
    orientation: str


@dataclass(frozen=True)
class VolumeChunk:
    """Items, the checked options, and the link rule: without `allow_symlinks` a raw file
    that is a symbolic link (or, when `root` is given, any file whose real path leaves
    `root`) is an `outside_raw_root` reject; links staying inside `root` are followed."""

    items: tuple[VolumeItem, ...]
    options: VolumeOptions
    allow_symlinks: bool = False
    root: str | None = None

    def __len__(self) -> int:  # the engine's progress counts volumes
        return len(self.items)


def check_item(item: VolumeItem) -> None:
    """What must hold of an item whatever its files (a configuration error otherwise,
    `ValueError`): safe folder and file names, one part list per label, label names that
    stay distinct as file names, label-map keys that are numbers, a known kind."""
    for what, value in (("sample_id", item.sample_id), ("dataset", item.dataset)):
        if not value or value.startswith(".") or "/" in value or "\0" in value:
            raise ValueError(f"{item.sample_id!r}: {what} {value!r} cannot name a folder")
    if len(item.labels) != len(item.parts) or not all(item.parts):
        raise ValueError(f"{item.sample_id}: expected one non-empty part list per label")
    files = [label_file_name(label) for label in item.labels]
    if len(set(files)) != len(files):
        raise ValueError(f"{item.sample_id}: labels {list(item.labels)} share a file name")
    if item.mask_kind not in (LABEL_MAP, LABEL_FILES):
        raise ValueError(f"{item.sample_id}: mask_kind {item.mask_kind!r}")
    if item.mask_kind == LABEL_MAP:
        for key in item.declared:
            try:
                float(key)
            except ValueError:
                raise ValueError(f"{item.sample_id}: label-map key {key!r} is no number") from None
    masks.needed_keys(item.declared, item.parts)
    axcodes(item.orientation, f"{item.sample_id}.orientation")


def normalize_volumes(task: Any, out_dir: Path) -> tuple[list[dict], list[str]]:
    """Chunk function for `engine.run_job`: `task.payload` is a `VolumeChunk`; one row per
    item, in item order; the outputs are each accepted item's image file and label
    folder, relative to `out_dir`."""
    chunk: VolumeChunk = task.payload
    options = chunk.options
    geometry.set_threads(options.threads)
    limits = Limits(options.max_bytes, options.max_voxels, chunk.allow_symlinks, chunk.root)
    rows, outputs = [], []
    shared = SharedImage()
    for item in chunk.items:
        row, written = process_item(item, options, limits, out_dir, shared)
        rows.append(row)
        outputs += written
    return rows, outputs


@dataclass
class SharedImage:
    """The last image a task read, normalized and wrote, for the next item of the same
    image (one folder feeds several datasets: TotalSegmentator's six read each CT once,
    and store it once, the other datasets' files being hard links to it)."""

    key: tuple | None = None
    image: Volume | None = None
    stored: tuple[np.ndarray, geometry.Grid] | None = None
    written: str | None = None

    def read(self, item: VolumeItem, limits: Limits) -> Volume:
        key = (item.image, item.channel_index, item.orientation)
        if key != self.key or self.image is None:
            self.key, self.image, self.stored, self.written = key, None, None, None
            self.image = read_volume(item.image, IMAGE, limits)
        return self.image


def process_item(
    item: VolumeItem,
    options: VolumeOptions,
    limits: Limits,
    out_dir: Path,
    shared: SharedImage | None = None,
) -> tuple[dict, list[str]]:
    """The item's row, and the files it wrote (relative to `out_dir`; none for a reject)."""
    check_item(item)
    shared = shared or SharedImage()
    row: dict[str, Any] = dict.fromkeys(INDEX_COLUMNS)
    row["sample_id"] = item.sample_id
    try:
        image = shared.read(item, limits)
        row.update(
            sha256=image.sha256,
            raw_shape=_json(list(image.shape) + ([image.channels] if image.channels > 1 else [])),
            raw_spacing=_json(list(image.spacing)),
        )
        data = pick_channel(image, item.channel_index, os.path.basename(item.image))
        planes = read_masks(item, image, limits, options.affine_tolerance)
    except Rejected as rejected:
        return {**row, "status": rejected.reason, "detail": rejected.detail}, []
    if shared.stored is None:
        shared.stored = normalized_image(image, data, item, options)
    stored, grid = shared.stored
    del data
    labels = masks.label_crops(masks.part_crops(planes, grid), item.parts)
    del planes
    written = write_item(out_dir, item, stored, labels, shared.written)
    shared.written = str(out_dir / written[0])
    row.update(describe(stored, grid, labels), status="ok", detail=None)
    row.update(renorm_image=written[0], renorm_segmentation_dir=written[1])
    return row, written


def pick_channel(image: Volume, channel: int | None, name: str) -> np.ndarray:
    """The (i, j, k) voxels of channel `channel` (None: the image must have one)."""
    count = image.channels
    if channel is None and count > 1:
        detail = f"image {name} has {count} channels (a 4-D image) and no channel index was given"
        raise Rejected("channel_out_of_range", detail)
    if channel is not None and not 0 <= channel < count:
        detail = f"image {name}: channel {channel} asked for, expected 0 to {count - 1}"
        raise Rejected("channel_out_of_range", detail)
    return image.data[:, :, :, channel or 0]


def read_masks(item: VolumeItem, image: Volume, limits: Limits, tolerance: float) -> masks.Planes:
    keys = masks.needed_keys(item.declared, item.parts)
    if item.mask is None:
        raise Rejected("missing_mask", f"sample {item.sample_id} has no mask")
    if item.mask_kind == LABEL_FILES:
        return masks.read_label_files(item.mask, item.declared, keys, image, limits, tolerance)
    return masks.read_labelmap(item.mask, item.declared, keys, image, limits, tolerance)


def normalized_image(
    image: Volume, data: np.ndarray, item: VolumeItem, options: VolumeOptions
) -> tuple[np.ndarray, geometry.Grid]:
    """The stored image (float32, C order, axes as the grid's) and its grid: resampled,
    cropped to the foreground if asked, clipped and z-scored by modality."""
    grid = geometry.target_grid(image.affine, image.shape, item.orientation, options.spacing)
    clean = intensity.finite(data)
    # SimpleITK's own image of the voxels when it read them (no copy), else the array
    source = image.itk if image.itk is not None and clean is data else clean.T
    values = geometry.resample(source, grid, linear=True)  # ours: writable
    if image.scaled:  # linear interpolation commutes with the scaling: applied once, after
        values *= np.float32(image.slope)
        values += np.float32(image.inter)

    def bounds(of: np.ndarray) -> tuple[float, float]:
        return intensity.clip_bounds(of, item.modality, options.ct_window, options.percentiles)

    low, high = bounds(values)
    if options.crop_foreground:
        box = geometry.bounding_box(values > np.float32(low))
        if box is not None:  # nothing above the lower bound: the volume stays whole
            grid, values = grid.crop(box), values[box]
            low, high = bounds(values)  # over the stored volume
    values = np.ascontiguousarray(values)  # C order (a copy of the output, or of the crop)
    intensity.clip_and_standardize(values, low, high)
    return values, grid


def describe(stored: np.ndarray, grid: geometry.Grid, labels: list) -> dict:
    """The row's geometry and boxes, as compact JSON text."""
    boxes = [geometry.box_list(None if crop is None else crop[0]) for crop in labels]
    found = [crop[0] for crop in labels if crop is not None]
    roi = geometry.box_list(geometry.union_box(found) if found else None)
    return {
        "chwd": _json([1, *stored.shape]),
        # to the nanometre: float noise (3.0000000000000004) is no geometry, and reruns on
        # another BLAS must write the same text
        "spacing": _json([round(float(s), 6) for s in grid.spacing]),
        "affine": _json((np.round(grid.affine, 6) + 0.0).tolist()),  # + 0.0: no "-0.0"
        "boxes": _json(boxes),
        "roi": _json(roi),
    }


def write_item(
    out_dir: Path, item: VolumeItem, stored: np.ndarray, labels: list, same: str | None = None
) -> list[str]:
    """`<dataset>/renorm_image/<id>.npy` and `<dataset>/renorm_segmentation/<id>/` (one
    `.npy` per non-empty label); each appears whole, and a failure leaves neither. `same`:
    a file already holding this image, linked instead of written again."""
    image_rel = f"{item.dataset}/renorm_image/{item.sample_id}.npy"
    folder_rel = f"{item.dataset}/renorm_segmentation/{item.sample_id}"
    try:
        with atomic_dir(out_dir / folder_rel) as folder:
            for label, crop in zip(item.labels, labels):
                if crop is not None:
                    write_npy_new(folder / label_file_name(label), crop[1])
        if same is not None and os.path.isfile(same):
            (out_dir / image_rel).parent.mkdir(parents=True, exist_ok=True)
            link_or_copy(same, str(out_dir / image_rel))
        else:
            write_npy(out_dir / image_rel, stored[None])
    except BaseException:
        remove(out_dir / folder_rel)
        raise
    return [image_rel, folder_rel]


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
