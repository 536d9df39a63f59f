"""Acceptance of the `cxr` collection on generated sample data (issue: cxr end to end)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sqlite3
import tarfile
from pathlib import Path

import pandas as pd
import webdataset as wds

from tests.pipelines.conftest import build, kedro_run
from unimed_kedro.schema import REJECT_COLUMNS

JSON_FIELDS = {
    "sample_id",
    "source",
    "patient_id",
    "study_id",
    "view",
    "sex",
    "age",
    "labels",
    "report",
    "split",
    "official_split",
    "license",
    "sha256",
    "raw_relpath",
    "original_size",
    "stored_size",
    "caption_kind",
}


def _shards(build_, split=None):
    pattern = f"{split}/*.tar" if split else "*/*.tar"
    return sorted((build_.out / "webdataset").glob(pattern))


def test_shards_read_back_with_webdataset(cxr_build):
    seen = 0
    for shard in _shards(cxr_build):
        dataset = wds.WebDataset(str(shard), shardshuffle=False).decode("pil")
        for sample in dataset:
            meta = sample["json"]
            assert sample["jpg"].size == (
                meta["stored_size"]["width"],
                meta["stored_size"]["height"],
            )
            assert min(sample["jpg"].size) <= 512
            assert sample["txt"].strip()
            assert set(meta) >= JSON_FIELDS, JSON_FIELDS - set(meta)
            assert meta["sample_id"] == sample["__key__"]
            assert meta["split"] == shard.parent.name
            assert set(meta["labels"].values()) <= {1, 0, -1, None}
            seen += 1
    assert seen == cxr_build.statistics()["exported"] > 0


def test_every_raw_record_is_exported_or_rejected(cxr_build):
    stats = cxr_build.statistics()
    rejects = pd.read_csv(cxr_build.reports / "rejects.csv")
    assert rejects["reason"].notna().all() and rejects["detail"].notna().all()
    for source, expected in cxr_build.expected.items():
        got = stats["sources"][source]
        assert got["raw_records"] == expected["records"], source
        assert got["exported"] + got["rejected"] == expected["records"], source
        assert got["rejected_by_reason"] == expected["rejects"], source
        assert got["conserved"]


def test_corrections_are_listed_apart_and_their_samples_exported(cxr_build):
    corrections = pd.read_csv(cxr_build.reports / "corrections.csv")
    assert list(corrections.columns) == REJECT_COLUMNS
    got = {
        source: part["reason"].value_counts().to_dict()
        for source, part in corrections.groupby("source")
    }
    assert got == {s: e["corrections"] for s, e in cxr_build.expected.items() if e["corrections"]}
    samples = pd.read_parquet(cxr_build.features / "samples.parquet").set_index("sample_id")
    corrected = samples.loc[corrections["sample_id"]]  # exported, not rejected
    assert corrected["age"].isna().all()
    rejects = pd.read_csv(cxr_build.reports / "rejects.csv")
    assert not set(corrections["sample_id"]) & set(rejects["sample_id"].dropna())
    assert not set(corrections["reason"]) & set(rejects["reason"])
    card = (cxr_build.reports / "datacard.md").read_text(encoding="utf-8")
    assert "## Corrections" in card
    # columns: reason, chexpert, nih, total (CheXpert's Age 0 is a placeholder)
    assert "| age_out_of_range | 0 | 1 | 1 |" in card
    assert "| age_placeholder | 2 | 0 | 2 |" in card


def test_paths_outside_raw_root_are_rejected_not_read(cxr_build):
    rejects = pd.read_csv(cxr_build.reports / "rejects.csv")
    outside = rejects[rejects["reason"].eq("outside_raw_root")]
    assert set(outside["source"]) == {
        s for s, e in cxr_build.expected.items() if e["rejects"].get("outside_raw_root")
    }
    assert outside["detail"].str.contains("points outside").all()


def test_no_patient_or_duplicate_image_in_two_splits(cxr_build):
    samples = pd.read_parquet(cxr_build.features / "samples.parquet")
    assert samples.groupby("patient_id")["split"].nunique().max() == 1
    assert samples.groupby("sha256")["split"].nunique().max() == 1
    assert set(samples["split"]) == {"train", "val", "test"}


def test_official_test_and_val_splits_are_kept(cxr_build):
    samples = pd.read_parquet(cxr_build.features / "samples.parquet")
    official = samples[samples["official_split"].isin(["test", "val"])]
    assert len(official) and (official["split"] == official["official_split"]).all()
    # in a source with an official test split, its other rows never go to test
    with_test = set(samples.loc[samples["official_split"].eq("test"), "source"])
    others = samples[samples["source"].isin(with_test) & ~samples["official_split"].eq("test")]
    assert with_test and not others["split"].eq("test").any()


def test_sizes_json_matches_shards(cxr_build):
    split_dirs = [d for d in (cxr_build.out / "webdataset").iterdir() if d.name[0] != "."]
    assert sorted(d.name for d in split_dirs) == ["test", "train", "val"]
    for split_dir in sorted(split_dirs):
        sizes = json.loads((split_dir / "sizes.json").read_text())
        counted = {}
        for shard in sorted(split_dir.glob("*.tar")):
            with tarfile.open(shard) as tar:
                counted[shard.name] = len({m.name.split(".")[0] for m in tar.getmembers()})
        assert sizes == counted
        assert all(name.startswith(f"cxr-{split_dir.name}-") for name in sizes)


def test_keys_unique_dot_free_and_tar_metadata_fixed(cxr_build):
    keys = []
    for shard in _shards(cxr_build):
        with tarfile.open(shard) as tar:
            members = tar.getmembers()
        assert all(m.mtime == 0 and m.uid == 0 and m.mode == 0o444 for m in members)
        keys += sorted({m.name.rsplit(".", 1)[0] for m in members})
    assert len(keys) == len(set(keys))
    assert all("." not in k and k == k.lower() for k in keys)


def test_sqlite_and_csv_index_agree_with_shards(cxr_build):
    files = cxr_build.out / "files"
    csv_index = pd.read_csv(files / "metadata" / "master_index.csv")
    with sqlite3.connect(files / "metadata" / "master_index.db") as db:
        sql_index = pd.read_sql("SELECT * FROM master_index ORDER BY filename", db)
    pd.testing.assert_frame_equal(csv_index, sql_index, check_dtype=False)
    in_shards = {}
    for shard in _shards(cxr_build):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                if member.name.endswith(".jpg"):
                    data = tar.extractfile(member).read()
                    in_shards[member.name] = (
                        hashlib.sha256(data).hexdigest(),
                        f"{shard.parent.name}/{shard.name}",
                    )
    assert set(csv_index["filename"]) == set(in_shards)
    for row in csv_index.itertuples():
        image = (files / row.image_path).read_bytes()
        assert (hashlib.sha256(image).hexdigest(), row.webdataset_shard) == in_shards[row.filename]
        caption = (files / row.caption_path).read_text()
        assert caption.startswith("SOURCE: ") and "=== STRUCTURED LABELS ===" in caption


def test_files_layout_images_are_links_to_the_store(cxr_build):
    """The layout's images cost no second copy: each is the store's file under another
    name (same inode), found through the store's index."""
    store = cxr_build.project / "data" / "04_feature" / "cxr" / "normalized_images"
    index = pd.read_parquet(store / "index.parquet").dropna(subset=["file"])
    inodes = {
        f"{s}.jpg": (store / f).stat().st_ino for s, f in zip(index["sample_id"], index["file"])
    }
    images = sorted((cxr_build.out / "files" / "Images").iterdir())
    assert images and all(p.stat().st_ino == inodes[p.name] for p in images)


