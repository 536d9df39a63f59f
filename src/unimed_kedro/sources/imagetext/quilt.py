"""Quilt-1M (histopathology image–text pairs, Zenodo 8239942) in `Quilt/`.

Index: `quilt_1M_lookup.csv`, written by pandas (its index is the first column, `Unnamed:
0` once read back), with `caption`, `image_path`, `subset` (quilt / openpath / pubmed /
laion), `split` (train / val), `pathology`, `roi_text`, `noisy_text`, `corrected_text`,
`med_umls_ids`, `magnification`, `height`, `width`. Several rows name one `image_path`,
one caption each: they are one record holding every caption. Images: each
`images_part_N.zip` unpacks to `quilt_1m/<image_path>`, read from `Quilt/quilt_1m/`
(UniMed's guide) and, when the zips were unpacked into folders of their names, from
`Quilt/images_part_N/quilt_1m/` too.

`subset` is the record's `dataset`. `val` is evaluation data: an image any of whose rows
says val is a val record (`PerImage`). An image whose every caption is empty is a
`no_caption` reject (UniMed skips such rows); a row with no `image_path`, or a split other
than train or val, is a `bad_csv_row`.

The lookup (1,017,712 rows, long text columns) is streamed: read one row at a time with
the csv module, each row merged as it comes into its image's record (`PerImage`): memory
holds per image its path and a few bytes, per caption its text in Arrow, never the table
or a dict a row.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from unimed_kedro.sources.base import LayoutError
from unimed_kedro.sources.imagetext.base import ImageTextSource
from unimed_kedro.sources.paths import Where
from unimed_kedro.sources.tables import open_text, read_csv_rows

LOOKUP = "quilt_1M_lookup.csv"
IMAGES = "quilt_1m"
PARTS = "images_part_*"
COLUMNS = ["caption", "image_path", "subset", "split"]
SPLITS = ("train", "val")
MODALITY = "pathology"


class Quilt(ImageTextSource):
    image_folders: list[str]  # where `find` looks, in order (`layout`)

    def layout(self) -> list[str]:
        lookup = self.root / LOOKUP
        if not lookup.is_file():
            raise LayoutError(
                f"{self.root}: expected {LOOKUP} with columns {COLUMNS} (Quilt-1M layout)"
            )
        try:
            with open_text(lookup) as handle:
                handle.read(1)
        except (OSError, UnicodeError) as err:
            raise LayoutError(f"{lookup}: cannot be read ({err}); expected {COLUMNS}") from err
        parts = sorted(p for p in self.root.glob(f"{PARTS}/{IMAGES}") if p.is_dir())
        return [IMAGES, *(str(p.relative_to(self.root)) for p in parts)]

    def records(self, layout: list[str]) -> Iterator[dict]:
        self.image_folders = layout
        return self._rows()

    def _rows(self) -> Iterator[dict]:
        """One record per usable row, keyed by `image_path` (`raw_relpath` until `find`
        finds the image)."""
        for line, row in read_csv_rows(self.root / LOOKUP, COLUMNS, self.rejects, self.root):
            image = row["image_path"].strip().replace("\\", "/")
            split = row["split"].strip().lower()
            problem = None
            if not image:
                problem = "column 'image_path' is empty"
            elif split not in SPLITS:
                problem = f"column 'split': expected one of {list(SPLITS)}, got {row['split']!r}"
            if problem:
                self.rejects.add("bad_csv_row", problem, file=LOOKUP, row=line)
                continue
            yield self.record(
                image,
                os.path.splitext(image)[0],
                captions=(row["caption"],),
                where={"file": LOOKUP, "row": line},
                dataset=row["subset"].strip() or None,
                modality=MODALITY,
                split=split,
            )

    def find(self, image: str, where: Where) -> str | None:
        """`<folder>/<image>` for the first of the image folders holding it."""
        return self.first_file([f"{folder}/{image}" for folder in self.image_folders], where)
