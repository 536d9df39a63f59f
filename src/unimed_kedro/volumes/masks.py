"""Segmentation masks: read and checked against their image, packed so that one
nearest-neighbour resampling moves them all, then cut into each final label's cropped
boolean mask.

A label map is checked and remapped in one pass through a lookup table: each voxel
becomes its part's index (1..P, the declared keys the final labels use), 0 for
background; a declared key no final label uses, and an undeclared value, get codes of
their own, so the largest code tells whether the map holds undeclared values or no
foreground at all without another pass. One-file-per-label masks may overlap, so each
part is one bit of an unsigned plane (32 parts per plane). Nearest-neighbour sampling
takes every bit of a voxel from the same raw voxel, so resampling the packed planes
equals resampling each mask alone, at a fraction of the cost (TotalSegmentator: 117 files,
4 resamplings). Parts are cropped to their boxes right after resampling; a final label is
the union of its parts' crops, binary.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from unimed_kedro.volumes.geometry import Box, Grid, corner_distance, resample
from unimed_kedro.volumes.geometry import union_box as _union_box
from unimed_kedro.volumes.read import LABEL_FILE, MASK, Limits, Rejected, Role, Volume, read_volume

BITS = 32  # parts per bit plane: a plane is at most one float32 volume's size
SLAB = 1 << 22  # voxels remapped at a time (the index temporaries stay ~32 MB)
Crop = tuple[Box, np.ndarray]


@dataclass
class Planes:
    """Masks packed for resampling, each plane C-ordered (k, j, i) (SimpleITK's layout).
    `bits` False: one plane of part indices (1..P); True: part p is bit p % BITS of plane
    p // BITS. `keys` are the parts (declared keys) in index or bit order."""

    planes: list[np.ndarray]
    keys: tuple[str, ...]
    bits: bool


def needed_keys(declared: Sequence[str], parts: Sequence[Sequence[str]]) -> tuple[str, ...]:
    """The declared keys the final labels use, in order of first use. A part that is not
    declared is a configuration error (`ValueError`), not a bad file."""
    keys = tuple(dict.fromkeys(key for label in parts for key in label))
    unknown = [key for key in keys if key not in declared]
    if unknown:
        raise ValueError(f"label parts {unknown} are not among the declared keys {list(declared)}")
    return keys


def check_aligned(mask: Volume, image: Volume, role: Role, name: str, tolerance: float) -> None:
    """A mask that is 3-D, of the image's shape, and whose affine puts its corner voxels
    within `tolerance` mm of the image's."""
    if mask.channels != 1:
        detail = f"{role.noun} {name}: {mask.channels} volumes along its 4th axis, expected 3-D"
        raise Rejected(role.unreadable, detail)
    if mask.shape != image.shape:
        detail = f"{role.noun} {name}: shape {list(mask.shape)}, expected the image's {list(image.shape)}"
        raise Rejected("shape_mismatch", detail)
    distance = corner_distance(mask.affine, image.affine, image.shape)
    if distance > tolerance:
        raise Rejected(
            "affine_mismatch",
            f"{role.noun} {name}: its affine places corner voxels {distance:.4g} mm from "
            f"the image's, expected <= {tolerance:g} mm (affine_tolerance)",
        )


# --- label maps ---------------------------------------------------------------------------


def read_labelmap(
    path: str,
    declared: Sequence[str],
    keys: Sequence[str],
    image: Volume,
    limits: Limits,
    tolerance: float,
) -> Planes:
    """The label map at `path` as a plane of part indices; `Rejected` when it is missing,
    unreadable, misaligned, holds a value not `declared`, or no foreground."""
    name = os.path.basename(path)
    mask = read_volume(path, MASK, limits)
    check_aligned(mask, image, MASK, name, tolerance)
    raw = np.ascontiguousarray(mask.data[:, :, :, 0].T)  # a view for every plain file
    other, undeclared = len(keys) + 1, len(keys) + 2
    table = {float(key): code for code, key in enumerate(keys, 1)}
    table.update({float(key): other for key in declared if key not in keys})

    def code_of(values: np.ndarray) -> np.ndarray:
        stored = values * mask.slope + mask.inter
        codes = np.full(stored.shape, undeclared, dtype=np.uint8 if undeclared < 256 else np.uint16)
        codes[stored == 0] = 0
        for value, code in table.items():
            codes[stored == value] = code
        return codes

    plane = remap(raw, code_of)
    top = int(plane.max())
    if top == undeclared:
        found = np.unique(raw[plane == undeclared]) * mask.slope + mask.inter
        shown = ", ".join(_value_text(v) for v in found[:10]) + (", ..." if found.size > 10 else "")
        detail = f"mask {name} holds values {shown} that the dataset does not declare (declared: {', '.join(declared)})"
        raise Rejected("undeclared_mask_value", detail)
    if top == 0:
        raise Rejected("empty_mask", f"mask {name} has no foreground in any declared label")
    return Planes([plane], tuple(keys), bits=False)


def _value_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def remap(raw: np.ndarray, code_of) -> np.ndarray:
    """Each voxel of a C-ordered array replaced by `code_of(its value)` (`code_of` maps an
    array of distinct values, as float64, to codes): through a table over the value range
    when the values are integers spanning < 65,536, else through the sorted distinct
    values; slab by slab, so no temporary is larger than a slab. `raw` itself when each
    value already is its code (labels 1..P declared and used in order: the usual map)."""
    src = raw.reshape(-1)
    low, high = float(src.min()), float(src.max())
    integral = src.dtype.kind in "iu" or _integral(src)
    if integral and high - low < 1 << 16:
        values = np.arange(low, high + 1)
        lut, index = code_of(values), lambda slab: slab.astype(np.int64) - int(low)
        if src.dtype.kind in "iu" and np.array_equal(lut, values):
            return raw  # no pass at all
    else:  # wide or fractional values (NaN included): rare, sorted look-up
        values = np.unique(src)
        lut, index = code_of(values.astype(np.float64)), lambda slab: np.searchsorted(values, slab)
    out = np.empty(raw.shape, dtype=lut.dtype)
    dst = out.reshape(-1)
    for start in range(0, src.size, SLAB):
        np.take(lut, index(src[start : start + SLAB]), out=dst[start : start + SLAB], mode="clip")
    return out


def _integral(src: np.ndarray) -> bool:
    for start in range(0, src.size, SLAB):
        slab = src[start : start + SLAB]
        if not np.array_equal(slab, np.floor(slab)):  # NaN is never equal: not integral
            return False
    return True


# --- one file per label --------------------------------------------------------------------


def read_label_files(
    folder: str,
    declared: Sequence[str],
    keys: Sequence[str],
    image: Volume,
    limits: Limits,
    tolerance: float,
) -> Planes:
    """Each declared file of `folder` as a bit of the packed planes; `Rejected` when the
    folder or a file is missing, a file is unreadable or misaligned, or no file holds any
    foreground."""
    base = os.path.basename(folder.rstrip(os.sep))
    if not os.path.isdir(folder):
        raise Rejected("missing_mask", f"mask folder {base}/ does not exist")
    missing = [
        n for n in declared if not _plain_name(n) or not os.path.lexists(os.path.join(folder, n))
    ]
    if missing:
        shown = ", ".join(missing[:10]) + (", ..." if len(missing) > 10 else "")
        raise Rejected("missing_label_file", f"label files {shown} are not in {base}/")
    planes = _empty_planes(len(keys), image.shape)
    foreground = False
    for name in declared:
        mask = read_volume(os.path.join(folder, name), LABEL_FILE, limits, f"{base}/{name}")
        check_aligned(mask, image, LABEL_FILE, f"{base}/{name}", tolerance)
        voxels = _nonzero(mask)
        if name in keys:
            part = keys.index(name)
            plane = planes[part // BITS]
            np.bitwise_or(plane, plane.dtype.type(1 << (part % BITS)), out=plane, where=voxels)
        foreground = foreground or bool(voxels.any())
        del mask, voxels
    if not foreground:
        raise Rejected("empty_mask", f"no label file in {base}/ has any foreground")
    return Planes(planes, tuple(keys), bits=True)


def _plain_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and os.sep not in name and "/" not in name


def _empty_planes(parts: int, shape: tuple[int, int, int]) -> list[np.ndarray]:
    planes = []
    for first in range(0, parts, BITS):
        bits = min(BITS, parts - first)
        dtype = np.uint8 if bits <= 8 else np.uint16 if bits <= 16 else np.uint32
        planes.append(np.zeros(shape[::-1], dtype=dtype))
    return planes


def _nonzero(mask: Volume) -> np.ndarray:
    """A label file's foreground, C-ordered (k, j, i): its stored value is not 0."""
    raw = mask.data[:, :, :, 0].T
    if mask.scaled:
        return raw * mask.slope + mask.inter != 0
    return raw != 0


# --- after resampling -----------------------------------------------------------------------


def part_crops(planes: Planes, grid: Grid) -> dict[str, Crop | None]:
    """Each part resampled onto `grid` (nearest), as its box and the bool crop of it;
    None for a part with no voxel left."""
    crops: list[Crop | None] = []
    for number, plane in enumerate(planes.planes):
        view = resample(plane, grid, linear=False)
        if planes.bits:
            crops += _bit_crops(view, min(BITS, len(planes.keys) - number * BITS))
        else:
            crops += _index_crops(view, len(planes.keys))
        del view
    return dict(zip(planes.keys, crops))


def _index_crops(view: np.ndarray, count: int) -> list[Crop | None]:
    boxes = ndimage.find_objects(view, max_label=count)  # one pass for every part's box
    return [
        None if box is None else ((box[0], box[1], box[2]), view[box] == code)
        for code, box in enumerate(boxes, 1)
    ]


def _bit_crops(view: np.ndarray, count: int) -> list[Crop | None]:
    # per axis, the OR of every slice: where each bit occurs along it, in three passes
    spans = [
        np.bitwise_or.reduce(view, axis=tuple(a for a in range(3) if a != axis))
        for axis in range(3)
    ]
    crops: list[Crop | None] = []
    for bit in range(count):
        flag = view.dtype.type(1 << bit)
        hits = [np.flatnonzero(span & flag) for span in spans]
        if any(hit.size == 0 for hit in hits):
            crops.append(None)
            continue
        box = tuple(slice(int(h[0]), int(h[-1]) + 1) for h in hits)
        crops.append(((box[0], box[1], box[2]), (view[box] & flag) != 0))
    return crops


def label_crops(
    parts: dict[str, Crop | None], labels: Sequence[Sequence[str]]
) -> list[Crop | None]:
    """Each final label as the union of its parts' crops (its own box), or None when
    every part is empty."""
    result: list[Crop | None] = []
    for keys in labels:
        found = [crop for key in keys if (crop := parts[key]) is not None]
        if len(found) <= 1:
            result.append(found[0] if found else None)
            continue
        box = _union_box([b for b, _ in found])
        canvas = np.zeros([s.stop - s.start for s in box], dtype=bool)
        for part_box, part in found:
            at = tuple(slice(p.start - u.start, p.stop - u.start) for p, u in zip(part_box, box))
            canvas[at] |= part
        result.append((box, canvas))
    return result
