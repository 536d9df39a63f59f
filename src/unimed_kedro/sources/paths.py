"""Path safety: no path read from a metadata file leaves its source folder, and no file or
folder reached through a symbolic link does either.

Two checks, both per record and on strings, not `Path` objects. The lexical one refuses
`../../etc/passwd` and absolute paths written in metadata. The link one resolves what is
on disk: a file, or a folder on its path, that is a symbolic link leading outside the
source folder (to /etc/passwd, to a sibling source) is an `outside_raw_root` reject, unless
the run allows links (`allow_symlinks`: DVC's `cache.type: symlink` makes every tracked
raw file a link into .dvc/cache). Folders are resolved once each and remembered, so the
link check costs about one `lstat` per record.
"""

from __future__ import annotations

import os
import stat
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
    an absolute path). Lexical only: `SourceFolder.inside` adds the symbolic link check."""
    return _resolve(os.path.abspath(root), relpath)


def _resolve(base: str, relpath: str) -> str | None:
    """`resolve_inside` with `root` already absolute."""
    target = os.path.normpath(os.path.join(base, relpath))
    return target if target.startswith(base + os.sep) else None


def _within(path: str, real_root: str) -> bool:
    return path == real_root or path.startswith(real_root.rstrip(os.sep) + os.sep)


def index_files(
    root: Path,
    folders: list[Path],
    suffix: str,
    *,
    allow_symlinks: bool = False,
    escaped: dict[str, str] | None = None,
) -> dict[str, str]:
    """File name -> path relative to `root` for files ending in `suffix` directly inside
    `folders`; the first folder holding a name wins. For sources whose metadata names
    files without saying in which of several folders they sit.

    A file that is, or sits in a folder that is, a symbolic link leading outside `root` is
    left out (unless `allow_symlinks`); `escaped` (name -> path) collects such files when
    no folder holds the name as a file inside `root`."""
    real_root = os.path.realpath(root)
    index: dict[str, str] = {}
    outside: dict[str, str] = {}
    for folder in folders:
        if not folder.is_dir():
            continue
        folder_inside = allow_symlinks or _within(os.path.realpath(folder), real_root)
        with os.scandir(folder) as entries:
            for entry in entries:
                if not (entry.name.lower().endswith(suffix) and entry.is_file()):
                    continue
                rel = os.path.relpath(entry.path, root)
                if folder_inside and (
                    allow_symlinks
                    or not entry.is_symlink()
                    or _within(os.path.realpath(entry.path), real_root)
                ):
                    index.setdefault(entry.name, rel)
                else:
                    outside.setdefault(entry.name, rel)
    if escaped is not None:
        escaped.update((name, rel) for name, rel in outside.items() if name not in index)
    return index


@dataclass
class SourceFolder:
    """The path checks every record of one source folder goes through."""

    root: Path
    rejects: Rejects
    allow_symlinks: bool = False
    base: str = field(init=False)
    real: str = field(init=False)
    # files `index_files` found only through links leading outside: name -> path
    escaped: dict[str, str] = field(init=False, default_factory=dict)
    _folders: dict[str, str] = field(init=False, default_factory=dict, repr=False)
    _last: tuple[str, bool] = field(init=False, default=("", False), repr=False)

    def __post_init__(self) -> None:
        self.base = os.path.abspath(self.root)
        self.real = os.path.realpath(self.root)

    def inside(
        self, relpath: str, *, file: str, row: int | None, sample_id: str | None
    ) -> str | None:
        """`root/relpath`, or None (and an `outside_raw_root` reject) when it escapes
        `root`, on paper or through a symbolic link. Checked before anything else so a
        hostile path is never opened."""
        path, detail = self.locate(relpath)
        if detail is not None:
            self.rejects.add("outside_raw_root", detail, file=file, row=row, sample_id=sample_id)
        return path

    def locate(self, relpath: str) -> tuple[str | None, str | None]:
        """`inside` without the reject: the path, or None and why it is refused."""
        path = _resolve(self.base, relpath)
        if path is None:
            detail = f"path {relpath!r} points outside {self.root.name}/"
        elif relpath in self.escaped:
            detail = (
                f"image {self.escaped[relpath]!r} is a symbolic link (or in a linked folder) "
                f"leading outside {self.root.name}/"
            )
        elif not self.allow_symlinks and not _within(self._real(path), self.real):
            detail = f"path {relpath!r} leads outside {self.root.name}/ through a symbolic link"
        else:
            return path, None
        return None, detail

    def exists(self, path: str, *, file: str, row: int | None, sample_id: str | None) -> bool:
        """True for a regular file (one stat, none when `inside` just saw it); otherwise a
        `missing_file` reject."""
        seen, regular = self._last
        if (regular and seen == path) or os.path.isfile(path):
            return True
        self.rejects.add(
            "missing_file",
            f"image {os.path.relpath(path, self.root)!r} not found in {self.root.name}/",
            file=file,
            row=row,
            sample_id=sample_id,
        )
        return False

    def index_files(self, folders: list[Path], suffix: str) -> dict[str, str]:
        """`index_files` over this folder; a name found only through a link leading
        outside becomes an `outside_raw_root` reject when a record names it (`inside`)."""
        return index_files(
            self.root, folders, suffix, allow_symlinks=self.allow_symlinks, escaped=self.escaped
        )

    def _real(self, path: str) -> str:
        """Where `path` (absolute, normalised, under `base`) really is: its folder from
        the memo (resolved once per folder), then one `lstat` for the file itself, which
        `exists` reuses."""
        folder, name = os.path.split(path)
        target = os.path.join(self._real_folder(folder), name)
        try:
            mode = os.lstat(target).st_mode
        except OSError:
            mode = 0
        self._last = (path, stat.S_ISREG(mode))
        return os.path.realpath(target) if stat.S_ISLNK(mode) else target

    def _real_folder(self, folder: str) -> str:
        real = self._folders.get(folder)
        if real is None:
            if folder == self.base:
                real = self.real
            elif not folder.startswith(self.base + os.sep):
                real = os.path.realpath(folder)
            else:
                real = self._real(folder)
            self._folders[folder] = real
        return real
