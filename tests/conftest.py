"""Shared fixtures: the project's own configuration and small images made on the fly."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

PROJECT = Path(__file__).resolve().parents[1]
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")


def load_conf(name: str) -> dict:
    return yaml.safe_load((PROJECT / "conf" / "base" / name).read_text())


@pytest.fixture(scope="session")
def vocabulary() -> dict:
    return load_conf("cxr/parameters.yml")["cxr"]["vocabulary"]


@pytest.fixture(scope="session")
def cxr_params() -> dict:
    return load_conf("cxr/parameters.yml")["cxr"]


def source_infos(names: list[str]) -> dict[str, dict]:
    """The `sources` table ingest writes, for the named registered sources."""
    from unimed_kedro.sources.registry import entry

    return {
        name: {
            **entry(name).reader_class().info.as_dict(),
            "folder": entry(name).folder,
            "present": True,
        }
        for name in names
    }


CXR_SOURCES = ["chexpert", "nih", "mimic", "openi"]


def radiograph(width: int = 400, height: int = 480, seed: int = 0) -> np.ndarray:
    """A chest-film-like 8-bit array: dark background, two bright lung-field ellipses."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.full((height, width), 40.0)
    for cx in (0.3, 0.7):
        inside = ((xx - cx * width) / (0.18 * width)) ** 2 + (
            (yy - 0.5 * height) / (0.35 * height)
        ) ** 2 < 1
        image[inside] = 170
    image += rng.normal(0, 12, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def encode(array: np.ndarray, fmt: str = "JPEG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def tree_digests(root: Path) -> dict[str, str]:
    """sha256 of every file under `root`, by its path inside it."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def run_rows(job, out: Path) -> list[dict]:
    """Run an engine job and return every task's rows, in task order."""
    from unimed_kedro.engine.jobs import job_rows, run_job

    run_job(job, out)
    return [row for rows in job_rows(job, out) for row in rows]
