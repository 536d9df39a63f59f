"""The 3D normalize settings (`<collection>.normalize`), typed and checked once where the
stage is planned.

YAML gives lists where the code wants tuples (`spacing: [1, 1, 3]`); each is converted
and checked here, so a wrong value (`spacing: [1, 0, 3]`, `orientation: RAA`,
`ct_window: [1000, -500]`) stops the run with a message naming
`<collection>.normalize.<key>` instead of turning every volume into a reject.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from unimed_kedro.schema.options import Options, flag, integer, number, setting

# each axis code and the axis (0: left-right, 1: posterior-anterior, 2: inferior-superior)
# it names, as nibabel's axcodes do
AXIS_OF = {"L": 0, "R": 0, "P": 1, "A": 1, "I": 2, "S": 2}


def axcodes(value: Any, where: str) -> str:
    """Three axis codes naming each anatomical axis once (`RAS`, `LPS`, `PSR`): the
    direction the stored array's axes 0, 1, 2 increase towards."""
    good = (
        isinstance(value, str)
        and len(value) == 3
        and set(value) <= set(AXIS_OF)
        and sorted(AXIS_OF[c] for c in value) == [0, 1, 2]
    )
    if not good:
        raise ValueError(
            f"{where}: expected three axis codes, one of L/R, P/A and I/S each "
            f"(e.g. 'RAS'), got {value!r}"
        )
    return value


def _numbers(
    count: int, low: float | None = None, *, positive: bool = False, rising: bool = False
) -> Any:
    """A list of `count` finite numbers (each > 0 when `positive`, >= `low`, strictly
    rising when `rising`), kept as a tuple of floats."""
    what = f"a list of {count} {'positive ' if positive else ''}numbers"
    if rising:
        what += ", low then high"

    def check(value: Any, where: str) -> tuple[float, ...]:
        if not isinstance(value, (list, tuple)) or len(value) != count:
            raise ValueError(f"{where}: expected {what}, got {value!r}")
        items = tuple(float(number(low)(v, f"{where}[{i}]")) for i, v in enumerate(value))
        bad = (positive and min(items) <= 0) or (rising and not items[0] < items[1])
        if bad or not all(math.isfinite(v) for v in items):
            raise ValueError(f"{where}: expected {what}, got {value!r}")
        return items

    return check


def _per_dataset_axcodes(value: Any, where: str) -> dict[str, str]:
    """{dataset: axis codes}: datasets whose arrays are stored in other axes than
    `orientation` (SAT-DS's loader: MRSpineSeg and VerSe `ASR`, ToothFairy `IPL`)."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected a mapping of dataset -> axis codes, got {value!r}")
    return {str(name): axcodes(codes, f"{where}.{name}") for name, codes in value.items()}


@dataclass(frozen=True)
class VolumeOptions(Options):
    """`<collection>.normalize` params of a 3D collection (`from_params`). Spacing is in mm
    along the stored array's axes 0, 1, 2 (after orientation); `orientation` is the default
    axis codes, `orientation_per_dataset` overrides them for named datasets."""

    SECTION = "normalize"
    spacing: tuple[float, float, float] = setting(_numbers(3, positive=True), (1.0, 1.0, 3.0))
    orientation: str = setting(axcodes, "RAS")
    orientation_per_dataset: dict = setting(_per_dataset_axcodes, {})
    crop_foreground: bool = setting(flag, False)
    ct_window: tuple[float, float] = setting(_numbers(2, rising=True), (-500.0, 1000.0))
    percentiles: tuple[float, float] = setting(_numbers(2, 0, rising=True), (0.5, 99.5))
    max_voxels: int = setting(integer(1), 1_000_000_000)
    max_bytes: int = setting(integer(1), 4 * 1024**3)
    affine_tolerance: float = setting(number(0), 0.01)
    chunk_size: int = setting(integer(1), 1)
    threads: int = setting(integer(1, 256), 1)

    def check(self, where: str) -> None:
        if self.percentiles[1] > 100:
            raise ValueError(
                f"{where}.percentiles: expected percentiles from 0 to 100, "
                f"got {list(self.percentiles)}"
            )

    def orientation_of(self, dataset: str) -> str:
        """The axis codes a dataset's arrays are stored in."""
        return self.orientation_per_dataset.get(dataset, self.orientation)

    def encoding(self) -> dict:
        """What decides the stored arrays' values, besides the raw files and the code (not
        the limits, which decide only which volumes are kept, nor the threads)."""
        return {
            "spacing": list(self.spacing),
            "orientation": self.orientation,
            "orientation_per_dataset": dict(sorted(self.orientation_per_dataset.items())),
            "crop_foreground": self.crop_foreground,
            "ct_window": list(self.ct_window),
            "percentiles": list(self.percentiles),
        }
