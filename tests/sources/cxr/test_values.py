import math

import pytest

from unimed_kedro.sources.cxr.values import harmonise, normalise_view, parse_age, parse_label


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
    assert parse_age("058Y", "Patient Age") == 58
    assert parse_age("0", "Age") == 0
    assert math.isnan(parse_age("", "Age"))
    with pytest.raises(ValueError, match="'Age'"):
        parse_age("old", "Age")


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
