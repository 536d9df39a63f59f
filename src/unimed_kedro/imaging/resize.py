"""Shorter side to `image_size`, never upscaling.

Integer factors go through `Image.reduce` (an exact box average, i.e. area downsampling,
and 5-10x cheaper than LANCZOS on a full-size film); the remaining factor below 2 uses the
configured filter.
"""

from __future__ import annotations

from PIL import Image

FILTERS = {
    "lanczos": Image.Resampling.LANCZOS,
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "box": Image.Resampling.BOX,
}


def target_size(size: tuple[int, int], short_side: int) -> tuple[int, int]:
    width, height = size
    if min(width, height) <= short_side:
        return width, height
    scale = short_side / min(width, height)
    if width <= height:
        return short_side, max(1, round(height * scale))
    return max(1, round(width * scale)), short_side


def resize_short_side(
    image: Image.Image, short_side: int, resample: str = "lanczos"
) -> Image.Image:
    target = target_size(image.size, short_side)
    if target == image.size:
        return image
    factor = int(min(image.width / target[0], image.height / target[1]))
    if factor >= 2:
        image = image.reduce(factor)
    if image.size == target:
        return image
    return image.resize(target, FILTERS[resample])
