"""SAT-DS's formats: one JSON line per sample with the keys of SAT-DS's `processor.py`
(`image`, `mask`, `label`, `modality`, `dataset`, `official_split`, `patient_id`) and of its
`convert_to_npy.py` (`sample_id`, `renorm_image`, `chwd`, `renorm_segmentation_dir`,
`renorm_y1x1z1_y2x2z2`, `roi_y1x1z1_y2x2z2`), plus `spacing`, `affine`, `license` and, for
one channel of a multi-channel image, `channel`; and the split JSON
(`{"train": [...], "val": [], "test": [...]}` of patient ids) its `train_test_split.py`
reads; and the file name of a label's mask in a `renorm_segmentation_dir`. Keys keep the
order they are given in and lines the order of the rows, so reruns give the same bytes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

SPLIT_NAMES = ("train", "val", "test")
_UNSAFE = re.compile(r"[^A-Za-z0-9 _()-]")


def label_file_name(label: str) -> str:
    """The file a label's cropped mask is stored in: `<label>.npy`, every character other
    than an ASCII letter, digit, space, `-`, `_`, `(` or `)` replaced by `_`."""
    return _UNSAFE.sub("_", label) + ".npy"


def jsonl(lines: Iterable[Mapping[str, Any]]) -> str:
    """JSON Lines text: compact, non-ASCII kept, one object per line."""
    return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)


def split_json(patients: Mapping[str, Iterable[str]]) -> str:
    """The split JSON of one dataset: sorted, unique patient ids per split."""
    data = {split: sorted(set(patients.get(split, ()))) for split in SPLIT_NAMES}
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"
