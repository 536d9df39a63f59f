"""The source registry: every entry resolves to a reader, folders are unique, and a source
known by config alone (a registry entry of a family reader) is read with no module of its
own."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.sources.helpers import write_png
from unimed_kedro.schema import make_sample_id
from unimed_kedro.sources import registry
from unimed_kedro.sources.base import LayoutError, RawSource, Source, SourceInfo
from unimed_kedro.sources.registry import SourceEntry, entries, entry
from unimed_kedro.stages.ingest.nodes import ingest_source


def test_every_entry_names_a_source_reader_and_its_own_folder():
    by_folder: dict[str, list[SourceEntry]] = {}
    for found in entries().values():
        by_folder.setdefault(found.folder, []).append(found)
    for folder, shared in by_folder.items():
        if len(shared) > 1:  # one folder, several datasets (TotalSegmentator's six)
            modules = {e.reader.partition(":")[0] for e in shared}
            assert len(modules) == 1, f"{folder}: read by one family module"
            groups = {e.options.get("patient_group") for e in shared}
            assert len(groups) == 1, f"{folder}: patients not shared"
    for name, found in entries().items():
        assert issubclass(found.reader_class(), Source), name
        assert found.describe().name == name


def test_unknown_source_names_the_known_ones():
    with pytest.raises(KeyError, match="known sources: .*chexpert"):
        entry("no-such-source")


class FlatFolder(Source):
    """A family reader for tests: every PNG directly in the folder is one record; what the
    source says about itself comes from its registry entry."""

    @classmethod
    def describe(cls, name: str, options: Mapping[str, Any]) -> SourceInfo:
        return SourceInfo(name, options["title"], options["license"], False, "", "none")

    def layout(self) -> list[Path]:
        found = sorted(self.root.glob("*.png"))
        if not found:
            raise LayoutError(f"{self.root}: expected PNG files")
        return found

    def records(self, layout: list[Path]) -> Iterator[dict]:
        for path in layout:
            sample_id = make_sample_id(self.source.name, path.stem)
            yield {
                "sample_id": sample_id,
                "source": self.source.name,
                "patient_id": f"{self.source.name}:{path.stem}",
                "study_id": path.stem,
                "raw_relpath": path.name,
                "license": self.source.license,
                "_file": path.name,
                "_row": None,
            }


def test_a_source_known_by_config_alone_is_ingested(tmp_path, vocabulary, monkeypatch):
    config_only = SourceEntry(
        "toyset", "Toy_Set", f"{__name__}:FlatFolder", {"title": "Toy set", "license": "CC BY 4.0"}
    )
    monkeypatch.setitem(entries(), "toyset", config_only)
    for stem in ("B.2", "a 1"):
        write_png(tmp_path / "Toy_Set" / f"{stem}.png")
    raw = RawSource("toyset", tmp_path / "Toy_Set")
    manifest, rejects, info, _ = ingest_source(raw, vocabulary)
    assert manifest["sample_id"].tolist() == ["toyset-a_1", "toyset-b_2"]
    assert set(manifest["license"]) == {"CC BY 4.0"} and len(rejects) == 0
    assert info["title"] == "Toy set" and info["folder"] == "Toy_Set" and info["present"]


def test_registry_reads_every_family_file():
    assert {"chexpert", "nih", "mimic", "openi"} <= set(registry.entries())
