"""What every segmentation family shares: the volume record, the entry's facts, volume
file names, dataset.json, and the record dict of one image (or one channel of it).

A family reader fills `cases()`-like loops; this base turns each found image into records
(one per channel of a multi-channel image) after checking its files are where the layout
says, so a missing image or mask is a reject naming the file, never a crash later.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from unimed_kedro.schema import VOLUME, make_sample_id
from unimed_kedro.schema.volume import LABEL_FILES, LABEL_MAP
from unimed_kedro.sources.base import LayoutError, Source, SourceInfo

# The volume formats read (SimpleITK and nibabel read them all); longest ending first.
VOLUME_ENDINGS = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
MODALITIES = ("CT", "MRI", "PET")


def volume_stem(name: str) -> str | None:
    """A volume file's name without its ending, or None for any other file."""
    lowered = name.lower()
    for ending in VOLUME_ENDINGS:
        if lowered.endswith(ending):
            return name[: -len(ending)]
    return None


def visible(name: str) -> bool:
    """Not a hidden file: macOS AppleDouble `._spleen_1.nii.gz` files sit beside every
    image of the MSD archives and are not volumes (nnU-Net #240)."""
    return not name.startswith(".")


def clean_relpath(path: str) -> str:
    """A dataset.json path as a relative path: MSD writes `./imagesTr/x.nii.gz`."""
    return os.path.normpath(path.strip()).removeprefix("./")


@dataclass(frozen=True)
class Labels:
    """A record's declared labels: `keys` (label-map values as text, or file names) and
    their `names`, in the dataset's order."""

    kind: str
    keys: tuple[str, ...]
    names: tuple[str, ...]

    @classmethod
    def of_map(cls, values: Mapping[Any, Any]) -> Labels:
        """From `{value: name}`, without background (value 0)."""
        pairs = sorted((int(v), str(n)) for v, n in values.items() if int(v) != 0)
        return cls(LABEL_MAP, tuple(str(v) for v, _ in pairs), tuple(n for _, n in pairs))

    @classmethod
    def of_files(cls, files: Mapping[str, str]) -> Labels:
        """From `{file name: label name}`, in the mapping's order."""
        return cls(LABEL_FILES, tuple(files), tuple(files.values()))


@dataclass(frozen=True)
class Channel:
    """One channel of an image: its name and index on the 4th axis (None: a 3-D file)."""

    name: str | None
    index: int | None
    modality: str


