"""What every image–text reader shares: the entry's facts, the record dict of one image,
and "one image, one record": rows of a source naming the same image (Quilt's repeated
`image_path`, LLaVA-Med instruct's figure caption and in-text mention) become one record
holding all their captions."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from unimed_kedro.allocator import trim
from unimed_kedro.schema import IMAGE_TEXT, is_missing, make_sample_id
from unimed_kedro.schema.columns import (
    CHUNK,
    array_of,
    concatenated,
    is_list_column,
    kept_rows,
    records_table,
    table_frame,
    taken_table,
    text_series,
    value_slices,
)
from unimed_kedro.sources.base import Source, SourceInfo
from unimed_kedro.sources.paths import Where

# A captioned source's image whose every caption is empty: no pair to train on.
NO_CAPTION = "no_caption"


class ImageTextSource(Source):
    """An image–text reader. Entry options: `title`, `license`, `redistributable`,
    `citation`, `patient_note`, and the reader's own.

    `records` yields one record per row of the source's files; `collect` gathers them one
    record per image (`PerImage`) and gives each its ids (`identified`: its captions are
    laid out in sample-id order); `assemble` checks each file once (`on_disk`) and keeps
    the images with a caption (`paired`). A reader says how it
    differs in three attributes and by overriding `combine` or `find`."""

    kind = IMAGE_TEXT
    # A label dataset: class names alone make a pair (a template caption is made later).
    findings_suffice: ClassVar[bool] = False
    # The reader checks each image's file as it reads its row (finding it needs the row).
    checks_files_when_read: ClassVar[bool] = False
    # Rows naming one image are its captions (`PerImage`); False where a row is a record
    # and a repeat a `duplicate_record` (RadImageNet's split files).
    one_record_per_image: ClassVar[bool] = True

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
        """The row's record of image `image` (relative to the source folder), whose id in
        the source is `raw_id`; `where` gives `file` and `row` (where it was listed). Its
        sample id (and, with no `patient`, its patient id) are made once per image, by
        `assemble`."""
        return {
            "source": self.source.name,
            "patient_id": None if patient is None else f"{self.source.name}:{patient}",
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

    def collect(self, records: Iterable[dict], columns: list[str]) -> pd.DataFrame:
        if not self.one_record_per_image:
            return super().collect(records, columns)
        return PerImage().frame(records, columns, arrange=self._sample_order)

    def _sample_order(self, frame: pd.DataFrame) -> np.ndarray:
        """Each record's place in sample-id order, its ids made now (`identified`): the
        order `finish` writes records in, so their captions are laid out in it once."""
        order = pc.sort_indices(pa.array(self.identified(frame)["sample_id"].array))
        rank = np.empty(len(frame), np.int64)
        rank[np.asarray(order)] = np.arange(len(frame))
        return rank

    def assemble(self, frame: pd.DataFrame) -> pd.DataFrame:
        frame = self.combine(frame)
        if not self.one_record_per_image:  # else identified as gathered (`collect`)
            frame = self.identified(frame)
        if not self.checks_files_when_read:
            frame = self.on_disk(frame)
        return self.paired(frame)

    def combine(self, frame: pd.DataFrame) -> pd.DataFrame:
        """What a reader adds once its records are gathered (RadImageNet: UniMed's
        captions); nothing by default. A one-record-per-image reader's records already
        carry their ids here (made in `collect` to lay captions out): an override must not
        change `_raw_id` or `patient_id`."""
        return frame

    def identified(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Records with their sample ids and, where no patient was given, the image as
        the patient."""
        name = self.source.name
        raw_ids = frame["_raw_id"].astype("str")
        frame["sample_id"] = text_series(
            (
                [make_sample_id(name, r) for r in raw]
                for (raw,) in value_slices(raw_ids.to_frame(), ["_raw_id"])
            ),
            frame.index,
        )
        # the image where no patient is given (`coalesce`: `where` costs ~3 copies)
        patients = pa.array(frame["patient_id"].astype("str").array)
        images = pa.array((f"{name}:" + raw_ids).array)
        frame["patient_id"] = pd.Series(
            pc.coalesce(patients, images).to_pandas().array, index=frame.index
        )
        return frame

    def on_disk(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The records whose image `find` finds, with `raw_relpath` where it was found;
        the others are rejects (`outside_raw_root`, `missing_file`)."""
        found: list[pa.Array] = []  # a chunk of rows at a time (`value_slices`), as text
        kept: list[np.ndarray] = []
        for values in value_slices(frame, ["raw_relpath", "_file", "_row", "sample_id"]):
            paths = [
                self.find(rel, {"file": file, "row": _line(row), "sample_id": sample_id})
                for rel, file, row, sample_id in zip(*values)
            ]
            kept.append(np.array([f is not None for f in paths], dtype=bool))
            found.append(pa.array([f for f in paths if f is not None], pa.string()))
        frame = kept_rows(frame, np.concatenate(kept) if kept else np.zeros(0, bool))
        frame["raw_relpath"] = text_series(found, frame.index)
        return frame

    def find(self, image: str, where: Where) -> str | None:
        """Where image `image` (a path in the source folder) is: itself when it is a file
        inside the folder, else None and a reject naming `where`."""
        path = self.folder.inside(image, **where)
        if path is not None and self.folder.exists(path, **where):
            return image
        return None

    def first_file(self, candidates: list[str], where: Where) -> str | None:
        """The first of `candidates` (paths in the source folder, the usual place first,
        then alternatives) that is a file inside the folder; else None and a reject naming
        the first (`outside_raw_root` when it leaves the folder, else `missing_file`). An
        alternative that would leave the folder is skipped."""
        path = self.folder.inside(candidates[0], **where)
        if path is None:
            return None
        if os.path.isfile(path):
            return candidates[0]
        for candidate in candidates[1:]:
            alternative, refused = self.folder.locate(candidate)
            if refused is None and alternative is not None and os.path.isfile(alternative):
                return candidate
        self.folder.exists(path, **where)  # the `missing_file` reject
        return None

    def paired(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The records with at least one caption (or, `findings_suffice`, a class name);
        the others become `no_caption` rejects (a captioned source's image with no text
        is no pair)."""
        captioned = _has_items(frame["source_captions"])
        if self.findings_suffice:
            captioned |= _has_items(frame["findings"])
        for rel, file, row, sample_id in zip(
            *(
                frame.loc[~captioned, c].tolist()
                for c in ("raw_relpath", "_file", "_row", "sample_id")
            )
        ):
            self.rejects.add(
                NO_CAPTION,
                f"{rel!r}: every caption given for it is empty",
                file=file,
                row=_line(row),
                sample_id=sample_id,
            )
        return kept_rows(frame, captioned.to_numpy(dtype=bool))


class PerImage:
    """Rows gathered into one record per image (`raw_relpath`): the first row's fields,
    the captions and class names of every row naming the image (file order, repeats
    dropped; each row's are clean as recorded) and the most held-out split of its rows
    (an image one row puts in val or test is evaluation data, whatever another row says).
    As rows stream by, memory holds per row its fields in Arrow (`records_table`) and per
    caption its text in Arrow (`Entries`), never a dict per row, a Python string per
    caption nor a dict of paths (~170 bytes a path, on a heap it leaves fragmented);
    images are told apart once the rows are read (`_images`)."""

    LISTS = ("source_captions", "findings")

    def __init__(self) -> None:
        self.lists = {c: Entries() for c in self.LISTS}
        self.ranks = bytearray()  # per row

    def frame(
        self,
        records: Iterable[dict],
        columns: list[str],
        arrange: Callable[[pd.DataFrame], np.ndarray] | None = None,
    ) -> pd.DataFrame:
        """The records, one per image; `arrange`, given the frame without its lists,
        may add to it and gives each image's place in the order the lists' texts are to be
        laid out (`Entries.grouped`)."""
        own = [c for c in columns if c not in (*self.LISTS, "official_split")]
        table = records_table(self._rows(records), own)
        trim()  # what the rows' records left on the heap
        parts = dict(zip(table.column_names, table.columns))
        del table
        images, firsts = _images(parts["raw_relpath"])
        frame = table_frame(taken_table(parts, firsts))
        rank = arrange(frame) if arrange is not None else None
        trim()  # and what arranging left there, before the lists' texts are laid out
        for column, entries in self.lists.items():
            grouped = entries.grouped(images, firsts, rank)
            lists = pd.arrays.ArrowExtensionArray(grouped)
            frame[column] = pd.Series(lists, index=frame.index, copy=False)
        ranks = np.zeros(len(firsts), dtype=np.uint8)
        np.maximum.at(ranks, images, np.frombuffer(bytes(self.ranks), dtype=np.uint8))
        splits = pa.array(np.array(_SPLITS_BY_RANK, dtype=object)[ranks], from_pandas=True)
        frame["official_split"] = splits.to_pandas()  # typed as `records_frame` would
        return frame

    def _rows(self, records: Iterable[dict]) -> Iterator[dict]:
        for row, record in enumerate(records):
            self.ranks.append(_SPLIT_RANK.get(record.get("official_split") or "", 0))
            for column, entries in self.lists.items():
                entries.add(row, record.get(column) or ())
            yield record


def _images(paths: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's image (numbered in the order images are first named) and each image's
    first row, from the rows' paths."""
    if not len(paths):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    codes = pc.dictionary_encode(paths, null_encoding="encode").combine_chunks().indices
    images = np.asarray(codes, dtype=np.int64)
    return images, np.unique(images, return_index=True)[1]


class Entries:
    """The values of one list column as rows give them, `(row, value)` in file order,
    held as Arrow text a chunk at a time (a Python string costs ~50 bytes more than its
    text, a list per image ~70); `grouped` makes them one list per image."""

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.hashes: list[int] = []  # to find repeats without comparing every text
        self.values: list[Any] = []
        self.chunks: list[tuple[np.ndarray, np.ndarray, pa.Array]] = []

    def add(self, row: int, values: Iterable[Any]) -> None:
        for value in values:
            self.rows.append(row)
            self.hashes.append(hash(value))
            self.values.append(value)
        if len(self.values) >= CHUNK:
            self._store()

    def _store(self) -> None:
        if self.values:
            rows = np.array(self.rows, dtype=np.int64)
            hashes = np.array(self.hashes, dtype=np.int64)
            self.chunks.append((rows, hashes, array_of(self.values)))
        self.rows, self.hashes, self.values = [], [], []

    def grouped(
        self, images: np.ndarray, firsts: np.ndarray, rank: np.ndarray | None = None
    ) -> pa.Array:
        """A list per image `0..len(firsts)-1` (`images`: each row's; `firsts`: each
        image's first row): its values in file order, a value it already holds left out
        (the first row's all kept, as given); the entries are let go. With `rank` (each
        image's place in the order its record will be written), the texts are laid out
        in that order, a chunk of entries at a time (`_laid_out`)."""
        self._store()
        count = len(firsts)
        chunks = [  # (image, hash, given by the image's first row, value) per entry
            (images[rows], hashes, rows == firsts[images[rows]], values)
            for rows, hashes, values in self.chunks
        ]
        self.chunks.clear()
        images, hashes, first = (
            np.concatenate([c[i] for c in chunks] or [np.zeros(0, t)])
            for i, t in enumerate((np.int64, np.int64, bool))
        )
        repeats = _repeats(images, hashes, first, [c[3] for c in chunks])
        kept = np.flatnonzero(~repeats)
        if rank is not None and _layable([c[3] for c in chunks]):
            texts = deque(c[3] for c in chunks)
            chunks.clear()
            return _laid_out(texts, images, kept, rank)
        in_order = _in_order(chunks, count) if not repeats.any() else None
        if in_order is not None:  # one row an image, in order: no dictionary
            return in_order
        values = concatenated([c[3] for c in chunks] or [pa.array([], pa.string())])
        chunks.clear()
        kept = kept[np.argsort(images[kept], kind="stable")]  # by image, file order within
        sizes = np.bincount(images[kept], minlength=count)
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)
        if not pa.types.is_string(values.type) or len(values) >= 2**31:
            return pa.ListArray.from_arrays(pa.array(offsets), values.take(pa.array(kept)))
        # the texts stay in file order, the lists name them (dictionary-encoded): later
        # steps move 4 bytes a text, `finish` puts them in order once (`decoded_lists`)
        items = pa.DictionaryArray.from_arrays(pa.array(kept, pa.int32()), values)
        return pa.ListArray.from_arrays(pa.array(offsets), items)


# Texts laid out a slab at a time: each chunk of entries is cut into one piece per slab
# (then let go), each slab's pieces are put in order into the one buffer (then let go).
_SLABS = 16


def _layable(chunks: list[pa.Array]) -> bool:
    """Text chunks without a missing value, short enough for 32-bit offsets."""
    return (
        all(pa.types.is_string(c.type) and c.null_count == 0 for c in chunks)
        and sum(c.nbytes for c in chunks) < 2**31 - 1
    )


def _laid_out(
    texts: deque[pa.Array], images: np.ndarray, kept: np.ndarray, rank: np.ndarray
) -> pa.Array:
    """The lists of images `0..len(rank)-1` naming texts laid out by their image's `rank`
    (file order within an image): the dictionary is built without ever holding the texts
    twice (`texts`, chunks of entries in file order, are consumed), and when no record
    is left out `finish` decodes the lists into it without a copy (`decoded_lists`)."""
    count = len(rank)
    kept = kept[np.argsort(rank[images[kept]], kind="stable")]  # in laid-out order
    place = np.full(len(images), -1, np.int64)
    place[kept] = np.arange(len(kept))
    lengths = np.concatenate(
        [np.asarray(pc.binary_length(c), np.int64) for c in texts] or [np.zeros(0, np.int64)]
    )
    offsets = np.concatenate([[0], np.cumsum(lengths[kept])]).astype(np.int32)
    bounds = np.linspace(0, len(kept), _SLABS + 1).astype(np.int64)
    data = _slabs_joined(_slab_pieces(texts, place, bounds), offsets, bounds)
    dictionary = pa.StringArray.from_buffers(len(kept), pa.py_buffer(offsets), pa.py_buffer(data))
    by_image = np.sort(kept)
    by_image = by_image[np.argsort(images[by_image], kind="stable")]  # file order within
    sizes = np.bincount(images[by_image], minlength=count)
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)
    items = pa.DictionaryArray.from_arrays(pa.array(place[by_image], pa.int32()), dictionary)
    return pa.ListArray.from_arrays(pa.array(starts), items)


