"""Overlay pictures of a stored 3D sample for the report: three orthogonal slices with
each label's mask in its own colour and a legend, as deterministic PNG bytes.

The slices are the array's axis-2, axis-1 and axis-0 planes (axial, coronal, sagittal
for a RAS-stored volume), each through the centre of the labels' foreground: the slice
where half the union's voxels lie on either side along that axis (so it always cuts the
foreground; the volume's centre when there is none). Slices are shown with the axis that
increases towards superior (or anterior, in the axial plane) pointing up and the patient's
right on the picture's right (RAS: the neurological view), at their physical aspect ratio
when the spacing is given. Grey levels are the volume's 0.5-99.5 percentile window.
Pillow's built-in bitmap font and no metadata: the same bytes on every machine.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from unimed_kedro.writers.satds import label_file_name

PALETTE = (
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 212),
    (0, 128, 128),
    (220, 190, 255),
    (170, 110, 40),
    (255, 250, 200),
    (128, 0, 0),
    (170, 255, 195),
    (128, 128, 0),
    (255, 215, 180),
    (0, 0, 128),
    (128, 128, 128),
)
ALPHA = 0.45  # a label's colour over the grey image
LEGEND_ROW, LEGEND_COLUMNS, SWATCH = 14, 3, 10
PLANES = (("axial", 2), ("coronal", 1), ("sagittal", 0))  # name, the axis held fixed


def colour(index: int) -> tuple[int, int, int]:
    """The colour of the `index`-th label (the palette repeats past 20 labels)."""
    return PALETTE[index % len(PALETTE)]


def overlay_png(
    image: np.ndarray,
    masks: dict[str, np.ndarray],
    *,
    size: int = 256,
    spacing: Sequence[float] | None = None,
) -> bytes:
    """PNG of three `size`x`size` panels side by side over a legend naming each label in
    its colour (`3 * size` wide, `size` + the legend's rows high). `image` is (1, H, W, D)
    or (H, W, D); each mask a bool array of shape (H, W, D); `spacing` in mm per axis
    (isotropic when None)."""
    volume = image[0] if image.ndim == 4 else image
    spacing = tuple(spacing) if spacing is not None else (1.0, 1.0, 1.0)
    grey = _window(volume)
    union = np.zeros(volume.shape, dtype=bool)
    for mask in masks.values():
        union |= mask
    centre = [centre_slice(union, axis) for axis in range(3)]
    names = list(masks)
    legend_rows = max(1, math.ceil(len(names) / LEGEND_COLUMNS))
    canvas = Image.new("RGB", (3 * size, size + legend_rows * LEGEND_ROW + 4))
    for number, (plane, axis) in enumerate(PLANES):
        panel = _panel(grey, [masks[n] for n in names], axis, centre[axis], spacing, size)
        canvas.paste(panel, (number * size, 0))
        ImageDraw.Draw(canvas).text(
            (number * size + 3, 2), plane, fill=(255, 255, 255), font=_font()
        )
    _legend(canvas, names, size)
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def _font() -> ImageFont.ImageFont:
    return ImageFont.load_default_imagefont()  # bitmap: no FreeType version in the pixels


def _window(volume: np.ndarray) -> np.ndarray:
    """The volume as uint8 grey levels, its 0.5-99.5 percentiles mapped to 0-255."""
    step = max(1, round((volume.size / 2_000_000) ** (1 / 3)))  # percentiles of a sample
    low, high = np.percentile(volume[::step, ::step, ::step], [0.5, 99.5])
    scale = 255.0 / (high - low) if high > low else 0.0
    return np.clip((volume - low) * scale, 0, 255).astype(np.uint8)


def centre_slice(union: np.ndarray, axis: int) -> int:
    """The slice along `axis` with half the foreground on either side (the middle slice
    when there is none)."""
    counts = union.sum(axis=tuple(a for a in range(3) if a != axis))
    total = int(counts.sum())
    if total == 0:
        return union.shape[axis] // 2
    return int(np.searchsorted(np.cumsum(counts), (total + 1) / 2))


def _slice(volume: np.ndarray, axis: int, index: int) -> np.ndarray:
    """The plane through `index` along `axis`, rows top to bottom: the other two axes with
    the later one pointing up (np.rot90 of the (earlier, later) plane)."""
    return np.rot90(np.take(volume, index, axis=axis))


def _panel(
    grey: np.ndarray,
    masks: list[np.ndarray],
    axis: int,
    index: int,
    spacing: Sequence[float],
    size: int,
) -> Image.Image:
    """One plane, grey with each mask blended in its colour, at its physical aspect, in
    the middle of a black `size`x`size` tile."""
    plane = _slice(grey, axis, index)
    rows_axis, cols_axis = [a for a in range(3) if a != axis][::-1]
    height, width = plane.shape[0] * spacing[rows_axis], plane.shape[1] * spacing[cols_axis]
    scale = size / max(height, width)
    shape = (max(1, round(width * scale)), max(1, round(height * scale)))
    rgb = np.asarray(
        Image.fromarray(plane).resize(shape, Image.Resampling.BILINEAR), dtype=np.float32
    )
    rgb = np.repeat(rgb[:, :, None], 3, axis=2)
    for number, mask in enumerate(masks):
        cut = Image.fromarray(_slice(mask, axis, index).astype(np.uint8) * 255)
        where = np.asarray(cut.resize(shape, Image.Resampling.NEAREST)) > 0
        rgb[where] = (1 - ALPHA) * rgb[where] + ALPHA * np.asarray(colour(number), dtype=np.float32)
    tile = Image.new("RGB", (size, size))
    tile.paste(
        Image.fromarray(np.round(rgb).astype(np.uint8)),
        ((size - shape[0]) // 2, (size - shape[1]) // 2),
    )
    return tile


def _legend(canvas: Image.Image, names: list[str], size: int) -> None:
    draw = ImageDraw.Draw(canvas)
    top = size + 2
    if not names:
        draw.text((4, top), "no label", fill=(200, 200, 200), font=_font())
    room = max(1, (size - SWATCH - 8) // 6)  # the bitmap font is 6 px a character
    for number, name in enumerate(names):
        x = (number % LEGEND_COLUMNS) * size + 4
        y = top + (number // LEGEND_COLUMNS) * LEGEND_ROW
        draw.rectangle((x, y + 1, x + SWATCH - 1, y + SWATCH), fill=colour(number))
        text = name.encode("latin-1", "replace").decode("latin-1")
        text = text if len(text) <= room else text[: room - 1] + "~"
        draw.text((x + SWATCH + 4, y), text, fill=(255, 255, 255), font=_font())


def masks_from_store(store_dir: Path, row: dict, labels: list[str]) -> dict[str, np.ndarray]:
    """Each label's full-size bool mask, rebuilt from its stored crop and box (as SAT-DS's
    `loader_npy.py` does): `row` holds `chwd`, `boxes` (JSON text or lists) and
    `renorm_segmentation_dir` (relative to `store_dir`); an empty label is all false."""
    chwd = _parsed(row["chwd"])
    boxes = _parsed(row["boxes"])
    folder = Path(store_dir) / row["renorm_segmentation_dir"]
    result = {}
    for label, box in zip(labels, boxes):
        full = np.zeros(chwd[1:], dtype=bool)
        if box is not False:
            crop = np.load(folder / label_file_name(label), allow_pickle=False)
            full[box[0] : box[3], box[1] : box[4], box[2] : box[5]] = crop
        result[label] = full
    return result


def _parsed(value: object) -> list:
    if isinstance(value, str):
        return json.loads(value)
    return list(value)  # type: ignore[call-overload]
