"""Every known source by name: its folder under raw_root and the class that reads it.

Each family folder holds a `registry.yml` (`<name>: {folder, reader, ...}`); the entries of
all families form one registry, readable before Kedro loads any parameter (a collection's
pipeline needs its source list to be built). An entry's other keys are handed to its
reader, so a dataset that fits a family's layout needs an entry, not a module.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from unimed_kedro.sources.base import Source, SourceInfo


@dataclass(frozen=True)
class SourceEntry:
    name: str
    folder: str
    reader: str  # "module:Class"
    options: dict[str, Any] = field(default_factory=dict)

    def reader_class(self) -> type[Source]:
        module, _, name = self.reader.partition(":")
        return getattr(importlib.import_module(module), name)

    def describe(self) -> SourceInfo:
        return self.reader_class().describe(self.name, self.options)

    def open(
        self, root: Path, vocabulary: Mapping[str, Any], *, allow_symlinks: bool = False
    ) -> Source:
        """The entry's reader on `root` (its folder under raw_root)."""
        return self.reader_class()(
            root, vocabulary, name=self.name, options=self.options, allow_symlinks=allow_symlinks
        )


@functools.cache
def entries() -> dict[str, SourceEntry]:
    found: dict[str, SourceEntry] = {}
    for family in sorted(resources.files("unimed_kedro.sources").iterdir(), key=str):
        registry = family / "registry.yml"
        if not registry.is_file():
            continue
        for name, spec in (yaml.safe_load(registry.read_text(encoding="utf-8")) or {}).items():
            if name in found:
                raise ValueError(f"source {name!r} is listed twice ({registry})")
            spec = dict(spec)
            found[name] = SourceEntry(name, spec.pop("folder"), spec.pop("reader"), spec)
    return found


def entry(name: str) -> SourceEntry:
    try:
        return entries()[name]
    except KeyError:
        raise KeyError(f"unknown source {name!r}; known sources: {sorted(entries())}") from None