def test_two_clean_runs_are_byte_identical(cxr_build, tmp_path):
    # a second clean build elsewhere, through the deprecated `--pipeline` spelling
    other = build(tmp_path, flag="--pipeline")
    assert other.digests() == cxr_build.digests()


def test_rerun_reuses_finished_chunks_and_changes_nothing(cxr_build):
    before = cxr_build.digests()
    log = kedro_run(
        cxr_build.project, "--pipelines", "cxr", "--params", f"raw_root={cxr_build.raw}"
    )
    # nothing changed: no job is even planned (engine.memo), no worker started, every
    # output is kept
    assert "starting the local workers" in cxr_build.log
    assert "to build" not in log and "starting the local workers" not in log, log
    for output in ("normalized_images", "webdataset", "files", "shard_index.parquet"):
        assert re.search(rf"{output}: unchanged inputs.*kept as it is", log), (output, log)
    assert cxr_build.digests() == before


def test_re_encoded_images_reach_both_layouts(cxr_build, tmp_path):
    # a copy of the finished project, re-run with another JPEG quality: the stored images
    # change, so every shard and every files-layout image is written again
    project = tmp_path / "project"
    shutil.copytree(cxr_build.project, project, symlinks=True)
    log = kedro_run(
        project,
        "--pipelines",
        "cxr",
        "--params",
        f"raw_root={cxr_build.raw},cxr.normalize.quality=60",
    )
    assert "files layout: 0 of" in log and "webdataset: 0 of" in log
    rebuilt = type(cxr_build)(project, cxr_build.raw, cxr_build.expected, log)
    before, after = cxr_build.digests(), rebuilt.digests()
    images = [p for p in before if "/Images/" in p]
    assert images and all(before[p] != after[p] for p in images)
    in_shards = {}
    for shard in _shards(rebuilt):
        with tarfile.open(shard) as tar:
            in_shards.update(
                {
                    m.name: hashlib.sha256(tar.extractfile(m).read()).hexdigest()
                    for m in tar.getmembers()
                    if m.name.endswith(".jpg")
                }
            )
    assert {Path(p).name: after[p] for p in images} == in_shards
