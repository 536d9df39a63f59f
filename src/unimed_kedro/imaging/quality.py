"""Image validation: the downloader seed's checks, with thresholds from params per source.

Checks run cheapest-first. Before anything is decoded: the file size (from `fstat`, before
reading: `max_bytes`), then the pixel count and the aspect ratio (from the header, before
`load()`: `max_pixels`, `max_aspect_ratio`), so one hostile or odd file never costs more
memory than the limits allow. After the decode: resolution on the original size, contrast
on the histogram of the resized 8-bit image, then the lower file size bound. Each failed
check names the reason code that lands in the rejects table and the limit it broke.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

DEFAULTS = {
    "min_side": 256,
    "min_bytes": 0,
    "max_bytes": 50_000_000,
    "min_std": 4.0,
    "min_dynamic_range": 32,
    # pixels of one image: a worker peaks at ~350 MB on a 16-bit film at the limit
    "max_pixels": 40_000_000,
    "max_aspect_ratio": 10,
}


def thresholds(validation: dict, source: str) -> dict:
    """`validation.default` overlaid with `validation.per_source[source]`."""
    per_source = (validation.get("per_source") or {}).get(source) or {}
    return {**DEFAULTS, **(validation.get("default") or {}), **per_source}


def check_file_size(raw_bytes: int, limits: dict) -> tuple[str, str] | None:
    """The upper file size bound, checked on the size `fstat` reports, before reading."""
    if raw_bytes > limits["max_bytes"]:
        return "bad_file_size", _size_detail(raw_bytes, limits)
    return None


def check_header(size: tuple[int, int], limits: dict) -> tuple[str, str] | None:
    """Pixel count and aspect ratio of the size an image's header declares, before any
    pixel is decoded."""
    width, height = size
    pixels = width * height
    if pixels > limits["max_pixels"]:
        return "too_large", (
            f"{width}x{height} px = {pixels} pixels, expected <= {limits['max_pixels']} "
            "pixels (max_pixels)"
        )
    ratio = max(width, height) / max(1, min(width, height))
    if ratio > limits["max_aspect_ratio"]:
        return "extreme_aspect_ratio", (
            f"{width}x{height} px, aspect ratio {ratio:.1f}:1, expected <= "
            f"{limits['max_aspect_ratio']}:1 (max_aspect_ratio)"
        )
    return None


LEVELS = np.arange(256, dtype=np.float64)
# Contrast is measured on every 4th pixel of every 4th row (a nearest-neighbour sample,
# 16k pixels at 512 px): ~20x cheaper than a full histogram, which cost more than the
# JPEG encode, and the thresholds are far coarser than the sampling error.
SAMPLE_STEP, SAMPLE_MIN_SIDE = 4, 256


def _sample(image: Image.Image) -> Image.Image:
    width, height = image.size
    if min(width, height) < SAMPLE_MIN_SIDE:
        return image
    return image.resize((width // SAMPLE_STEP, height // SAMPLE_STEP), Image.Resampling.NEAREST)


def histogram_stats(image: Image.Image) -> tuple[float, int]:
    """Standard deviation and 1st-99th percentile spread of an 8-bit image's luminance,
    from the 256-bin histogram (C) of a pixel sample rather than from the pixels."""
    sample = _sample(image)
    hist = np.asarray(
        (sample if sample.mode == "L" else sample.convert("L")).histogram(), dtype=np.float64
    )
    total = hist.sum() or 1.0
    mean = hist @ LEVELS / total
    std = float(np.sqrt(hist @ (LEVELS - mean) ** 2 / total))
    cumulative = np.cumsum(hist)
    low, high = np.searchsorted(cumulative, [0.01 * total, 0.99 * total])
    return std, int(min(high, 255) - low)


def check(
    image: Image.Image, original: dict, raw_bytes: int, limits: dict
) -> tuple[str, str] | None:
    """None when the decoded image passes, else (reason, detail naming what was expected)."""
    short = min(original["orig_width"], original["orig_height"])
    if short < limits["min_side"]:
        return "too_small", (f"shorter side {short}px, expected >= {limits['min_side']}px")
    std, spread = histogram_stats(image)
    if std < limits["min_std"] or spread < limits["min_dynamic_range"]:
        return "low_contrast", (
            f"intensity std {std:.1f} / 1-99% range {spread}, expected "
            f">= {limits['min_std']} / >= {limits['min_dynamic_range']}"
        )
    if not limits["min_bytes"] <= raw_bytes <= limits["max_bytes"]:
        return "bad_file_size", _size_detail(raw_bytes, limits)
    return None


def _size_detail(raw_bytes: int, limits: dict) -> str:
    return f"{raw_bytes} bytes, expected {limits['min_bytes']}..{limits['max_bytes']}"
