"""The contract every source reader fulfils, and the `read()` skeleton written once.

A `Source` subclass (one per dataset, or one per layout family whose datasets differ only
in a registry entry) says what its folder must hold (`layout`) and turns it into records
(`records`); the base opens the confined folder, collects rejects and builds the manifest
of the subclass's record kind. A reader never raises on a bad record: it adds a reject
naming the file, the row and what was expected. A folder without the official files is a
`LayoutError`, which stops the run with that message.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import pandas as pd

from unimed_kedro.schema import IMAGE, RecordKind, rejects_frame
from unimed_kedro.sources.paths import SourceFolder


@dataclass(frozen=True)
class SourceInfo:
    """What a source declares about itself: licence, whether derived images may be shared,
    citation, and what stands in for the patient."""

    name: str
    title: str
    license: str
    redistributable: bool
    citation: str
    patient_note: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RawSource:
    """A source folder under raw_root, as the catalog hands it to the ingest node."""

    name: str
    path: Path

    @property
    def exists(self) -> bool:
        """A missing or empty folder: the source is not there (DVC needs the folder to
        exist, so an empty one is how a DVC user leaves a source out)."""
        return self.path.is_dir() and any(self.path.iterdir())


@dataclass
class Rejects:
    """Collects rejected raw records of one source (`add`), and corrections (`correct`):
    a kept record whose recorded value was replaced (an impossible age read as unknown),
    or an index-table row that could be tied to no record. Corrections have the rejects'
    columns but never count as rejects: no raw record is lost by them."""

    source: str
    rows: list[dict] = field(default_factory=list)
    corrections: list[dict] = field(default_factory=list)

    def add(
        self,
        reason: str,
        detail: str,
        *,
        file: str,
        row: int | None = None,
        sample_id: str | None = None,
    ) -> None:
        self.rows.append(self._entry(reason, detail, file, row, sample_id))

    def correct(
        self,
        reason: str,
        detail: str,
        *,
        file: str,
        row: int | None = None,
        sample_id: str | None = None,
    ) -> None:
        self.corrections.append(self._entry(reason, detail, file, row, sample_id))

    def _entry(
        self, reason: str, detail: str, file: str, row: int | None, sample_id: str | None
    ) -> dict:
        return {
            "source": self.source,
            "sample_id": sample_id,
            "file": file,
            "row": row,
            "stage": "ingest",
            "reason": reason,
            "detail": detail,
        }


class LayoutError(ValueError):
    """A present source folder whose files do not have the official layout."""


class SourceTables(NamedTuple):
    """What reading a source folder gives: the manifest of its kind, the rejected raw
    records, and the corrections made to kept ones (both in the rejects' columns)."""

    manifest: pd.DataFrame
    rejects: pd.DataFrame
    corrections: pd.DataFrame


class Source(ABC):
    """Reads one source folder into `SourceTables`.

    A reader of one dataset declares its `info`; a family reader, whose datasets are
    registry entries with no module of their own, overrides `describe` to build it from
    the entry's `options` (which every reader gets as `self.options`)."""

    info: ClassVar[SourceInfo]
    kind: ClassVar[RecordKind] = IMAGE

    def __init__(
        self,
        root: Path,
        vocabulary: Mapping[str, Any],
        *,
        name: str | None = None,
        options: Mapping[str, Any] | None = None,
    ):
        self.root = root
        self.vocabulary = vocabulary
        self.options = dict(options or {})
        self.source = self.describe(name or self.info.name, self.options)
        self.rejects = Rejects(self.source.name)
        self.folder = SourceFolder(root, self.rejects)

    @classmethod
    def describe(cls, name: str, options: Mapping[str, Any]) -> SourceInfo:
        """What the source named `name` says about itself (title, licence, citation)."""
        return cls.info

    @property
    def label_names(self) -> list[str]:
        return list(self.vocabulary["labels"]["union"])

    def read(self) -> SourceTables:
        layout = self.layout()
        return finish(list(self.records(layout)), self.rejects, self.kind, self.label_names)

    @abstractmethod
    def layout(self) -> Any:
        """Check that the folder holds the official files and return what `records`
        needs of them (found index files, version folders); else raise `LayoutError`."""

    @abstractmethod
    def records(self, layout: Any) -> Iterable[dict]:
        """Record dicts of the kind's columns plus `_file`/`_row` (where each was read);
        bad records go to `self.rejects` instead."""


def finish(
    records: list[dict], rejects: Rejects, kind: RecordKind, labels: list[str]
) -> SourceTables:
    """Build the manifest (sorted, one row per sample id), the rejects and the corrections.

    Records carry `_file`/`_row` (where they were read) so a repeated record is rejected
    with its own location; the first occurrence is kept, and a correction made to a
    repeat is dropped with it (it describes no record of the manifest)."""
    columns = kind.manifest_columns(labels)
    frame = pd.DataFrame(records, columns=columns + ["_file", "_row"])
    dup = frame["sample_id"].duplicated(keep="first")
    for row in frame[dup].to_dict("records"):
        rejects.add(
            "duplicate_record",
            f"sample {row['sample_id']} already listed earlier",
            file=row["_file"],
            row=row["_row"],
            sample_id=row["sample_id"],
        )
    repeats = set(zip(frame.loc[dup, "_file"].tolist(), frame.loc[dup, "_row"].tolist()))
    rejects.corrections[:] = [
        c for c in rejects.corrections if (c["file"], c["row"]) not in repeats
    ]
    manifest = frame.loc[~dup, columns].sort_values("sample_id", kind="stable")
    manifest = manifest.reset_index(drop=True).astype(kind.dtypes(labels))
    return SourceTables(manifest, rejects_frame(rejects.rows), rejects_frame(rejects.corrections))
