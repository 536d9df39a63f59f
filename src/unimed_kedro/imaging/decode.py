"""Decode any radiograph file into an 8-bit image, no larger than needed.

The header is read first: an image whose declared size breaks the pixel or aspect limits
is refused before a single pixel is decoded (Pillow's own `Image.MAX_IMAGE_PIXELS` is
global, only warns up to twice its value, and knows nothing of a run's params). JPEGs are
decoded at reduced size through libjpeg's DCT scaling (`Image.draft`) when the target is
at most half the original; 16-bit and float images are windowed to 8 bits with numpy;
palette, alpha and CMYK images are flattened to the requested colour mode.
"""

from __future__ import annotations

import io
import math
import re
import warnings

import numpy as np
from PIL import Image

from unimed_kedro.imaging import quality

HIGH_DEPTH_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
# Raster formats images are distributed in; any other file is undecodable (`corrupt_image`).
# Not every format Pillow knows: its EPS reader, for one, runs Ghostscript on the file.
READ_FORMATS = ("JPEG", "PNG", "TIFF", "BMP", "JPEG2000", "WEBP", "PPM", "GIF")


class Rejected(Exception):
    """A file refused by a validation rule before it was decoded."""

    def __init__(self, reason: str, detail: str):
        super().__init__(reason, detail)
        self.reason, self.detail = reason, detail


def draft_size(size: tuple[int, int], short_side: int) -> tuple[int, int]:
    """Smallest (w, h) whose shorter side is still >= `short_side` at the original ratio."""
    width, height = size
    scale = short_side / min(width, height)
    return math.ceil(width * scale), math.ceil(height * scale)


def open_header(data: bytes, limits: dict | None = None) -> Image.Image:
    """The image with only its header read; `Rejected` when the size it declares breaks
    `limits` (`max_pixels`, `max_aspect_ratio`)."""
    limits = {**quality.DEFAULTS, **(limits or {})}
    with warnings.catch_warnings():  # the run's own pixel limit decides, below
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=READ_FORMATS)
        except Image.DecompressionBombError as err:  # past twice Pillow's own limit
            found = re.search(r"\((\d+) pixels\)", str(err))
            pixels = found.group(1) if found else f"more than {2 * (Image.MAX_IMAGE_PIXELS or 0)}"
            raise Rejected(
                "too_large",
                f"{pixels} pixels, expected <= {limits['max_pixels']} pixels (max_pixels)",
            ) from None
    failed = quality.check_header(image.size, limits)
    if failed:
        raise Rejected(*failed)
    return image


def open_image(
    data: bytes, *, short_side: int, mode: str, limits: dict | None = None
) -> tuple[Image.Image, dict]:
    """Decode `data`; returns the image (mode `L` or `RGB`) and what the original was."""
    image = open_header(data, limits)
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
    """Map the robust intensity range of a 16-bit/float image onto 0..255. 16-bit pixels
    go through a 65,536-entry lookup table (no float copy of the image: at the pixel limit
    that copy alone would cost 4 bytes a pixel); others are scaled in place on one copy."""
    array = np.asarray(image)
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("="))
    sample = array[:: max(1, array.shape[0] // 256), :: max(1, array.shape[1] // 256)]
    low, high = np.percentile(sample, [low_pct, high_pct])
    if high <= low:
        high = low + 1
    if array.dtype == np.uint16:
        lut = _scale(np.arange(65536, dtype=np.float32), low, high)
        return Image.fromarray(lut[array], mode="L")
    return Image.fromarray(_scale(array.astype(np.float32), low, high), mode="L")


def _scale(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """float32 `values` (overwritten) mapped from low..high onto 0..255, as uint8."""
    values -= np.float32(low)
    values *= np.float32(255.0 / (high - low))
    np.clip(values, 0, 255, out=values)
    return values.astype(np.uint8)
