"""Generic image/mask pairs described by their entry: where images are, the rule giving
each image's mask, the label values and the modality. For datasets with no dataset.json
(AbdomenCT-1K's `Images/Case_00001_0000.nii.gz` and `Masks/Case_00001.nii.gz`, PROMISE12's
`Case00.mhd` and `Case00_segmentation.mhd`).

Templates are paths inside the folder with `{name}` fields (one path part's text, no `/`)
or `{name:regex}` fields; the mask and patient templates reuse the image's fields.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from typing import Any

from unimed_kedro.sources.base import LayoutError
from unimed_kedro.sources.segmentation.base import Channel, Labels, SegmentationSource, visible

_FIELD = re.compile(r"\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<regex>[^{}]+))?\}")


def template_regex(template: str) -> re.Pattern[str]:
    """The regex matching paths of `template`, a named group per field."""
    pattern, at, seen = "", 0, set()
    for field in _FIELD.finditer(template):
        pattern += re.escape(template[at : field.start()])
        name = field["name"]
        pattern += f"(?P={name})" if name in seen else f"(?P<{name}>{field['regex'] or '[^/]+?'})"
        seen.add(name)
        at = field.end()
    return re.compile(pattern + re.escape(template[at:]))


def fill(template: str, fields: dict[str, str]) -> str:
    """`template` with its fields replaced by the image's values."""
    return _FIELD.sub(lambda field: fields[field["name"]], template)


class Pairs(SegmentationSource):
    """Entry options: `image` and `mask` templates, `patient` (template, default the
    image's fields joined), `labels` ({value: name}), `modality`, `split` (official
    split of every pair, default unknown)."""

    def layout(self) -> re.Pattern[str]:
        missing = [k for k in ("image", "mask", "labels", "modality") if k not in self.options]
        if missing:
            raise LayoutError(f"{self.source.name}: a pairs entry needs {missing}")
        return template_regex(str(self.options["image"]))

    def records(self, layout: Any) -> Iterable[dict]:
        pattern: re.Pattern[str] = layout
        labels = Labels.of_map(self.options["labels"])
        channel = Channel(None, None, str(self.options["modality"]))
        split = self.options.get("split")
        matched = 0
        for image, fields in self._images(pattern):
            matched += 1
            case = "_".join(fields.values())
            patient = fill(str(self.options.get("patient", "{" + "}_{".join(fields) + "}")), fields)
            where = {"file": self.rel(image), "row": None}
            yield from self.case_records(
                case,
                image,
                fill(str(self.options["mask"]), fields),
                labels,
                [channel],
                split=split,
                where=where,
                patient=patient,
            )
        if not matched:
            raise LayoutError(f"{self.root}: no file matches {self.options['image']!r}")

    def _images(self, pattern: re.Pattern[str]) -> Iterator[tuple[str, dict[str, str]]]:
        """(path in the folder, fields) of every visible file matching, sorted."""
        base = self.root / self.subdir if self.subdir else self.root
        for folder, subfolders, files in os.walk(base):
            subfolders[:] = sorted(d for d in subfolders if visible(d))
            rel_folder = os.path.relpath(folder, base)
            for name in sorted(files):
                rel = name if rel_folder == "." else f"{rel_folder}/{name}"
                match = pattern.fullmatch(rel) if visible(name) else None
                if match:
                    yield rel, match.groupdict()
