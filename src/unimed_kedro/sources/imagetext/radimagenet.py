"""RadImageNet (radimagenet.com) in `radimagenet/`, with UniMed's captions when present.

Images: `radiology_ai/{CT,MR}/<anatomy>/<class>/<file>.png`; ultrasound has no anatomy
level (`radiology_ai/US/<class>/<file>.png`), which is also accepted for CT and MR. Index:
the official split files `RadiologyAI_{train,val,test}.csv` (`filename,label`), found
beside `radiology_ai/` or inside it; `filename` is relative to `radimagenet/` and starts
with `radiology_ai/` (one starting at the modality folder, `CT/...`, is read inside
`radiology_ai/`). Val and test are evaluation data, read first: an image listed in two
split files keeps its evaluation split (the other listing is a `duplicate_record`).

Modality and class come from the folders, which the real files are known to use; the
`label` cell's exact spelling (`CT-abd-normal`?) is not verified, so it is not parsed.
`findings` is [anatomy, class] (or [class]) in words: `abd` -> abdomen, `_` -> space.

UniMed's `radimagenet_with_captions_training_set.csv` (in `radiology_ai/`, where UniMed's
guide puts it, or at the top) is read by column position as UniMed's script reads it:
column 0 a Python-literal list whose first item is the image path (relative to
`radimagenet/`), column 2 a Python-literal list of captions (column 1, the labels, is not
used). Its captions fill `source_captions` of the record naming that image; it adds no
record. One of its rows that cannot be read, or names no kept record, is a correction (an
annotation row is no raw record). RadImageNet is label-only: a record without UniMed's
captions is captioned from templates later, never a `no_caption` reject.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from unimed_kedro.schema import make_sample_id
from unimed_kedro.schema.columns import list_values, records_frame
from unimed_kedro.sources.base import LayoutError
from unimed_kedro.sources.imagetext.base import ImageTextSource, PerImage, clean_captions
from unimed_kedro.sources.paths import Where
from unimed_kedro.sources.tables import csv_records, open_text, read_csv_rows

IMAGES = "radiology_ai"
# evaluation splits first: see the module docstring
SPLIT_FILES = (
    ("RadiologyAI_test.csv", "test"),
    ("RadiologyAI_val.csv", "val"),
    ("RadiologyAI_train.csv", "train"),
)
INDEX_FOLDERS = ("", IMAGES)
COLUMNS = ["filename", "label"]
CAPTIONS = "radimagenet_with_captions_training_set.csv"
CAPTION_FOLDERS = (IMAGES, "")
MODALITIES = ("CT", "MR", "US")
# folder abbreviations of RadImageNet's anatomy level
ANATOMY = {"abd": "abdomen", "af": "ankle and foot"}
# Corrections (never rejects): a caption-file row that cannot be parsed, or one whose
# image is no kept record (not listed by the split files, or rejected).
BAD_CAPTION_ROW = "bad_caption_row"
CAPTION_WITHOUT_RECORD = "caption_without_record"


class RadImageNet(ImageTextSource):
    findings_suffice = True  # label-only: captioned from templates when UniMed's are absent
    checks_files_when_read = True
    one_record_per_image = False  # an image in two split files: see the docstring

    def layout(self) -> list[tuple[Path, str]]:
        found = []
        for name, split in SPLIT_FILES:
            folder = next((d for d in INDEX_FOLDERS if (self.root / d / name).is_file()), None)
            if folder is not None:
                found.append((self.root / folder / name, split))
        if not found:
            names = [name for name, _ in SPLIT_FILES]
            raise LayoutError(
                f"{self.root}: expected the official split files {names} (columns "
                f"{COLUMNS}) beside or inside {IMAGES}/ (RadImageNet layout)"
            )
        for path, _ in found:
            readable(path, COLUMNS)
        return found

    def records(self, layout: list[tuple[Path, str]]) -> Iterator[dict]:
        for path, split in layout:
            file = str(path.relative_to(self.root))
            for line, row in read_csv_rows(path, COLUMNS, self.rejects, self.root):
                record = self._record(file, split, line, row["filename"])
                if record is not None:
                    yield record

    def _record(self, file: str, split: str, line: int, cell: str) -> dict | None:
        rel = relpath(cell)
        raw_id = os.path.splitext(rel.removeprefix(IMAGES + "/"))[0]
        where: Where = {"file": file, "row": line, "sample_id": None}
        if not raw_id:
            self.rejects.add("bad_csv_row", "column 'filename' is empty", **where)
            return None
        where["sample_id"] = make_sample_id(self.source.name, raw_id)
        path = self.folder.inside(rel, **where)
        if path is None:
            return None
        parsed = image_class(rel)
        if parsed is None:
            detail = (
                f"column 'filename': expected {IMAGES}/{{CT,MR}}/<anatomy>/<class>/<file> or "
                f"{IMAGES}/US/<class>/<file>, got {cell!r}"
            )
            self.rejects.add("bad_csv_row", detail, **where)
            return None
        if not self.folder.exists(path, **where):
            return None
        modality, findings = parsed
        return self.record(
            rel, raw_id, where=where, modality=modality, findings=findings, split=split
        )

    def combine(self, frame: pd.DataFrame) -> pd.DataFrame:
        """`source_captions` from UniMed's caption file, when present: the first record of
        an image (the one `finish` keeps) gets the captions of every row naming it. A
        repeated listing stays a record (`finish` rejects it as a `duplicate_record`)."""
        path = next(
            (
                self.root / d / CAPTIONS
                for d in CAPTION_FOLDERS
                if (self.root / d / CAPTIONS).is_file()
            ),
            None,
        )
        if path is None:
            return frame
        file = str(path.relative_to(self.root))
        rows = records_frame(
            self._caption_rows(path, file), ["raw_relpath", "source_captions", "_row"]
        )
        known = rows["raw_relpath"].isin(frame["raw_relpath"]).to_numpy(dtype=bool)
        for line, image in zip(rows["_row"][~known].tolist(), rows["raw_relpath"][~known].tolist()):
            detail = (
                f"image {image!r} is no kept record of the split files; its captions are not used"
            )
            self.rejects.correct(CAPTION_WITHOUT_RECORD, detail, file=file, row=int(line))
        rows = rows[known]
        given = PerImage().frame(
            (
                {"raw_relpath": image, "source_captions": captions}
                for image, captions in zip(
                    rows["raw_relpath"].tolist(), list_values(rows["source_captions"])
                )
            ),
            ["raw_relpath"],
        )
        by_image = pd.Series(
            list_values(given["source_captions"]), index=given["raw_relpath"], dtype=object
        )
        first = frame["raw_relpath"].where(~frame["raw_relpath"].duplicated())
        captions = first.map(by_image).tolist()  # NaN where the record is no image's first
        own = list_values(frame["source_captions"])
        frame["source_captions"] = pd.Series(
            [c if isinstance(c, list) else o for c, o in zip(captions, own)],
            index=frame.index,
            dtype=object,
        )
        return frame

    def _caption_rows(self, path: Path, file: str) -> Iterator[dict]:
        for line, image, captions in caption_rows(path):
            if image is None:
                self.rejects.correct(BAD_CAPTION_ROW, captions[0], file=file, row=line)
            else:
                yield {
                    "raw_relpath": image,
                    "source_captions": clean_captions(captions),
                    "_row": line,
                }


def caption_rows(path: Path) -> Iterator[tuple[int, str | None, list[str]]]:
    """`(line, image path, captions)` for each row of a UniMed caption file (column 0 a
    Python-literal list of paths, column 2 one of captions; the header is skipped); a row
    that cannot be used gives `(line, None, [why])`. Literals are parsed, never run."""
    records = csv_records(path)
    next(records, None)
    for line, fields, problem in records:
        if not problem and not "".join(fields).strip():
            continue
        try:
            if problem:
                raise ValueError(problem)
            files, captions = ast.literal_eval(fields[0]), ast.literal_eval(fields[2])
            if isinstance(captions, str):
                captions = [captions]
            if not isinstance(files, (list, tuple)) or not isinstance(captions, (list, tuple)):
                raise ValueError("not lists")
            yield line, relpath(str(files[0])), [str(c) for c in captions]
        except (ValueError, SyntaxError, IndexError, TypeError, MemoryError, RecursionError) as err:
            detail = f"expected ['<image path>'], labels, ['<caption>', ...] ({err})"
            yield line, None, [detail[:300]]


def relpath(cell: str) -> str:
    """A `filename` cell as a path relative to `radimagenet/`."""
    text = cell.strip().replace("\\", "/").removeprefix("./")
    return f"{IMAGES}/{text}" if text.split("/", 1)[0] in MODALITIES else text


def image_class(rel: str) -> tuple[str, list[str]] | None:
    """(modality, findings) from `radiology_ai/<MOD>/[<anatomy>/]<class>/<file>`, or None
    for a path of another shape (CT and MR without an anatomy folder are accepted: the
    class folder alone still names the class)."""
    parts = rel.split("/")
    if len(parts) not in (4, 5) or parts[0] != IMAGES or parts[1] not in MODALITIES:
        return None
    folders = parts[2:-1]
    if not all(f.strip() for f in folders) or not parts[-1]:
        return None
    words = [" ".join(f.replace("_", " ").replace("-", " ").split()) for f in folders]
    if len(folders) == 2:
        words[0] = ANATOMY.get(folders[0].lower(), words[0])
    return parts[1], words


def readable(path: Path, columns: list[str]) -> None:
    """A `LayoutError` naming the file and the columns it should have when it cannot be
    opened (no read permission, a folder of that name)."""
    try:
        with open_text(path) as handle:
            handle.read(1)
    except (OSError, UnicodeError) as err:
        raise LayoutError(f"{path}: cannot be read ({err}); expected a CSV with {columns}") from err
