"""Export node behaviour on edge cases that need no sample build."""

import pandas as pd

from tests.conftest import CXR_SOURCES, source_infos
from unimed_kedro.schema import tables
from unimed_kedro.schema.tables import Table, frame_of
from unimed_kedro.stages.export.nodes import build_shard_index

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
