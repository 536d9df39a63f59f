"""What every image–text reader shares: the entry's facts, the record dict of one image,
and "one image, one record": rows of a source naming the same image (Quilt's repeated
`image_path`, LLaVA-Med instruct's figure caption and in-text mention) become one record
holding all their captions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from unimed_kedro.schema import IMAGE_TEXT, make_sample_id
from unimed_kedro.sources.base import Source, SourceInfo

# A captioned source's image whose every caption is empty: no pair to train on.
NO_CAPTION = "no_caption"


class ImageTextSource(Source):
    """An image–text reader. Entry options: `title`, `license`, `redistributable`,
    `citation`, `patient_note`, and the reader's own."""

    kind = IMAGE_TEXT

    @classmethod
    def describe(cls, name: str, options: Mapping[str, Any]) -> SourceInfo:
        return SourceInfo.from_entry(name, options, "the image stands in for the patient")

    @classmethod
    def labels_in(cls, vocabulary: Mapping[str, Any]) -> list[str]:
        return []  # class names travel as `findings`, not as label columns

    def record(
        self,
        image: str,
        raw_id: str,
        *,
        captions: Iterable[Any] = (),
        where: Mapping[str, Any],
        dataset: str | None = None,
        modality: str | None = None,
        findings: Iterable[str] = (),
        patient: str | None = None,
        split: str | None = None,
    ) -> dict:
        """The record of image `image` (relative to the source folder), whose id in the
        source is `raw_id`; `where` gives `file` and `row` (where it was listed)."""
        return {
            "sample_id": make_sample_id(self.source.name, raw_id),
            "source": self.source.name,
            "patient_id": f"{self.source.name}:{patient if patient is not None else raw_id}",
            "study_id": None,
            "raw_relpath": image,
            "official_split": split,
            "license": self.source.license,
            "dataset": dataset,
            "modality": modality,
            "findings": list(findings),
            "source_captions": clean_captions(captions),
            "_file": where["file"],
            "_row": where.get("row"),
            "_raw_id": raw_id,
        }

    def merged(self, records: Iterable[dict]) -> list[dict]:
        """One record per image (`raw_relpath`), the first row's, holding the captions of
        every row naming it (file order, repeats dropped)."""
        by_image: dict[str, dict] = {}
        for record in records:
            kept = by_image.setdefault(record["raw_relpath"], record)
            if kept is not record:
                kept["source_captions"] = clean_captions(
                    [*kept["source_captions"], *record["source_captions"]]
                )
        return list(by_image.values())

    def without_caption(self, records: list[dict]) -> list[dict]:
        """The records with at least one caption; the others become `no_caption` rejects
        (a captioned source's image with no text is no pair)."""
        kept = []
        for record in records:
            if record["source_captions"]:
                kept.append(record)
                continue
            self.rejects.add(
                NO_CAPTION,
                f"{record['raw_relpath']!r}: every caption given for it is empty",
                file=record["_file"],
                row=record["_row"],
                sample_id=record["sample_id"],
            )
        return kept


def clean_captions(captions: Iterable[Any]) -> list[str]:
    """Captions as text, stripped, empty and missing ones and repeats left out."""
    seen: dict[str, None] = {}
    for caption in captions:
        if caption is None or (isinstance(caption, float) and caption != caption):
            continue
        text = str(caption).strip()
        if text:
            seen.setdefault(text, None)
    return list(seen)