def _slab_pieces(
    texts: deque[pa.Array], place: np.ndarray, bounds: np.ndarray
) -> list[list[tuple[np.ndarray, pa.Array]]]:
    """Per slab (places `bounds[s]..bounds[s+1]`), the pieces of each chunk falling in
    it: the places and texts of its entries, in place order. Each chunk goes once cut."""
    pieces: list[list[tuple[np.ndarray, pa.Array]]] = [[] for _ in range(len(bounds) - 1)]
    start = 0
    while texts:
        chunk = texts.popleft()
        at = place[start : start + len(chunk)]
        start += len(chunk)
        local = np.flatnonzero(at >= 0)
        local = local[np.argsort(at[local])]
        cuts = np.searchsorted(at[local], bounds)
        for slab, (low, high) in enumerate(zip(cuts[:-1], cuts[1:])):
            if low < high:
                part = local[low:high]
                pieces[slab].append((at[part], chunk.take(pa.array(part))))
        del chunk
    return pieces


def _slabs_joined(
    pieces: list[list[tuple[np.ndarray, pa.Array]]], offsets: np.ndarray, bounds: np.ndarray
) -> np.ndarray:
    """The bytes of every text at its place (`offsets`), a slab at a time: the buffer is
    written front to back as the pieces are let go (their heap pages given back)."""
    data = np.empty(int(offsets[-1]), np.uint8)  # pages are taken as they are written
    for slab, (low, high) in enumerate(zip(bounds[:-1], bounds[1:])):
        parts, pieces[slab] = pieces[slab], []
        if not parts:
            continue
        at = np.concatenate([p[0] for p in parts])
        slab_texts = pa.concat_arrays([p[1] for p in parts]).take(pa.array(np.argsort(at)))
        del parts
        size = int(offsets[high] - offsets[low])
        if size:
            _, starts, body_buffer = slab_texts.buffers()
            first = int(np.frombuffer(starts, np.int32)[slab_texts.offset])
            body = np.frombuffer(body_buffer, np.uint8)[first : first + size]
            data[offsets[low] : offsets[high]] = body
        del slab_texts
        trim()
    return data


