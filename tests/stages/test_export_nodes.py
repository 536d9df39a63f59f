"""Export node behaviour on edge cases that need no sample build."""

import pickle

import numpy as np
import pandas as pd
import pytest

from tests.conftest import CXR_SOURCES, source_infos
from unimed_kedro.datasets.chunk_store_dataset import ChunkStore
from unimed_kedro.datasets.files_layout_dataset import FilesLayoutDataset
from unimed_kedro.schema import tables
from unimed_kedro.schema.tables import Table, frame_of
from unimed_kedro.stages.export.nodes import build_shard_index, plan_files

SOURCES = source_infos(CXR_SOURCES)
PARAMS = {"collection": "cxr", "seed": 1, "shard_maxcount": 2, "redistributable_only": False}


def _samples(sources):
    return pd.DataFrame(
        {
            "sample_id": [f"{s}-{i}" for i, s in enumerate(sources)],
            "source": sources,
            "split": ["train"] * len(sources),
            "raw_relpath": ["x.png"] * len(sources),
            "license": ["L"] * len(sources),
        }
    )


def _index(samples, params=PARAMS):
    index, rejects = build_shard_index(samples, SOURCES, params)
    return frame_of(index), rejects


def test_shards_roll_over_and_licence_filter_rejects():
    index, rejects = _index(_samples(["nih", "nih", "nih", "mimic"]))
    assert sorted(index["webdataset_shard"].value_counts().tolist()) == [2, 2]
    assert len(rejects) == 0
    index, rejects = _index(_samples(["nih", "mimic"]), {**PARAMS, "redistributable_only": True})
    assert list(index["source"]) == ["nih"]
    assert list(rejects["reason"]) == ["license_excluded"]


def test_no_samples_left_is_not_a_crash():
    index, rejects = _index(_samples([]))
    assert len(index) == 0 and len(rejects) == 0


def test_a_table_on_disk_gives_the_index_a_frame_gives(tmp_path, monkeypatch):
    """Read and reordered a few rows at a time (buckets on disk), the index is the one
    planned from the whole frame: same rows, same order, same columns."""
    samples = _samples(["nih", "mimic", "nih", "openi", "nih", "mimic", "nih"] * 3)
    samples.to_parquet(tmp_path / "samples.parquet")
    monkeypatch.setattr(tables, "BATCH", 4)
    whole, _ = _index(samples)
    streamed, _ = build_shard_index(Table(tmp_path / "samples.parquet"), SOURCES, PARAMS)
    parts = list(streamed)
    assert len(parts) == 6 and all(len(p) <= 4 for p in parts)
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), whole)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["samples.parquet"]  # buckets gone


def _exported(sources):
    samples = _samples(sources)
    n, text = len(samples), ["patient_id", "study_id", "view", "sex", "official_split", "sha256"]
    return samples.assign(
        **{c: [f"{c}-{i}" for i in range(n)] for c in [*text, "caption", "structured_caption"]},
        age=[40.0, None] * (n // 2) + [7.0] * (n % 2),
        width=8,
        height=8,
        image_ext="jpg",
        stored_bytes=6,
        encoding="e",
    )


def _files_layout(shard_index, store, out):
    params = {**PARAMS, "files_chunk_size": 4}
    plan = plan_files(shard_index, store, params, {"kind": "inline"})
    FilesLayoutDataset(path=str(out)).save(plan)
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and ".chunks" not in p.parts
    }


def test_the_files_layout_from_a_table_on_disk_is_the_one_a_frame_gives(tmp_path, monkeypatch):
    """Chunks name their rows of the shard index on disk and the master index (CSV and
    SQLite) is written a few rows at a time: the same bytes as from the whole frame."""
    samples = _exported(["nih", "mimic", "nih", "openi", "nih"] * 3)
    (tmp_path / "store").mkdir()
    for sample_id in samples["sample_id"]:
        (tmp_path / "store" / f"{sample_id}.jpg").write_bytes(b"pixels")
    store_index = samples[["sample_id", "stored_bytes"]].assign(file=samples["sample_id"] + ".jpg")
    store_index.iloc[::-1].to_parquet(tmp_path / "store" / "index.parquet")  # any order
    store = ChunkStore(tmp_path / "store")
    whole = frame_of(build_shard_index(samples, SOURCES, PARAMS)[0])
    whole.to_parquet(tmp_path / "shard_index.parquet", row_group_size=3)
    monkeypatch.setattr(tables, "BATCH", 4)
    on_disk = Table(tmp_path / "shard_index.parquet")
    from_frame = _files_layout(whole, store, tmp_path / "a")
    assert _files_layout(on_disk, store, tmp_path / "b") == from_frame
    csv = from_frame["metadata/master_index.csv"].decode().splitlines()
    names = [line.split(",")[0] for line in csv[1:]]
    assert len(names) == len(samples) and names == sorted(names)
    assert from_frame["captions/nih-0.txt"] == b"structured_caption-0"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # buckets gone


def test_the_store_locates_samples_in_the_order_asked(tmp_path):
    (tmp_path / "a").mkdir()
    index = pd.DataFrame(
        {"sample_id": ["s1", "s2", "s3"], "file": ["a/s1.jpg", None, "a/s3.jpg"]}
    ).assign(stored_bytes=[5, 0, 7])
    index.to_parquet(tmp_path / "index.parquet")
    store = ChunkStore(tmp_path)
    assert store.locations(["s3", "s1"]) == [
        (f"{tmp_path}/a/s3.jpg", 7),
        (f"{tmp_path}/a/s1.jpg", 5),
    ]
    with pytest.raises(KeyError, match="s2 has no stored file"):  # rejected: no file
        store.locations(["s1", "s2"])
    part = store.located(["s1", "s3", "s1"]).take(np.array([2]))
    assert list(pickle.loads(pickle.dumps(part))) == [(f"{tmp_path}/a/s1.jpg", 5)]
