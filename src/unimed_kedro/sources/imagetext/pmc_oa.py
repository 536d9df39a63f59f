"""PMC-OA (PMC-CLIP's subfigure–subcaption pairs from PubMed Central) in `pmc_oa/`.

Index: `pmc_oa.jsonl` (HF axiong/pmc_oa; one JSON object a line, `{"image":
"PMC212319_Fig3_4.jpg", "caption": ..., "alignment_type", "alignment_score"}`), read as
UniMed reads it; without it, the older release's `train.jsonl`, `valid.jsonl`, `test.jsonl`
(which add `pmcid`, `url_name`), whose valid and test lines are evaluation data.
`pmc_oa_beta.jsonl` (compound captions kept whole) is not read. Images: `images.zip`
unpacks to `caption_T060_filtered_top4_sep_v0_subfigures/`, found in `pmc_oa/` itself
(UniMed's guide), under `images/` (the zip unpacked into a folder of its name, as public
loaders expect), or as `images/` (the folder renamed or linked there).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from unimed_kedro.schema.text import has_undecodable
from unimed_kedro.sources.base import LayoutError, Rejects
from unimed_kedro.sources.imagetext.base import ImageTextSource

INDEX = "pmc_oa.jsonl"
SPLIT_INDEXES = (("train.jsonl", "train"), ("valid.jsonl", "val"), ("test.jsonl", "test"))
SUBFIGURES = "caption_T060_filtered_top4_sep_v0_subfigures"
IMAGE_FOLDERS = (SUBFIGURES, f"images/{SUBFIGURES}", "images")
MODALITY = "figure"
# A line of a JSON Lines index that is no JSON (or not UTF-8); one that is JSON but not an
# entry of the expected shape.
BAD_JSON_LINE = "bad_json_line"
MALFORMED_ENTRY = "malformed_entry"


@dataclass(frozen=True)
class Layout:
    indexes: tuple[tuple[str, str | None], ...]  # (file, official split) in reading order
    images: str  # the image folder, relative to the source folder


class PMCOA(ImageTextSource):
    def layout(self) -> Layout:
        if (self.root / INDEX).is_file():
            indexes: tuple[tuple[str, str | None], ...] = ((INDEX, None),)
        else:
            indexes = tuple((f, s) for f, s in SPLIT_INDEXES if (self.root / f).is_file())
        if not indexes:
            raise LayoutError(
                f"{self.root}: expected {INDEX} (or the older release's train.jsonl, "
                "valid.jsonl, test.jsonl) from huggingface.co/datasets/axiong/pmc_oa"
            )
        images = next((f for f in IMAGE_FOLDERS if (self.root / f).is_dir()), None)
        if images is None:
            raise LayoutError(
                f"{self.root}: expected the images of images.zip in one of "
                f"{', '.join(f + '/' for f in IMAGE_FOLDERS)}"
            )
        return Layout(indexes, images)

    def records(self, layout: Layout) -> Iterator[dict]:
        for file, split in layout.indexes:
            yield from self._rows(file, split, layout)

    def _rows(self, file: str, split: str | None, layout: Layout) -> Iterator[dict]:
        for line, entry in json_lines(self.root / file, file, self.rejects):
            image = entry.get("image")
            if not isinstance(image, str) or not image.strip():
                detail = f'expected an "image" file name, got {shorten(entry)}'
                self.rejects.add(MALFORMED_ENTRY, detail, file=file, row=line)
                continue
            image = image.strip()
            yield self.record(
                f"{layout.images}/{image}",
                os.path.splitext(image)[0],
                captions=[entry.get("caption")],
                where={"file": file, "row": line},
                modality=MODALITY,
                split=split,
            )


def json_lines(path: Path, file: str, rejects: Rejects) -> Iterator[tuple[int, dict]]:
    """`(line number, object)` for each line of a JSON Lines file holding a JSON object;
    blank lines are skipped, any other line is a `bad_json_line` or `malformed_entry`
    reject. A file that cannot be read on is a `LayoutError`."""
    number = 0
    try:
        with open(path, encoding="utf-8-sig", errors="surrogateescape") as handle:
            for number, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                if has_undecodable(text):
                    rejects.add(BAD_JSON_LINE, "bytes that are not UTF-8", file=file, row=number)
                    continue
                try:
                    entry = json.loads(text)
                except json.JSONDecodeError as err:
                    detail = f"not JSON ({err.msg}, column {err.colno}): {text.strip()[:120]!r}"
                    rejects.add(BAD_JSON_LINE, detail, file=file, row=number)
                    continue
                if not isinstance(entry, dict):
                    detail = f"expected a JSON object, got {shorten(entry)}"
                    rejects.add(MALFORMED_ENTRY, detail, file=file, row=number)
                    continue
                yield number, entry
    except OSError as err:
        raise LayoutError(
            f"{path}, line {number + 1}: cannot be read past this line ({err}); get a complete copy"
        ) from err


def shorten(value: object, limit: int = 160) -> str:
    """A value as JSON for a reject's detail, cut to `limit` characters."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."
