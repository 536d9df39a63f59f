"""Captions of image–text pairs: shipped texts first, else the source's templates."""

from __future__ import annotations

import json

import pandas as pd

from unimed_kedro.captions.imagetext import caption_pairs, mixed_captions

PARAMS = {
    "seed": 1,
    "templates": {
        "default": ["A {modality} image showing {findings}."],
        "radimagenet": ["A {modality} scan showing {findings}.", "{modality}: {findings}."],
    },
    "others": {"x": 1},
}


def records() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sample_id": ["quilt_1m-a", "radimagenet-b", "pmc_oa-c"],
            "source": ["quilt_1m", "radimagenet", "pmc_oa"],
            "modality": ["pathology", "CT", None],
            "findings": [[], ["lung", "normal"], []],
            "dataset": [None, None, None],
            "source_captions": [["one", "two"], [], []],
        }
    )


def test_shipped_captions_win_and_templates_fill_label_only_images() -> None:
    out = caption_pairs(records(), {}, PARAMS, {})
    lists = [json.loads(c) for c in out["captions"]]
    assert lists[0] == ["one", "two"] and out["caption"][0] in {"one", "two"}
    assert lists[1] == ["A CT scan showing lung, normal.", "CT: lung, normal."]
    assert lists[2] == ["A medical image showing no specific finding."]
    assert out["caption_kind"].tolist() == ["source_captions", "template", "template"]
    again = caption_pairs(records().iloc[::-1], {}, PARAMS, {})  # order does not matter
    assert dict(zip(again["sample_id"], again["caption"])) == dict(
        zip(out["sample_id"], out["caption"])
    )


def test_other_sources_go_to_their_captioner_and_keep_a_caption_list() -> None:
    def others(frame, sources, params, vocabulary):
        assert params == {"x": 1}
        return frame.assign(caption="from report", caption_kind="report")

    out = mixed_captions(records(), {}, PARAMS, {}, others=others, other_sources=["pmc_oa"])
    row = out.set_index("sample_id").loc["pmc_oa-c"]
    assert row["caption"] == "from report" and json.loads(row["captions"]) == ["from report"]
    assert out["sample_id"].tolist() == sorted(out["sample_id"])
