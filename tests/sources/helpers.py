"""Tiny hand-written source folders for adapter tests."""

from __future__ import annotations

import gzip
from pathlib import Path

from tests.conftest import encode, radiograph


def write_jpeg(path: Path, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode(radiograph(seed=seed)))


def write_png(path: Path, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode(radiograph(seed=seed), "PNG"))


def write_gz(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(path, "wb", mtime=0) as handle:
        handle.write(text.encode())
