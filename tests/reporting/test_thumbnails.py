"""Thumbnail sheet and its dataset."""

from __future__ import annotations

import base64
import io

import pandas as pd
import pytest
from kedro.io import DatasetError
from PIL import Image

from unimed_kedro.datasets import PngDataset
from unimed_kedro.reporting.thumbnails import Tile, pick_samples, thumbnail_sheet


def test_pick_is_per_source_and_independent_of_row_order(samples):
    picked = pick_samples(samples, 2, 42)
    assert picked.groupby("source").size().to_dict() == {"chexpert": 2, "nih": 2}
    shuffled = samples.sample(frac=1, random_state=1)
    assert list(pick_samples(shuffled, 2, 42)["sample_id"]) == list(picked["sample_id"])
    # adding a sample never moves more than one earlier pick out
    extra = samples.iloc[[0]].assign(sample_id="chexpert-p7_s1")
    more = pd.concat([samples, extra], ignore_index=True)
    assert len(set(pick_samples(more, 2, 42)["sample_id"]) & set(picked["sample_id"])) >= 3


def test_sheet_grid_size_and_determinism(jpeg):
    rows = [
        [Tile(jpeg, "chexpert-p1_s1", "chexpert · train", "A long caption " * 20)] * 3,
        [Tile(jpeg, "nih-00000001_000", "nih · test", "Short.")],
    ]
    sheet = thumbnail_sheet(rows, side=100, caption_lines=3)
    assert sheet == thumbnail_sheet(rows, side=100, caption_lines=3)
    image = Image.open(io.BytesIO(sheet))
    assert image.format == "PNG" and image.width == 8 + 3 * 108
    assert image.height == 8 + 2 * (100 + 8 + 5 * 15 + 8)
    assert not image.info  # no text chunks or timestamps


def test_png_dataset_saves_bytes_unchanged_and_previews(tmp_path, jpeg):
    sheet = thumbnail_sheet([[Tile(jpeg, "a", "b", "c")]], side=64)
    dataset = PngDataset(filepath=str(tmp_path / "out" / "sheet.png"))
    assert not dataset.exists()
    dataset.save(sheet)
    assert dataset.load() == sheet and dataset.exists()
    assert base64.b64decode(dataset.preview()) == sheet
    with pytest.raises(DatasetError, match="not a PNG"):
        dataset.save(jpeg)


def test_png_dataset_preview_type_is_an_image_for_kedro_viz():
    # kedro-viz picks the preview renderer from the return annotation's name
    assert str(PngDataset.preview.__annotations__["return"]).endswith("ImagePreview")
