"""A segmentation sample's class list: synonyms, then merges in order (SAT-DS's loader
rules written as config)."""

from __future__ import annotations

import pandas as pd

from unimed_kedro.captions.segmentation import label_records, merged_labels

VOCABULARY = {
    "synonyms": {
        "kidney_left": "left kidney",
        "Kidney (R)": "right kidney",
        "TZ": "transition zone of prostate",
    },
    "merges": [
        {"into": "kidney", "from": ["left kidney", "right kidney"]},
        {"into": "kidney", "from": ["kidney", "kidney tumor", "kidney cyst"]},
        {"into": "liver", "from": ["liver", "liver tumor"], "datasets": ["MSD_Liver"]},
    ],
}


def records(names: list[str], keys: list[str], dataset: str = "X") -> pd.DataFrame:
    return pd.DataFrame({"declared_names": [names], "declared_keys": [keys], "dataset": [dataset]})


def test_synonyms_ignore_case_and_underscores_then_merges_add_a_label() -> None:
    out = label_records(records(["KIDNEY_LEFT", "kidney (r)"], ["1", "2"]), {}, {}, VOCABULARY)
    assert out["label"][0] == ["left kidney", "right kidney", "kidney"]
    assert out["parts"][0] == [["1"], ["2"], ["1", "2"]]


def test_a_merge_into_a_present_label_extends_it_and_rules_chain() -> None:
    names = ["left kidney", "right kidney", "kidney tumor", "kidney cyst"]
    label, parts = merged_labels(names, ["1", "2", "3", "4"], "KiTS", VOCABULARY["merges"])
    assert label == [*names, "kidney"]
    assert parts[-1] == ["1", "2", "3", "4"]  # left + right, then += tumor + cyst


def test_a_rule_for_other_datasets_or_with_a_part_missing_does_not_apply() -> None:
    rules = VOCABULARY["merges"]
    assert merged_labels(["liver", "liver tumor"], ["1", "2"], "LiTS", rules)[1] == [["1"], ["2"]]
    assert merged_labels(["liver", "liver tumor"], ["1", "2"], "MSD_Liver", rules)[1] == [
        ["1", "2"],
        ["2"],
    ]
    assert merged_labels(["left kidney"], ["1"], "X", rules)[0] == ["left kidney"]
