"""The nnU-Net v2 raw layout: `dataset.json` (`channel_names`, `labels` name -> value,
`file_ending`), `imagesTr/<case>_<XXXX><ending>` (one file per channel, XXXX its 4-digit
index), `labelsTr/<case><ending>`, optionally `imagesTs/` (with `labelsTs/` where a
dataset ships test masks; without them a test image is a `no_mask` reject)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from typing import Any

from unimed_kedro.sources.base import LayoutError
from unimed_kedro.sources.segmentation.base import (
    Channel,
    Labels,
    SegmentationSource,
    unknown_modality,
    visible,
)

DATASET_JSON = "dataset.json"
_CHANNEL = re.compile(r"(?P<case>.+)_(?P<channel>\d{4})$")


class NnUNet(SegmentationSource):
    """One nnU-Net v2 dataset. Entry options: `labels` ({value: name}, else dataset.json's
    name -> value map; region labels, lists of values, are not single labels and are left
    out), `modality`."""

    def layout(self) -> dict:
        meta = self.read_json(DATASET_JSON)
        missing = [k for k in ("channel_names", "labels", "file_ending") if k not in meta]
        if missing:
            raise LayoutError(
                f"{self.root / self.rel(DATASET_JSON)}: missing {missing} (nnU-Net v2 form)"
            )
        return meta

    def labels(self, meta: dict) -> Labels:
        if self.options.get("labels"):
            return Labels.of_map(self.options["labels"])
        declared = meta["labels"]
        if not isinstance(declared, dict):
            raise LayoutError(f"{self.root / self.rel(DATASET_JSON)}: `labels` must be a map")
        return Labels.of_map({v: k for k, v in declared.items() if isinstance(v, int)})

    def channels(self, meta: dict) -> dict[int, Channel]:
        names = meta["channel_names"]
        several = len(names) > 1
        channels = {}
        for key, name in sorted(names.items(), key=lambda item: int(item[0])):
            modality = self.modality(name)
            if modality is None:
                raise unknown_modality(self, [name])
            channels[int(key)] = Channel(str(name) if several else None, None, modality)
        return channels

    def records(self, layout: Any) -> Iterable[dict]:
        meta: dict = layout
        labels, channels, ending = self.labels(meta), self.channels(meta), meta["file_ending"]
        yield from self._folder("imagesTr", "labelsTr", "train", labels, channels, ending)
        yield from self._folder("imagesTs", "labelsTs", "test", labels, channels, ending)

    def _folder(
        self,
        images: str,
        masks: str,
        split: str,
        labels: Labels,
        channels: dict[int, Channel],
        ending: str,
    ) -> Iterator[dict]:
        has_masks = os.path.isdir(self.root / self.rel(masks))
        for name, case, index in self._images(images, ending):
            file = self.rel(f"{images}/{name}")
            where = {"file": file, "row": None}
            channel = channels.get(index)
            if channel is None:
                detail = f"channel {index:04d} is not among dataset.json's channel_names"
                self.rejects.add("unknown_channel", detail, file=file)
                continue
            mask = f"{masks}/{case}{ending}" if has_masks else None
            yield from self.case_records(
                case, f"{images}/{name}", mask, labels, [channel], split=split, where=where
            )

    def _images(self, folder: str, ending: str) -> Iterator[tuple[str, str, int]]:
        """(file name, case, channel index) of the folder's images, sorted by name."""
        path = self.root / self.rel(folder)
        if not path.is_dir():
            return
        for name in sorted(os.listdir(path)):
            if not (visible(name) and name.endswith(ending)):
                continue
            match = _CHANNEL.fullmatch(name[: -len(ending)])
            if match is None:
                detail = f"expected <case>_<XXXX>{ending} (a 4-digit channel index)"
                self.rejects.add("malformed_name", detail, file=self.rel(f"{folder}/{name}"))
                continue
            yield name, match["case"], int(match["channel"])
