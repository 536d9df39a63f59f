"""The normalize stage's settings, checked once when the stage is planned.

A wrong value (`image_size=abc`, `quality=200`, `format=gif`, `chunk_size=0`, an unknown
threshold) stops the run there with a message naming the parameter, instead of reaching
the workers, where it would turn every image into a reject.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from unimed_kedro.imaging import quality
from unimed_kedro.imaging.resize import FILTERS

# encoder name and file extension of each output format
FORMATS = {"jpeg": ("JPEG", "jpg"), "webp": ("WEBP", "webp"), "png": ("PNG", "png")}
COLOR_MODES = ("L", "RGB")
# threshold -> (check, what it expects)
_INT, _NUMBER = (int,), (int, float)
THRESHOLDS: dict[str, tuple[tuple[type, ...], float, float | None]] = {
    "min_side": (_INT, 1, None),
    "min_bytes": (_INT, 0, None),
    "max_bytes": (_INT, 1, None),
    "min_std": (_NUMBER, 0, None),
    "min_dynamic_range": (_INT, 0, 255),
    "max_pixels": (_INT, 1, None),
    "max_aspect_ratio": (_NUMBER, 1, None),
}


# the settings of the stage; `collection` only names them in messages
KEYS = {
    "image_size",
    "quality",
    "format",
    "color_mode",
    "resample",
    "chunk_size",
    "validation",
    "allow_symlinks",
    "collection",
}


@dataclass(frozen=True)
class NormalizeOptions:
    """`<collection>.normalize` params, typed and checked (`from_params`)."""

    image_size: int
    quality: int = 95
    format: str = "jpeg"
    color_mode: str = "L"
    resample: str = "lanczos"
    chunk_size: int = 64
    validation: dict = field(default_factory=dict)
    allow_symlinks: bool = False

    @classmethod
    def from_params(cls, params: Mapping[str, Any], where: str = "normalize") -> NormalizeOptions:
        """Checked options; `ValueError` naming `<where>.<key>` for the first bad value."""
        if not isinstance(params, Mapping):
            raise ValueError(f"{where}: expected a mapping of settings, got {params!r}")
        unknown = sorted(set(params) - KEYS)
        if unknown:
            raise ValueError(f"{where}.{unknown[0]}: unknown setting; known: {sorted(KEYS)}")
        if "image_size" not in params:
            raise ValueError(f"{where}.image_size: missing (the shorter side after resizing)")
        return cls(
            image_size=_integer(params["image_size"], f"{where}.image_size", 1),
            quality=_integer(params.get("quality", 95), f"{where}.quality", 1, 100),
            format=_choice(params.get("format", "jpeg"), f"{where}.format", FORMATS),
            color_mode=_choice(params.get("color_mode", "L"), f"{where}.color_mode", COLOR_MODES),
            resample=_choice(params.get("resample", "lanczos"), f"{where}.resample", FILTERS),
            chunk_size=_integer(params.get("chunk_size", 64), f"{where}.chunk_size", 1),
            validation=_validation(params.get("validation") or {}, f"{where}.validation"),
            allow_symlinks=_flag(params.get("allow_symlinks", False), f"{where}.allow_symlinks"),
        )

    def thresholds(self, source: str) -> dict:
        return quality.thresholds(self.validation, source)

    @property
    def encoder(self) -> tuple[str, str]:
        """Pillow's format name and the file extension of stored images."""
        return FORMATS[self.format]

    def encoding(self) -> dict:
        """What decides a stored image's bytes, besides the raw file and the code."""
        return {
            "image_size": self.image_size,
            "quality": self.quality,
            "format": self.format,
            "color_mode": self.color_mode,
            "resample": self.resample,
        }

    def checks(self) -> dict:
        """What decides whether an image is kept, besides its bytes."""
        return {"validation": self.validation, "allow_symlinks": self.allow_symlinks}


def _integer(value: Any, name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not _within(value, low, high):
        raise ValueError(f"{name}: expected {_expected('an integer', low, high)}, got {value!r}")
    return value


def _expected(kind: str, low: float, high: float | None) -> str:
    if high is not None:
        return f"{kind} from {low} to {high}"
    if kind == "an integer" and low in (0, 1):
        return "a positive integer" if low == 1 else "a non-negative integer"
    return f"{kind} >= {low}"


def _within(value: float, low: float, high: float | None) -> bool:
    return value >= low and (high is None or value <= high)


def _choice(value: Any, name: str, choices) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name}: expected one of {sorted(choices)}, got {value!r}")
    return value


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name}: expected true or false, got {value!r}")
    return value


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


def _limits(limits: Any, name: str) -> dict:
    if not isinstance(limits, Mapping):
        raise ValueError(f"{name}: expected a mapping of thresholds, got {limits!r}")
    for key, value in limits.items():
        if key not in THRESHOLDS:
            raise ValueError(f"{name}.{key}: unknown threshold; known: {sorted(THRESHOLDS)}")
        kinds, low, high = THRESHOLDS[key]
        number = None if isinstance(value, bool) or not isinstance(value, kinds) else value
        if not isinstance(number, (int, float)) or not _within(number, low, high):
            kind = "an integer" if kinds == _INT else "a number"
            raise ValueError(f"{name}.{key}: expected {_expected(kind, low, high)}, got {value!r}")
    return dict(limits)
