"""Folders under `satds/` that no registry entry names: one whose `dataset.json` has the
MSD form (`training`) or the nnU-Net v2 form (`channel_names`, `file_ending`) is read by
that family under its folder name; any other is skipped with a log line."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Any

from unimed_kedro.sources.base import LayoutError
from unimed_kedro.sources.registry import entries
from unimed_kedro.sources.segmentation.base import SegmentationSource, visible
from unimed_kedro.sources.segmentation.msd import DATASET_JSON, MSD
from unimed_kedro.sources.segmentation.nnunet import NnUNet

log = logging.getLogger(__name__)


class Unlisted(SegmentationSource):
    """Reads every unclaimed dataset folder of its source folder (`satds/`)."""

    def layout(self) -> list[tuple[str, type[SegmentationSource]]]:
        mine = PurePosixPath(self.options.get("folder", self.root.name))
        claimed = {
            PurePosixPath(e.folder).name
            for e in entries().values()
            if PurePosixPath(e.folder).parent == mine
        }
        found = []
        for name in sorted(os.listdir(self.root)):
            if name in claimed or not visible(name) or not (self.root / name).is_dir():
                continue
            family = self._family(name)
            if family is not None:
                found.append((name, family))
        return found

    def _family(self, name: str) -> type[SegmentationSource] | None:
        path = self.root / name / DATASET_JSON
        reader = MSD(self.root, self.vocabulary, name=self.source.name, options=self.options)
        reader.subdir = name
        try:
            meta = reader.read_json(DATASET_JSON) if path.is_file() else {}
        except LayoutError as error:
            log.warning("satds: %s skipped (no registry entry): %s", name, error)
            return None
        if {"channel_names", "file_ending"} <= set(meta):
            return NnUNet
        if "training" in meta:
            return MSD
        log.warning(
            "%s: folder %s/ skipped: no registry entry names it and it has no dataset.json "
            "of MSD or nnU-Net v2 form",
            self.source.name,
            name,
        )
        return None

    def records(self, layout: Any) -> Iterable[dict]:
        for name, family in layout:
            reader = family(
                self.root, self.vocabulary, name=self.source.name, options={"dataset": name}
            )
            reader.subdir, reader.rejects, reader.folder = name, self.rejects, self.folder
            reader.source = self.source
            try:
                yield from reader.records(reader.layout())
            except LayoutError as error:
                log.warning("%s: folder %s/ skipped: %s", self.source.name, name, error)
