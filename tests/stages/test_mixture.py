"""open_clip's mixture.json from the shard index, checked against the shards written."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from unimed_kedro.stages.export.mixture import mixture, statistics_with_holdout

PARAMS = {"collection": "unimed", "seed": 1, "shards_by": "source", "upsampling": {"rocov2": 2}}


def index() -> pd.DataFrame:
    shards = ["rocov2_webdataset/rocov2-000000.tar"] * 2 + ["rocov2_webdataset/rocov2-000001.tar"]
    shards += ["chest_xray8_webdataset/chest_xray8-000000.tar"]
    return pd.DataFrame(
        {
            "sample_id": ["r1", "r2", "r3", "n1"],
            "folder": ["rocov2"] * 3 + ["chest_xray8"],
            "webdataset_shard": shards,
        }
    )


def written(root: Path) -> dict[str, list[Path]]:
    return {
        "rocov2_webdataset": [root / "a.tar", root / "b.tar"],
        "chest_xray8_webdataset": [root / "c.tar"],
    }


def test_mixture_lists_every_folder_with_brace_patterns(tmp_path: Path) -> None:
    mix = mixture(index(), written(tmp_path), PARAMS)
    assert mix["train_data"] == (
        "chest_xray8_webdataset/chest_xray8-{000000..000000}.tar::"
        "rocov2_webdataset/rocov2-{000000..000001}.tar"
    )
    assert mix["upsampling_factors"] == "1.0::2.0"
    assert mix["train_num_samples"] == 4
    assert [s["samples"] for s in mix["sources"]] == [1, 3]


def test_a_shard_count_that_differs_from_the_plan_is_an_error(tmp_path: Path) -> None:
    shards = written(tmp_path)
    shards["rocov2_webdataset"].pop()
    with pytest.raises(ValueError, match="1 shards written, 2 planned"):
        mixture(index(), shards, PARAMS)


def test_held_out_records_are_counted_apart_from_rejects() -> None:
    records = pd.DataFrame({"source": ["a", "a", "a"], "sample_id": ["1", "2", "3"]})
    exported = pd.DataFrame(
        {"source": ["a"], "sample_id": ["1"], "patient_id": ["p"], "split": ["train"]}
    )
    rejects = pd.DataFrame(
        {
            "source": ["a", "a"],
            "stage": ["holdout", "dedup"],
            "reason": ["official_eval_split", "duplicate"],
        }
    )
    stats = statistics_with_holdout(records, exported, rejects)["sources"]["a"]
    assert (stats["raw_records"], stats["exported"], stats["rejected"], stats["held_out"]) == (
        3,
        1,
        1,
        1,
    )
    assert stats["conserved"]
