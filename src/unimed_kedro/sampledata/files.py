"""How every sample-data writer writes a file: the same bytes for the same seed, and an
unchanged file left alone, so its mtime (part of ingest's read memo key and of the
normalize chunk fingerprints) survives a regeneration and a second build rebuilds
nothing."""

from __future__ import annotations

import csv
import io
from pathlib import Path

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
