"""A folder of small files (one JSONL or JSON per dataset, PNG overlays per dataset),
saved so that no file of a previous build with other datasets stays behind and a killed
run leaves the previous files whole."""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractDataset, DatasetError
from kedro_datasets._typing import ImagePreview

from unimed_kedro.datasets.previews import published_path
from unimed_kedro.engine import memo
from unimed_kedro.io.atomic import atomic_dir, atomic_write_bytes, remove


class FileFolderDataset(AbstractDataset[dict, dict]):
    """Saves `{relative name: str or bytes}` as files under `path` (text as UTF-8); loads
    the same mapping (bytes for a `binary` folder, else text).

    Without `inventory` the folder is this dataset's alone and is replaced whole. With it,
    the folder is shared with other outputs (the collection's reports): the dataset owns
    the top-level folders its names start with, each replaced whole, and lists them in
    the `inventory` file so that the next save removes those it no longer writes."""

    def __init__(
        self,
        *,
        path: str,
        binary: bool = False,
        inventory: str | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        self._path = Path(path)
        self._binary = binary
        self._inventory = inventory
        self.metadata = metadata

    def save(self, data: dict | memo.Deferred) -> None:
        memo.save(self._path, data, self._write, repr(self._describe()))

    def _write(self, data: dict) -> None:
        groups: dict[str, dict[str, Any]] = defaultdict(dict)
        for name, content in data.items():
            parts = PurePosixPath(name).parts
            if not parts or ".." in parts or PurePosixPath(name).is_absolute():
                raise DatasetError(f"{self._path}: file name {name!r} leaves the folder")
            if self._inventory and len(parts) < 2:
                raise DatasetError(f"{self._path}: {name!r} is not inside a dataset folder")
            head, rest = (parts[0], "/".join(parts[1:])) if self._inventory else ("", name)
            groups[head][rest] = content
        if not self._inventory:
            _write_folder(self._path, groups.get("", {}))
            return
        for head in sorted(set(self._owned()) - set(groups)):
            remove(self._path / head)
        for head, files in sorted(groups.items()):
            _write_folder(self._path / head, files)
        listing = json.dumps(sorted(groups), indent=1).encode() + b"\n"
        atomic_write_bytes(self._path / self._inventory, listing)

    def _owned(self) -> list[str]:
        path = self._path / str(self._inventory)
        try:
            owned = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        return [h for h in owned if isinstance(h, str) and h and "/" not in h and h != ".."]

    def _names(self) -> list[Path]:
        roots = [self._path / h for h in self._owned()] if self._inventory else [self._path]
        return sorted(p for root in roots for p in root.rglob("*") if p.is_file())

    def load(self) -> dict:
        read = (lambda p: p.read_bytes()) if self._binary else (lambda p: p.read_text("utf-8"))
        return {p.relative_to(self._path).as_posix(): read(p) for p in self._names()}

    def _exists(self) -> bool:
        return self._path.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"path": published_path(self._path), "binary": self._binary}

    def preview(self) -> ImagePreview:
        """The first PNG (an overlay), for kedro-viz; empty when there is none."""
        pngs = [p for p in self._names() if p.suffix == ".png"]
        return ImagePreview(base64.b64encode(pngs[0].read_bytes()).decode() if pngs else "")


def _write_folder(path: Path, files: dict[str, Any]) -> None:
    with atomic_dir(path) as folder:
        for name, content in sorted(files.items()):
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
