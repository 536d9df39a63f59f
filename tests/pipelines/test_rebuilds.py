"""Outputs hold exactly what the last build decided: a rebuild with other settings in the
same project leaves no file of the previous build in any output folder, and loses nothing
the new build keeps. Each rebuild is compared with a fresh build made with its settings."""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image, ImageOps

from tests.pipelines.conftest import Build, build, kedro_run

LICENCE_GATED = "cxr.export.redistributable_only=true"


def _rebuild(first: Build, params: str) -> Build:
    joined = ",".join(filter(None, [f"raw_root={first.raw}", params]))
    log = kedro_run(first.project, "--pipelines", "cxr", "--params", joined)
    return Build(first.project, first.raw, first.expected, log)


def _outputs(result: Build) -> dict[str, str]:
    return {p: d for p, d in result.digests().items() if "/.chunks/" not in p}


@pytest.fixture
def built(tmp_path) -> Build:
    """A default build in a project of its own: the tests rebuild it in place."""
    return build(tmp_path / "first")


def _sample_ids(result: Build) -> tuple[set[str], set[str]]:
    """(exported, held back by the licence filter) sample ids of a build."""
    index = pd.read_parquet(result.out / "shard_index.parquet", columns=["sample_id"])
    rejects = pd.read_parquet(result.out / "export_rejects.parquet")
    held = rejects.loc[rejects["reason"].eq("license_excluded"), "sample_id"]
    return set(index["sample_id"]), set(held)


def _file_keys(folder: Path) -> set[str]:
    """The sample keys the files in `folder` (anything in it, hidden ones too) are named by."""
    return {p.name.split(".", 1)[0] for p in folder.rglob("*") if p.is_file()}


def _member_keys(shards: Path) -> set[str]:
    """The sample keys of every member of every shard under `shards`."""
    keys = set()
    for shard in shards.rglob("*.tar"):
        with tarfile.open(shard) as tar:
            keys |= {name.split(".", 1)[0] for name in tar.getnames()}
    return keys


def test_a_licence_gated_rebuild_leaves_no_restricted_file(built, tmp_path):
    before, _ = _sample_ids(built)
    sources = json.loads((built.project / "data/02_intermediate/cxr/sources.json").read_text())
    restricted = {name for name, info in sources.items() if not info["redistributable"]}
    assert restricted and {s.split("-", 1)[0] for s in before} & restricted  # there were some

    gated = _rebuild(built, LICENCE_GATED)
    exported, held = _sample_ids(gated)
    assert exported and held and not exported & held
    assert {s.split("-", 1)[0] for s in exported}.isdisjoint(restricted)
    assert held == {s for s in before if s.split("-", 1)[0] in restricted}  # the rejects
    statistics = gated.statistics()
    assert all(s["conserved"] for s in statistics["sources"].values())
    # nothing of a restricted sample anywhere in the exported folders: images, captions,
    # shard members, the master index; every exported sample is there (nothing good lost)
    files, shards = gated.out / "files", gated.out / "webdataset"
    assert _file_keys(files / "Images") == exported
    assert _file_keys(files / "captions") == exported
    assert _member_keys(shards) == exported
    # a split with no redistributable sample is gone, and so is its folder of old shards
    splits = set(pd.read_parquet(gated.out / "shard_index.parquet", columns=["split"])["split"])
    assert splits < {"train", "val", "test"}
    assert {p.name for p in shards.iterdir()} == {".chunks", *splits}
    master = pd.read_csv(files / "metadata" / "master_index.csv")
    assert set(master["sample_id"]) == exported
    sizes = sum(sum(json.loads(p.read_text()).values()) for p in shards.glob("*/sizes.json"))
    assert sizes == len(exported)
    # exactly what a fresh build with these settings makes, file for file
    fresh = build(tmp_path / "fresh", params=LICENCE_GATED)
    assert _outputs(gated) == _outputs(fresh)


def test_a_rechunked_rebuild_loses_nothing_and_keeps_no_stale_shard(built, cxr_build):
    """Smaller files-layout chunks and shards, then the defaults again: fewer chunks now
    list the samples more chunks listed before; their files must stay, the surplus
    shards go."""
    small = _rebuild(built, "cxr.export.files_chunk_size=7,cxr.export.shard_maxcount=20")
    assert len(list((small.out / "webdataset" / "train").glob("*.tar"))) > 1
    again = _rebuild(small, "")
    assert _outputs(again) == _outputs(cxr_build)


def test_an_image_replaced_in_place_is_normalized_again(built):
    """Ingest reads the same tables from the folder (same names, same rows), so every
    table after it comes out byte-identical; the node memo must still send normalize
    to look again, and only that image's chunk is rebuilt."""
    raw = sorted((built.raw / "chest_xray8").rglob("*.png"))[0]
    with Image.open(raw) as image:
        ImageOps.invert(image.convert("L")).save(raw)
    before = _outputs(built)
    again = _rebuild(built, "")
    assert re.search(r"normalize: (\d+) of \1 chunks up to date", again.log) is None, again.log
    changed = {p for p, d in _outputs(again).items() if before.get(p) != d}
    images = [p for p in changed if "/files/Images/" in p]
    assert len(images) == 1 and raw.stem in images[0], changed