def _in_order(
    chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray, pa.Array]], count: int
) -> pa.Array | None:
    """The lists of images `0..count-1` made a chunk of entries at a time (one array: how
    a column is chunked decides the bytes Parquet writes of it), when the entries come
    image after image and no image's entries straddle two chunks; else None."""
    lists, start = [], 0
    for number, (images, _, _, values) in enumerate(chunks):
        last = count if number == len(chunks) - 1 else int(images[-1]) + 1
        following = chunks[number + 1][0][0] if number < len(chunks) - 1 else count
        if (len(images) and (images[0] < start or following < last)) or np.any(np.diff(images) < 0):
            return None
        sizes = np.bincount(images - start, minlength=last - start)
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)
        lists.append(pa.ListArray.from_arrays(pa.array(offsets), values))
        start = last
    if start < count:  # no entries at all
        lists.append(pa.array([[]] * (count - start), pa.list_(pa.string())))
    types = {a.type for a in lists}
    return pa.concat_arrays(lists) if len(types) == 1 else None


def _repeats(
    images: np.ndarray, hashes: np.ndarray, firsts: np.ndarray, chunks: list[pa.Array]
) -> np.ndarray:
    """The entries whose image holds their value at an earlier entry (its first row's
    values are all kept, as given). Entries of one image and one hash (few: a repeat, or
    a hash shared by two texts) are compared by value."""
    repeat = np.zeros(len(images), dtype=bool)
    order = np.lexsort((hashes, images))  # stable: file order within an (image, hash)
    same = (images[order][1:] == images[order][:-1]) & (hashes[order][1:] == hashes[order][:-1])
    if not same.any():
        return repeat
    runs = np.cumsum(np.concatenate([[True], ~same]))  # run number of each sorted entry
    shared = np.flatnonzero(np.bincount(runs)[runs] > 1)  # sorted entries in runs of 2+
    at = order[shared]
    texts = _texts_at(chunks, at)
    seen: set[tuple[int, Any]] = set()
    for entry, run, first, text in zip(
        at.tolist(), runs[shared].tolist(), firsts[at].tolist(), texts
    ):
        repeat[entry] = not first and (run, text) in seen
        seen.add((run, text))
    return repeat


def _texts_at(chunks: list[pa.Array], at: np.ndarray) -> list[Any]:
    """The values at entry numbers `at` of `chunks` (one after another) as Python values,
    taken chunk by chunk: a `take` on the chunked array would first join them all."""
    starts = np.cumsum([0, *(len(c) for c in chunks)])
    chunk_of = np.searchsorted(starts, at, side="right") - 1
    texts: list[Any] = [None] * len(at)
    for number in np.unique(chunk_of).tolist():
        mine = np.flatnonzero(chunk_of == number)
        values = chunks[number].take(pa.array(at[mine] - starts[number])).to_pylist()
        for position, value in zip(mine.tolist(), values):
            texts[position] = value
    return texts


def _has_items(series: pd.Series) -> pd.Series:
    if is_list_column(series):
        return series.list.len().fillna(0).astype(int).gt(0).astype(bool)
    return series.map(lambda v: v is not None and len(v) > 0).astype(bool)


def _line(row: Any) -> int | None:
    return None if is_missing(row) else int(row)


# The most held-out split an image's rows give wins (None < train < val < test).
_SPLIT_RANK = {"train": 1, "val": 2, "test": 3}
_SPLITS_BY_RANK = [None, "train", "val", "test"]


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
