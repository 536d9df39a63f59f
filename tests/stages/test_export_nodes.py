"""Export node behaviour on edge cases that need no sample build."""

import pandas as pd

from tests.conftest import CXR_SOURCES, source_infos
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


def test_shards_roll_over_and_licence_filter_rejects():
    index, rejects = build_shard_index(_samples(["nih", "nih", "nih", "mimic"]), SOURCES, PARAMS)
    assert sorted(index["webdataset_shard"].value_counts().tolist()) == [2, 2]
    assert len(rejects) == 0
    index, rejects = build_shard_index(
        _samples(["nih", "mimic"]), SOURCES, {**PARAMS, "redistributable_only": True}
    )
    assert list(index["source"]) == ["nih"]
    assert list(rejects["reason"]) == ["license_excluded"]


def test_no_samples_left_is_not_a_crash():
    index, rejects = build_shard_index(_samples([]), SOURCES, PARAMS)
    assert len(index) == 0 and len(rejects) == 0
