"""Overlay PNGs: three planes side by side over a legend, each label in its colour, the
same bytes every time; masks rebuilt from the store as SAT-DS's loader_npy does."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from tests.volumes import affine, make_item, run, save_nifti, sphere
from unimed_kedro.volumes.options import VolumeOptions
from unimed_kedro.volumes.overlay import (
    ALPHA,
    LEGEND_ROW,
    centre_slice,
    colour,
    masks_from_store,
    overlay_png,
)

SHAPE = (40, 36, 20)


def _scene() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    image = np.zeros((1, *SHAPE), dtype=np.float32)
    liver = sphere(SHAPE, (12, 14, 8), 5)
    spleen = sphere(SHAPE, (28, 20, 12), 4)
    return image, {"liver": liver, "spleen": spleen}


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_png_size_bytes_and_colours():
    image, masks = _scene()
    png = overlay_png(image, masks, size=128)
    assert png == overlay_png(image, masks, size=128)
    picture = Image.open(io.BytesIO(png))
    assert picture.format == "PNG" and picture.size == (3 * 128, 128 + LEGEND_ROW + 4)
    pixels = _pixels(png).reshape(-1, 3)
    found = {tuple(p) for p in pixels}
    for number in range(2):
        assert colour(number) in found  # the legend's swatch
        blended = tuple(int(round(ALPHA * c)) for c in colour(number))  # over black
        assert blended in found  # the mask on the (constant, black) image
    # more labels: more legend rows
    many = {f"label {n}": masks["liver"] for n in range(7)}
    assert Image.open(io.BytesIO(overlay_png(image, many, size=64))).size == (
        192,
        64 + 3 * LEGEND_ROW + 4,
    )


def test_slices_cut_the_foreground_and_spacing_sets_the_aspect():
    image, masks = _scene()
    union = masks["liver"] | masks["spleen"]
    for axis in range(3):
        index = centre_slice(union, axis)
        assert np.take(union, index, axis=axis).any()
    assert centre_slice(np.zeros(SHAPE, dtype=bool), 2) == SHAPE[2] // 2
    # the coronal panel (x across, z up) at its physical aspect: 40 x 20 voxels of 1 mm
    # fill half its tile's height; of 1 x 3 mm, all of it (60 mm tall, 40 mm wide)
    noise = np.random.default_rng(0).uniform(1, 2, (1, *SHAPE)).astype(np.float32)

    def coronal_rows(spacing) -> int:
        panel = _pixels(overlay_png(noise, {}, size=96, spacing=spacing))[:96, 96:192]
        return int(panel[:, 60:90].any(axis=(1, 2)).sum())  # right of the plane's name

    assert coronal_rows((1, 1, 1)) == 48 and coronal_rows((1, 1, 3)) == 96


def test_masks_from_store_rebuild_the_full_masks(tmp_path):
    image, masks = _scene()
    seg = masks["liver"].astype(np.uint8) + 2 * (masks["spleen"] & ~masks["liver"])
    data = np.where(seg > 0, 300, -300).astype(np.int16)
    item = make_item(
        save_nifti(tmp_path / "ct.nii.gz", data, affine()),
        save_nifti(tmp_path / "seg.nii.gz", seg.astype(np.uint8), affine()),
        labels=("liver", "spleen", "empty"),
        declared=("1", "2", "3"),
        parts=(("1",), ("2",), ("3",)),
    )
    (row,) = run([item], tmp_path / "out", VolumeOptions(spacing=(1.0, 1.0, 1.0)))
    full = masks_from_store(tmp_path / "out", row, ["liver", "spleen", "empty"])
    assert np.array_equal(full["liver"], masks["liver"])
    assert np.array_equal(full["spleen"], masks["spleen"] & ~masks["liver"])
    assert full["empty"].shape == SHAPE and not full["empty"].any()
    stored = np.load(tmp_path / "out" / row["renorm_image"])
    png = overlay_png(stored, full)
    assert Image.open(io.BytesIO(png)).size == (768, 256 + LEGEND_ROW + 4)
