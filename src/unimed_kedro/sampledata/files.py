"""How every sample-data writer writes a file: the same bytes for the same seed, and an
unchanged file left alone, so its mtime (part of ingest's read memo key and of the
normalize chunk fingerprints) survives a regeneration and a second build rebuilds
nothing."""

from __future__ import annotations

import csv
import functools
import importlib.util
import io
from pathlib import Path

import numpy as np
from PIL import Image


def write_bytes(path: Path, data: bytes) -> None:
    if path.is_file() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    """A CSV with a header and `\\n` line ends."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_bytes(path, buffer.getvalue().encode())


def encoded(img: Image.Image, fmt: str) -> bytes:
    """The image as JPEG (quality 85) or PNG (best compression), bytes fixed by pixels."""
    buffer = io.BytesIO()
    if fmt == "JPEG":
        img.save(buffer, format="JPEG", quality=85)
    else:
        img.save(buffer, format="PNG", compress_level=9)
    return buffer.getvalue()


@functools.cache
def package_image(package: str, name: str) -> Image.Image:
    """An image file an installed PyPI package ships (scikit-image's `data/retina.jpg`,
    a real fundus photograph, and `data/ihc.png`, a real immunohistochemistry slide), read
    without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"the sample data needs the {package!r} package's files")
    folder = Path(next(iter(spec.submodule_search_locations)))
    with Image.open(folder / name) as img:
        return img.convert("RGB")


def real_crop(
    base: Image.Image, rng: np.random.Generator, size: int, fractions: tuple[float, float]
) -> Image.Image:
    """A square crop of `base` (its side a seeded fraction of the shorter side, at a seeded
    place), resized to `size`, each channel's tone nudged: real pixels, a distinct image
    every call."""
    side = int(min(base.size) * rng.uniform(*fractions))
    x0 = int(rng.integers(0, base.width - side + 1))
    y0 = int(rng.integers(0, base.height - side + 1))
    crop = base.resize((size, size), Image.Resampling.BILINEAR, box=(x0, y0, x0 + side, y0 + side))
    gains = rng.uniform(0.9, 1.1, size=3)
    pixels = np.asarray(crop, dtype=np.float32) * gains
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
