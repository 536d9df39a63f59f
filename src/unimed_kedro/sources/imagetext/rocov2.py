"""ROCOv2 (Radiology Objects in COntext v2, Zenodo 10821435) in `ROCOV2/`.

Per split (`train`, `valid`, `test`): `{split}_captions.csv` (`ID,Caption`; the ID has no
extension, some copies put spaces around the column names), the images of
`{split}_images.zip` in `{split}/` (also `{split}_images/{split}/` or `{split}_images/`,
where the zip was unpacked into a folder of its name) as `<ID>.jpg`, and the UMLS concepts
`{split}_concepts.csv` and `{split}_concepts_manual.csv` (`ID,CUIs`, `;`-separated), named
by `cui_mapping.csv` (`CUI,Canonical name`). Each split with a captions file is read (UniMed
reads train only): valid and test are evaluation data. Concept names become `findings`; a
CUI `cui_mapping.csv` does not name is left out (a code is no caption word).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from unimed_kedro.sources.base import LayoutError
from unimed_kedro.sources.imagetext.base import ImageTextSource
from unimed_kedro.sources.tables import csv_records, read_csv_rows

SPLITS = (("train", "train"), ("valid", "val"), ("test", "test"))
IMAGE_FOLDERS = ("{split}", "{split}_images/{split}", "{split}_images")
CONCEPTS = ("{split}_concepts.csv", "{split}_concepts_manual.csv")
MAPPING = "cui_mapping.csv"
MODALITY = "radiology"
# A correction: a row of a concepts or mapping table that cannot be read (it is no raw
# record; the image it concerns keeps its caption, without that row's concepts).
TABLE_ROW_IGNORED = "table_row_ignored"


@dataclass(frozen=True)
class Split:
    name: str  # as the file names write it: train / valid / test
    official: str  # train / val / test
    captions: Path
    images: str  # the image folder, relative to the source folder


class ROCOv2(ImageTextSource):
    def layout(self) -> list[Split]:
        splits = []
        for name, official in SPLITS:
            captions = self.root / f"{name}_captions.csv"
            if captions.is_file():
                splits.append(Split(name, official, captions, self._images(name)))
        if not splits:
            raise LayoutError(
                f"{self.root}: expected train_captions.csv (and/or valid_captions.csv, "
                "test_captions.csv) with columns ID,Caption from zenodo.org/records/10821435"
            )
        return splits

    def _images(self, split: str) -> str:
        """The split's image folder; its usual name when none is there (every row of the
        split is then a `missing_file` reject: UniMed's guide unpacks train and test only)."""
        names = [f.format(split=split) for f in IMAGE_FOLDERS]
        return next((n for n in names if (self.root / n).is_dir()), names[0])

    def records(self, layout: list[Split]) -> Iterator[dict]:
        names = self._concept_names()
        for split in layout:
            yield from self._rows(split, names)

    def _rows(self, split: Split, names: dict[str, str]) -> Iterator[dict]:
        concepts = self._concepts(split.name, names)
        file = split.captions.name
        id_column, caption_column = columns(split.captions, ["ID", "Caption"])
        for line, row in read_csv_rows(
            split.captions, [id_column, caption_column], self.rejects, self.root
        ):
            raw_id = row[id_column].strip()
            if raw_id.lower().endswith(".jpg"):  # a copy that wrote the file name
                raw_id = raw_id[:-4]
            if not raw_id:
                self.rejects.add("bad_csv_row", "empty ID", file=file, row=line)
                continue
            yield self.record(
                f"{split.images}/{raw_id}.jpg",
                raw_id,
                captions=[row[caption_column]],
                where={"file": file, "row": line},
                modality=MODALITY,
                findings=concepts.get(raw_id, ()),
                split=split.official,
            )

    def _concept_names(self) -> dict[str, str]:
        """CUI -> canonical name, from `cui_mapping.csv` when present."""
        path = self.root / MAPPING
        if not path.is_file():
            return {}
        cui, name = columns(path, ["CUI", "Canonical name"])
        return {
            row[cui].strip(): row[name].strip()
            for _, row in self._table(path, [cui, name])
            if row[cui].strip() and row[name].strip()
        }

    def _concepts(self, split: str, names: dict[str, str]) -> dict[str, list[str]]:
        """Image ID -> the names of its concepts (file order, repeats dropped), from the
        split's concepts tables that are present."""
        found: dict[str, dict[str, None]] = {}
        for pattern in CONCEPTS:
            path = self.root / pattern.format(split=split)
            if not path.is_file():
                continue
            image, cuis = columns(path, ["ID", "CUIs"])
            for _, row in self._table(path, [image, cuis]):
                named = (names.get(c.strip()) for c in row[cuis].split(";"))
                found.setdefault(row[image].strip(), {}).update(
                    dict.fromkeys(n for n in named if n)
                )
        return {image: list(concept) for image, concept in found.items()}

    def _table(self, path: Path, required: list[str]) -> Iterator[tuple[int, dict[str, str]]]:
        """Rows of a concepts or mapping table; a bad row is a correction, not a reject."""
        file = path.name

        def ignored(line: int, cells: dict[str, str], detail: str) -> None:
            detail = f"{detail}; its concepts are left out"
            self.rejects.correct(TABLE_ROW_IGNORED, detail, file=file, row=line)

        return read_csv_rows(path, required, self.rejects, self.root, malformed=ignored)


def columns(path: Path, wanted: list[str]) -> list[str]:
    """The header's names for `wanted` columns, matched without the spaces some copies put
    around them; a `LayoutError` naming the file when one is missing."""
    with contextlib.closing(csv_records(path)) as records:
        first = next(records, None)
    if first is None or (first[2] and not first[1]):
        raise LayoutError(f"{path}: empty or unreadable, expected a header with {wanted}")
    header = {name.strip(): name for name in first[1]}
    missing = [name for name in wanted if name not in header]
    if missing:
        raise LayoutError(f"{path}, line 1: missing columns {missing}; found {first[1]}")
    return [header[name] for name in wanted]
