"""Intensity normalisation by modality, as SAT-DS's loader does: CT clipped to a fixed HU
window, MRI and PET to the volume's own percentiles, then z-scored over the stored
volume (after any foreground crop).

Statistics are taken in float64 over fixed-size slabs (two passes: mean, then the squared
deviations), so they are exact enough and the same on every run without a float64 copy
of the volume; the arithmetic on voxels stays float32, in place. A constant volume (or
one constant after clipping) gives zeros, never NaN.
"""

from __future__ import annotations

import numpy as np

SLAB = 1 << 21  # voxels per statistics slab: 16 MB of float64 at a time
CT = "CT"


def finite(data: np.ndarray) -> np.ndarray:
    """`data` without NaN or infinity (float files only): NaN and -inf become the lowest
    finite value, +inf the highest, so they neither spread through interpolation nor reach
    the statistics. Integer arrays, and float ones without any, come back as they are."""
    if data.dtype.kind != "f" or np.isfinite(data).all():
        return data
    good = data[np.isfinite(data)]
    low, high = (float(good.min()), float(good.max())) if good.size else (0.0, 0.0)
    return np.nan_to_num(data, nan=low, posinf=high, neginf=low)


def clip_bounds(
    values: np.ndarray,
    modality: str,
    ct_window: tuple[float, float],
    percentiles: tuple[float, float],
) -> tuple[float, float]:
    """(low, high) to clip to: the CT window, else the `percentiles` of `values`."""
    if modality == CT:
        return float(ct_window[0]), float(ct_window[1])
    low, high = np.percentile(values, percentiles)
    return float(low), float(high)


def moments(values: np.ndarray) -> tuple[float, float]:
    """Mean and (population) standard deviation of `values`, in float64."""
    flat = values.reshape(-1)
    total = 0.0
    for start in range(0, flat.size, SLAB):
        total += float(np.sum(flat[start : start + SLAB], dtype=np.float64))
    mean = total / flat.size
    squares = 0.0
    for start in range(0, flat.size, SLAB):
        deviation = flat[start : start + SLAB].astype(np.float64)
        deviation -= mean
        np.square(deviation, out=deviation)  # not BLAS's dot: its sum order varies by threads
        squares += float(deviation.sum())
    return mean, float(np.sqrt(squares / flat.size))


def clip_and_standardize(values: np.ndarray, low: float, high: float) -> tuple[float, float]:
    """In place: clip a writable float32 array to [low, high], then z-score it over all of
    its voxels (zeros when its deviation is 0). Returns the (mean, std) used."""
    np.clip(values, np.float32(low), np.float32(high), out=values)
    mean, std = moments(values)
    if not std > 0:
        values.fill(0)
        return mean, 0.0
    values -= np.float32(mean)
    values *= np.float32(1.0 / std)
    return mean, std