class SegmentationSource(Source):
    """A segmentation family's reader. Entry options every family reads: `dataset` (the
    dataset's name, SAT-DS's where it has one), `title`, `license`, `redistributable`,
    `citation`, `modality`, `patient_group` (the datasets read from one folder share
    patients: one name for them all keeps a patient in one split), `orientation`."""

    kind = VOLUME
    subdir = ""  # the dataset's folder inside the source folder (`unlisted` reads several)

    @classmethod
    def describe(cls, name: str, options: Mapping[str, Any]) -> SourceInfo:
        return SourceInfo.from_entry(name, options, "the case stands in for the patient")

    @classmethod
    def labels_in(cls, vocabulary: Mapping[str, Any]) -> list[str]:
        return []  # a volume's labels are a list per record, not columns

    @property
    def dataset(self) -> str:
        return str(self.options.get("dataset", self.source.name))

    def rel(self, path: str) -> str:
        """`path` (relative to the dataset's folder) relative to the source folder."""
        return os.path.join(self.subdir, path) if self.subdir else path

    def read_json(self, relpath: str) -> dict:
        """A dataset.json, or `LayoutError` naming it and what is wrong."""
        path = self.root / self.rel(relpath)
        if not path.is_file():
            raise LayoutError(f"{self.source.name}: {path} not found (expected {relpath})")
        try:
            data = json.loads(path.read_bytes().decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise LayoutError(f"{path}: not valid JSON ({error})") from error
        if not isinstance(data, dict):
            raise LayoutError(f"{path}: expected a JSON object, got {type(data).__name__}")
        return data

    def modality(self, name: Any) -> str | None:
        """CT / MRI / PET for a dataset's modality or channel name (the entry's
        `modality` first, then the collection's `vocabulary.modalities`)."""
        if "modality" in self.options:
            return str(self.options["modality"])
        table = {str(k).lower(): v for k, v in self.vocabulary.get("modalities", {}).items()}
        found = table.get(str(name).strip().lower())
        return found if found in MODALITIES else None

    def patient(self, case: str) -> str:
        return f"{self.options.get('patient_group', self.source.name)}:{case}"

    def find(
        self, relpath: str, reason: str, *, folder: bool = False
    ) -> tuple[str | None, tuple[str, str] | None]:
        """`relpath` (in the dataset's folder) relative to the source folder when it is a
        file (a `folder`) inside it; else None and the reject it makes: `reason` for a
        missing one, `outside_raw_root` for a path leaving the folder."""
        rel = self.rel(relpath)
        path, outside = self.folder.locate(rel)
        if path is None:
            return None, ("outside_raw_root", str(outside))
        if not (os.path.isdir(path) if folder else os.path.isfile(path)):
            return None, (reason, f"{rel!r} not found in {self.root.name}/")
        return rel, None

    def volume_records(
        self,
        case: str,
        image: str,
        mask: str,
        labels: Labels,
        channels: list[Channel],
        *,
        split: str | None,
        where: dict,
        patient: str | None = None,
    ) -> Iterator[dict]:
        """One record per channel of the image `image` (relative to the source folder)
        with its mask; `where` (`file`, `row`) says where the case was listed; `patient`
        defaults to the case."""
        patient_id = self.patient(
            f"{self.subdir}/{patient or case}" if self.subdir else (patient or case)
        )
        for channel in channels:
            parts = [self.subdir, case, channel.name] if self.subdir else [case, channel.name]
            sample_id = make_sample_id(self.source.name, *[p for p in parts if p])
            yield {
                "sample_id": sample_id,
                "source": self.source.name,
                "patient_id": patient_id,
                "study_id": None,
                "raw_relpath": image,
                "official_split": split,
                "license": self.source.license,
                "dataset": self.dataset,
                "mask_relpath": mask,
                "mask_kind": labels.kind,
                "declared_keys": list(labels.keys),
                "declared_names": list(labels.names),
                "channel": channel.name,
                "channel_index": channel.index,
                "modality": channel.modality,
                "_file": where["file"],
                "_row": where["row"],
                "_raw_id": f"{image}#{channel.name}" if channel.name else image,
            }

    def reject_case(
        self, case: str, channels: list[Channel], reason: str, detail: str, where: dict
    ) -> None:
        """A listed image that gives no record: one reject per channel (a record each)."""
        for channel in channels:
            parts = [self.subdir, case, channel.name] if self.subdir else [case, channel.name]
            sample_id = make_sample_id(self.source.name, *[p for p in parts if p])
            self.rejects.add(
                reason, detail, file=where["file"], row=where["row"], sample_id=sample_id
            )

    def case_records(
        self,
        case: str,
        image: str,
        mask: str | None,
        labels: Labels,
        channels: list[Channel],
        *,
        split: str | None,
        where: dict,
        mask_reason: str = "missing_mask",
        patient: str | None = None,
    ) -> Iterator[dict]:
        """`volume_records` once the image and mask files are found (`mask` None: the case
        has no mask at all, a `no_mask` reject); else the case's rejects."""
        found, problem = self.find(image, "missing_image")
        if found and mask is not None:
            mask_found, problem = self.find(mask, mask_reason, folder=labels.kind == LABEL_FILES)
        if problem is None and mask is None:
            problem = ("no_mask", f"{self.rel(image)!r}: an image without a mask")
        if problem is not None:
            self.reject_case(case, channels, *problem, where)
            return
        yield from self.volume_records(
            case,
            str(found),
            str(mask_found),
            labels,
            channels,
            split=split,
            where=where,
            patient=patient,
        )


def unknown_modality(reader: SegmentationSource, names: list[Any]) -> LayoutError:
    return LayoutError(
        f"{reader.source.name}: modality {names!r} of {reader.dataset} is none of "
        f"{list(MODALITIES)}; give the entry a `modality` or add the name to the "
        "collection's vocabulary.modalities"
    )
