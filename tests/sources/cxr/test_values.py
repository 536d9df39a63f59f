import math

import pytest

from unimed_kedro.sources.base import Rejects
from unimed_kedro.sources.cxr.values import (
    harmonise,
    kept_age,
    normalise_view,
    parse_age,
    parse_label,
)


@pytest.mark.parametrize("cell,expected", [("1.0", 1.0), ("0.0", 0.0), ("-1.0", -1.0), ("1", 1.0)])
def test_parse_label_values(cell, expected):
    assert parse_label(cell, "Edema") == expected


def test_parse_label_blank_is_not_annotated():
    assert math.isnan(parse_label("  ", "Edema"))


@pytest.mark.parametrize("cell", ["2.5", "abc", "0.5"])
def test_parse_label_rejects_other_values_naming_column(cell):
    with pytest.raises(ValueError, match="'Edema'.*expected 1.0, 0.0, -1.0 or blank"):
        parse_label(cell, "Edema")


def test_parse_age_forms():
    assert parse_age("058Y", "Patient Age")[:2] == (58, None)
    assert parse_age("0", "Age")[:2] == (0, None)  # 0 is a real age unless a source says not
    assert math.isnan(parse_age("", "Age").years) and parse_age("", "Age").dropped is None
    with pytest.raises(ValueError, match="'Age'"):
        parse_age("old", "Age")


@pytest.mark.parametrize("cell", ["148", "413", "-1", "131Y"])
def test_impossible_age_is_unknown_with_the_reason(cell):
    age = parse_age(cell, "Patient Age")
    assert math.isnan(age.years)
    assert repr(cell) in age.dropped and "0..130" in age.dropped


def test_kept_age_notes_a_dropped_age_as_a_correction():
    rejects = Rejects("nih")
    where = {"file": "Data_Entry_2017.csv", "row": 5, "sample_id": "nih-00000001_000"}
    assert kept_age(parse_age("58", "Patient Age"), rejects, where) == 58
    assert math.isnan(kept_age(parse_age("413", "Patient Age"), rejects, where))
    assert rejects.rows == []  # a correction is never a reject
    assert [(c["reason"], c["row"], c["sample_id"]) for c in rejects.corrections] == [
        ("age_out_of_range", 5, "nih-00000001_000")
    ]


@pytest.mark.parametrize("cell", ["0", "0.0", " 0 "])
def test_a_placeholder_age_is_unknown_with_its_own_reason(cell):
    # CheXpert's train.csv writes Age 0 on 3 rows: its mark for an unrecorded age
    age = parse_age(cell, "Age", placeholder=0.0)
    assert math.isnan(age.years) and age.reason == "age_placeholder"
    assert repr(cell) in age.dropped and "placeholder" in age.dropped
    assert parse_age("1", "Age", placeholder=0.0)[:2] == (1, None)
    assert parse_age("148", "Age", placeholder=0.0).reason == "age_out_of_range"


def test_kept_age_notes_a_placeholder_age_as_its_correction():
    rejects = Rejects("chexpert")
    where = {
        "file": "train.csv",
        "row": 7,
        "sample_id": "chexpert-patient00006_study1_view1_frontal",
    }
    assert math.isnan(kept_age(parse_age("0", "Age", placeholder=0.0), rejects, where))
    assert rejects.rows == []
    assert [(c["reason"], c["row"]) for c in rejects.corrections] == [("age_placeholder", 7)]


def test_harmonise_priority_and_missing():
    mapping = {"Infiltration": "infiltration", "Infiltrate": "infiltration", "Mass": "mass"}
    out = harmonise({"Infiltration": 0.0, "Infiltrate": 1.0, "Mass": math.nan}, mapping)
    assert out == {"label_infiltration": 1.0}


def test_normalise_view(vocabulary):
    views = vocabulary["views"]
    assert normalise_view("pa", views) == "PA"
    assert normalise_view("", views) == "UNKNOWN"
    assert normalise_view("AP  AXIAL", views) == "AP"
    assert normalise_view("SWIMMERS", views) == "SWIMMERS"
