"""The TotalSegmentator layout: `sXXXX/ct.nii.gz` (`mri.nii.gz` in the MR release),
`sXXXX/segmentations/<structure>.nii.gz` (one binary mask per structure) and `meta.csv`
(`;`-separated, UTF-8 with a byte-order mark, a `split` column: train / val / test).

SAT-DS reads one folder as several datasets (organs, vertebrae, cardiac, ...): each is an
entry naming its `structures`, all sharing the folder's patients (`patient_group`). A
structure file missing from a case is found by the normalize worker
(`missing_label_file`); this reader only lists the case.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable
from typing import Any

from unimed_kedro.sources.base import LayoutError
from unimed_kedro.sources.segmentation.base import Channel, Labels, SegmentationSource

META = "meta.csv"
IMAGES = ("ct.nii.gz", "mri.nii.gz")
_CASE = re.compile(r"s\d+")
# TotalSegmentator's `val` is training data to SAT-DS; a case meta.csv omits has no split
SPLITS = {"train": "train", "val": "train", "test": "test"}


class TotalSegmentator(SegmentationSource):
    """Entry options: `structures` ({file stem: label name}), `modality`."""

    def layout(self) -> dict[str, str | None]:
        structures = self.options.get("structures")
        if not isinstance(structures, dict) or not structures:
            raise LayoutError(f"{self.source.name}: the entry needs `structures` (stem: name)")
        cases = sorted(n for n in os.listdir(self.root) if _CASE.fullmatch(n))
        if not cases:
            raise LayoutError(f"{self.root}: expected case folders sXXXX/ (TotalSegmentator)")
        splits = self._splits()
        return {case: splits.get(case) for case in cases}

    def _splits(self) -> dict[str, str | None]:
        """Case -> official split, from meta.csv (absent: every split unknown)."""
        path = self.root / META
        if not path.is_file():
            return {}
        text = path.read_bytes().decode("utf-8-sig", errors="replace")
        rows = csv.DictReader(io.StringIO(text), delimiter=";")
        if not rows.fieldnames or not {"image_id", "split"} <= set(rows.fieldnames):
            raise LayoutError(f"{path}: expected `;`-separated columns image_id and split")
        found: dict[str, str | None] = {}
        for line, row in enumerate(rows, start=2):
            split = SPLITS.get((row.get("split") or "").strip())
            if split is None:
                detail = f"split {row.get('split')!r}: expected one of {sorted(SPLITS)}"
                self.rejects.correct("unknown_split", detail, file=META, row=line)
            found[(row.get("image_id") or "").strip()] = split
        return found

    def records(self, layout: Any) -> Iterable[dict]:
        stems: dict = self.options["structures"]
        labels = Labels.of_files({f"{stem}.nii.gz": str(name) for stem, name in stems.items()})
        modality = self.modality("CT") or "CT"
        for case, split in layout.items():
            image = next(
                (f"{case}/{n}" for n in IMAGES if (self.root / case / n).is_file()),
                f"{case}/{IMAGES[0]}",
            )
            where = {"file": META if split else case, "row": None}
            yield from self.case_records(
                case,
                image,
                f"{case}/segmentations",
                labels,
                [Channel(None, None, modality)],
                split=split,
                where=where,
                mask_reason="missing_mask",
            )
