"""`<collection>.ingest.allow_symlinks` is one setting read by ingest and the normalize
workers: raw data tracked by DVC with `cache.type: symlink` is all links leading outside
raw_root (into .dvc/cache). With the opt-in, such a record is kept at ingest and its image
read by the worker; without it, the record is an `outside_raw_root` reject at ingest, and
nothing reaches the workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_rows
from tests.sources.cxr.test_nih import V2020
from tests.sources.helpers import write_png
from unimed_kedro.sources.base import RawSource
from unimed_kedro.stages.ingest.nodes import ingest_source
from unimed_kedro.stages.normalize.nodes import plan_normalize

NORMALIZE = {
    "collection": "cxr",
    "image_size": 128,
    "validation": {"default": {"min_side": 100, "min_bytes": 100}},
}
INLINE = {"kind": "inline"}
LINKED = "nih-00000002_000"


@pytest.fixture
def raw_root(tmp_path: Path) -> Path:
    """raw/chest_xray8 with one plain image and one that is a link into a DVC-like cache
    outside raw data."""
    raw = tmp_path / "raw"
    root = raw / "chest_xray8"
    write_png(root / "images" / "00000001_000.png")
    cache = tmp_path / ".dvc" / "cache" / "files" / "md5" / "ab"
    write_png(cache / "cdef0123", seed=1)
    (root / "images" / "00000002_000.png").symlink_to(cache / "cdef0123")
    rows = [
        V2020,
        "00000001_000.png,Mass,0,1,58,M,PA,2682,2749,0.143,0.143",
        "00000002_000.png,Edema,0,2,60,F,PA,2682,2749,0.143,0.143",
    ]
    (root / "Data_Entry_2017_v2020.csv").write_text("\n".join(rows) + "\n")
    return raw


def _build(raw_root: Path, vocabulary: dict, ingest: dict, out: Path):
    raw = RawSource("nih", raw_root / "chest_xray8")
    manifest, rejects, info, _ = ingest_source(raw, vocabulary, ingest)
    job = plan_normalize(manifest, {"nih": info}, NORMALIZE, ingest, INLINE, str(raw_root))
    rows = run_rows(job, out) if len(manifest) else []
    return manifest, rejects, {row["sample_id"]: row for row in rows}


def test_with_the_opt_in_a_linked_file_is_kept_and_read(raw_root, vocabulary, tmp_path):
    ingest = {"collection": "cxr", "allow_symlinks": True}
    manifest, rejects, rows = _build(raw_root, vocabulary, ingest, tmp_path / "store")
    assert LINKED in manifest["sample_id"].tolist() and len(rejects) == 0
    assert rows[LINKED]["status"] == "ok", rows[LINKED]
    assert (tmp_path / "store" / rows[LINKED]["file"]).is_file()


def test_without_it_the_linked_file_is_rejected_at_ingest(raw_root, vocabulary, tmp_path):
    ingest = {"collection": "cxr", "allow_symlinks": False}
    manifest, rejects, rows = _build(raw_root, vocabulary, ingest, tmp_path / "store")
    assert manifest["sample_id"].tolist() == ["nih-00000001_000"]
    assert rejects[["reason", "sample_id"]].values.tolist() == [["outside_raw_root", LINKED]]
    assert list(rows) == ["nih-00000001_000"] and rows["nih-00000001_000"]["status"] == "ok"


def test_a_bad_ingest_setting_names_the_param(raw_root, vocabulary):
    raw = RawSource("nih", raw_root / "chest_xray8")
    with pytest.raises(ValueError, match=r"^cxr\.ingest\.allow_symlinks: expected true or false"):
        ingest_source(raw, vocabulary, {"collection": "cxr", "allow_symlinks": "yes"})
    with pytest.raises(ValueError, match=r"^cxr\.ingest\.allow_symlink: unknown setting"):
        ingest_source(raw, vocabulary, {"collection": "cxr", "allow_symlink": True})
