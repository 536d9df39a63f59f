"""Decode any radiograph file into an 8-bit image, no larger than needed.

JPEGs are decoded at reduced size through libjpeg's DCT scaling (`Image.draft`) when the
target is at most half the original; 16-bit and float images are windowed to 8 bits with
numpy; palette, alpha and CMYK images are flattened to the requested colour mode.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

HIGH_DEPTH_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


def draft_size(size: tuple[int, int], short_side: int) -> tuple[int, int]:
    """Smallest (w, h) whose shorter side is still >= `short_side` at the original ratio."""
    width, height = size
    scale = short_side / min(width, height)
    return math.ceil(width * scale), math.ceil(height * scale)


def open_image(data: bytes, *, short_side: int, mode: str) -> tuple[Image.Image, dict]:
    """Decode `data`; returns the image (mode `L` or `RGB`) and what the original was."""
    image = Image.open(io.BytesIO(data))
    original = {
        "orig_width": image.width,
        "orig_height": image.height,
        "orig_mode": image.mode,
        "orig_format": image.format,
    }
    if image.format == "JPEG" and min(image.size) > short_side:
        image.draft(
            mode if image.mode in ("L", "RGB") else None, draft_size(image.size, short_side)
        )
    image.load()
    return to_mode(image, mode), original


def to_mode(image: Image.Image, mode: str) -> Image.Image:
    if image.mode in HIGH_DEPTH_MODES:
        image = window_to_8bit(image)
    if image.mode in ("P", "PA", "LA", "RGBA", "CMYK", "1", "YCbCr", "LAB", "HSV"):
        image = image.convert("RGB" if mode == "RGB" else "L")
    return image if image.mode == mode else image.convert(mode)


def window_to_8bit(image: Image.Image, low_pct: float = 0.5, high_pct: float = 99.5) -> Image.Image:
    """Map the robust intensity range of a 16-bit/float image onto 0..255."""
    array = np.asarray(image)
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("="))
    sample = array[:: max(1, array.shape[0] // 256), :: max(1, array.shape[1] // 256)]
    low, high = np.percentile(sample, [low_pct, high_pct])
    if high <= low:
        high = low + 1
    scaled = (array.astype(np.float32) - np.float32(low)) * np.float32(255.0 / (high - low))
    return Image.fromarray(np.clip(scaled, 0, 255).astype(np.uint8), mode="L")
