"""Path safety: no path read from a metadata file leaves its source folder.

Checks are per record, so the folder's absolute path is worked out once per read and the
checks work on strings, not `Path` objects.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:
    from unimed_kedro.sources.base import Rejects


class Where(TypedDict):
    """Where a record was read: what every reject and correction names."""

    file: str
    row: int | None
    sample_id: str | None


def resolve_inside(root: Path, relpath: str) -> str | None:
    """`root/relpath` normalised, or None when it points outside `root` (`../../etc/passwd`,
    an absolute path). The check is lexical on purpose: symlinks placed by the user or by
    DVC's cache are trusted, paths written in metadata files are not."""
    return _resolve(os.path.abspath(root), relpath)


def _resolve(base: str, relpath: str) -> str | None:
    """`resolve_inside` with `root` already absolute."""
    target = os.path.normpath(os.path.join(base, relpath))
    return target if target.startswith(base + os.sep) else None


def index_files(root: Path, folders: list[Path], suffix: str) -> dict[str, str]:
    """File name -> path relative to `root` for files ending in `suffix` directly inside
    `folders`; the first folder holding a name wins. For sources whose metadata names
    files without saying in which of several folders they sit."""
    index: dict[str, str] = {}
    for folder in folders:
        if not folder.is_dir():
            continue
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.lower().endswith(suffix) and entry.is_file():
                    index.setdefault(entry.name, os.path.relpath(entry.path, root))
    return index


@dataclass
class SourceFolder:
    """The path checks every record of one source folder goes through."""

    root: Path
    rejects: Rejects
    base: str = field(init=False)

    def __post_init__(self) -> None:
        self.base = os.path.abspath(self.root)

    def inside(
        self, relpath: str, *, file: str, row: int | None, sample_id: str | None
    ) -> str | None:
        """`root/relpath`, or None (and an `outside_raw_root` reject) when it escapes
        `root`. Checked before anything else so a hostile path is never opened."""
        path = _resolve(self.base, relpath)
        if path is None:
            self.rejects.add(
                "outside_raw_root",
                f"path {relpath!r} points outside {self.root.name}/",
                file=file,
                row=row,
                sample_id=sample_id,
            )
        return path

    def exists(self, path: str, *, file: str, row: int | None, sample_id: str | None) -> bool:
        """True for a regular file (one stat); otherwise a `missing_file` reject."""
        if os.path.isfile(path):
            return True
        self.rejects.add(
            "missing_file",
            f"image {os.path.relpath(path, self.root)!r} not found in {self.root.name}/",
            file=file,
            row=row,
            sample_id=sample_id,
        )
        return False
