"""The Medical Segmentation Decathlon layout: `dataset.json`, `imagesTr/`, `labelsTr/`,
`imagesTs/`.

Read as the archives really are: `training` is a list of `{"image", "label"}` dicts with
`./` paths, `test` a list of plain strings (images without masks: `no_mask` rejects),
some tasks spell `release` as `relase` (nothing here reads it), 4-D images hold one
channel per `modality` entry (one sample per channel, sharing the patient), and macOS
`._*` files sit beside the images (never listed, never globbed).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

from unimed_kedro.sources.base import LayoutError
from unimed_kedro.sources.segmentation.base import (
    Channel,
    Labels,
    SegmentationSource,
    clean_relpath,
    unknown_modality,
    volume_stem,
)

DATASET_JSON = "dataset.json"


class MSD(SegmentationSource):
    """One MSD task. Entry options: `labels` ({value: name}, else dataset.json's),
    `channels` ({index: name}, else dataset.json's `modality`), `modality`."""

    def layout(self) -> dict:
        meta = self.read_json(DATASET_JSON)
        if not isinstance(meta.get("training"), list):
            raise LayoutError(
                f"{self.root / self.rel(DATASET_JSON)}: expected a `training` list of "
                '{"image", "label"} entries'
            )
        return meta

    def labels(self, meta: dict) -> Labels:
        values = self.options.get("labels") or meta.get("labels") or {}
        try:
            return Labels.of_map(values)
        except (TypeError, ValueError) as error:
            raise LayoutError(
                f"{self.root / self.rel(DATASET_JSON)}: `labels` must map integer values to "
                f"names, got {values!r}"
            ) from error

    def channels(self, meta: dict) -> list[Channel]:
        names = self.options.get("channels") or meta.get("modality") or {"0": None}
        if not isinstance(names, dict):
            raise LayoutError(f"{self.root / self.rel(DATASET_JSON)}: `modality` must be a map")
        items = sorted((int(k), v) for k, v in names.items())
        four_d = str(meta.get("tensorImageSize", "")).upper() == "4D" or len(items) > 1
        channels = []
        for index, name in items:
            modality = self.modality(name)
            if modality is None:
                raise unknown_modality(self, [name])
            label = str(name) if four_d else None
            channels.append(Channel(label, index if four_d else None, modality))
        return channels

    def records(self, layout: Any) -> Iterable[dict]:
        meta: dict = layout
        labels, channels = self.labels(meta), self.channels(meta)
        yield from self._training(meta["training"], labels, channels)
        self._test(meta.get("test") or [], channels)

    def _training(self, entries: list, labels: Labels, channels: list[Channel]) -> Iterator[dict]:
        file = self.rel(DATASET_JSON)
        for row, item in enumerate(entries):
            where = {"file": file, "row": row}
            if not (isinstance(item, dict) and isinstance(item.get("image"), str)):
                detail = f"training[{row}]: expected {{image, label}}, got {item!r}"[:300]
                self.rejects.add("malformed_entry", detail, file=file, row=row)
                continue
            image = clean_relpath(item["image"])
            label = item.get("label")
            mask = clean_relpath(label) if isinstance(label, str) else None
            yield from self.case_records(
                _case(image), image, mask, labels, channels, split="train", where=where
            )

    def _test(self, entries: list, channels: list[Channel]) -> None:
        """MSD ships no test masks: every listed test image is a `no_mask` reject."""
        file = self.rel(DATASET_JSON)
        for row, item in enumerate(entries):
            path = item.get("image") if isinstance(item, dict) else item
            rel = clean_relpath(str(path))
            detail = f"test[{row}] {rel!r}: a test image without a mask (MSD ships none)"
            self.reject_case(_case(rel), channels, "no_mask", detail, {"file": file, "row": row})


def _case(relpath: str) -> str:
    name = os.path.basename(relpath)
    return volume_stem(name) or name
