"""The normalize stage's settings, checked once when the stage is planned.

A wrong value (`image_size=abc`, `quality=200`, `format=gif`, `chunk_size=0`, an unknown
threshold) stops the run there with a message naming the parameter, instead of reaching
the workers, where it would turn every image into a reject.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from unimed_kedro.imaging import quality
from unimed_kedro.imaging.resize import FILTERS
from unimed_kedro.schema.options import Options, choice, flag, integer, number, setting

# encoder name and file extension of each output format
FORMATS = {"jpeg": ("JPEG", "jpg"), "webp": ("WEBP", "webp"), "png": ("PNG", "png")}
COLOR_MODES = ("L", "RGB")
# validation threshold -> its check
THRESHOLDS = {
    "min_side": integer(1),
    "min_bytes": integer(0),
    "max_bytes": integer(1),
    "min_std": number(0),
    "min_dynamic_range": integer(0, 255),
    "max_pixels": integer(1),
    "max_aspect_ratio": number(1),
}


def _validation(validation: Any, name: str) -> dict:
    """`{default: {...}, per_source: {source: {...}}}` with every threshold checked."""
    if not isinstance(validation, Mapping) or set(validation) - {"default", "per_source"}:
        raise ValueError(f"{name}: expected keys 'default' and 'per_source', got {validation!r}")
    per_source = validation.get("per_source") or {}
    if not isinstance(per_source, Mapping):
        raise ValueError(f"{name}.per_source: expected a mapping by source, got {per_source!r}")
    checked = {
        "default": _limits(validation.get("default") or {}, f"{name}.default"),
        "per_source": {
            str(source): _limits(limits or {}, f"{name}.per_source.{source}")
            for source, limits in per_source.items()
        },
    }
    for source in ["", *checked["per_source"]]:
        limits = quality.thresholds(checked, source)
        if limits["min_bytes"] > limits["max_bytes"]:
            where = f"{name}.per_source.{source}" if source else f"{name}.default"
            raise ValueError(
                f"{where}: min_bytes {limits['min_bytes']} is above max_bytes {limits['max_bytes']}"
            )
    return checked


def _modes(value: Any, name: str) -> dict:
    """{source: colour mode}: sources stored in another mode than `color_mode`."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{name}: expected a mapping of source -> L or RGB, got {value!r}")
    return {str(k): choice(COLOR_MODES)(v, f"{name}.{k}") for k, v in value.items()}


def _limits(limits: Any, name: str) -> dict:
    if not isinstance(limits, Mapping):
        raise ValueError(f"{name}: expected a mapping of thresholds, got {limits!r}")
    for key, value in limits.items():
        if key not in THRESHOLDS:
            raise ValueError(f"{name}.{key}: unknown threshold; known: {sorted(THRESHOLDS)}")
        THRESHOLDS[key](value, f"{name}.{key}")
    return dict(limits)


@dataclass(frozen=True)
class NormalizeOptions(Options):
    """`<collection>.normalize` params, typed and checked (`from_params`). `allow_symlinks`
    is the collection's `ingest.allow_symlinks` (one setting for ingest and the workers):
    the stage sets it (`stages/normalize/nodes.py`)."""

    SECTION = "normalize"
    image_size: int = setting(integer(1), missing="the shorter side after resizing")
    quality: int = setting(integer(1, 100), 95)
    format: str = setting(choice(FORMATS), "jpeg")
    color_mode: str = setting(choice(COLOR_MODES), "L")
    # pathology and fundus photographs keep their colour beside grayscale radiographs
    color_mode_per_source: dict = setting(_modes, {})
    resample: str = setting(choice(FILTERS), "lanczos")
    chunk_size: int = setting(integer(1), 64)
    validation: dict = setting(_validation, {})
    allow_symlinks: bool = setting(flag, False)

    def mode_of(self, source: str) -> str:
        return self.color_mode_per_source.get(source, self.color_mode)

    def thresholds(self, source: str) -> dict:
        return quality.thresholds(self.validation, source)

    @property
    def encoder(self) -> tuple[str, str]:
        """Pillow's format name and the file extension of stored images."""
        return FORMATS[self.format]

    def encoding(self) -> dict:
        """What decides a stored image's bytes, besides the raw file and the code."""
        encoding = {
            "image_size": self.image_size,
            "quality": self.quality,
            "format": self.format,
            "color_mode": self.color_mode,
            "resample": self.resample,
        }
        if self.color_mode_per_source:  # absent when unused: fingerprints stay as they were
            encoding["color_mode_per_source"] = self.color_mode_per_source
        return encoding

    def checks(self) -> dict:
        """What decides whether an image is kept, besides its bytes."""
        return {"validation": self.validation, "allow_symlinks": self.allow_symlinks}
