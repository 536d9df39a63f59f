"""The 3D normalize params: YAML lists become typed tuples, a wrong value is a
`ValueError` naming `<collection>.normalize.<key>`."""

from __future__ import annotations

import pytest

from unimed_kedro.volumes.options import VolumeOptions, axcodes


def test_defaults_and_yaml_lists():
    default = VolumeOptions.from_params({"collection": "satds"})
    assert default == VolumeOptions()
    assert default.spacing == (1.0, 1.0, 3.0) and default.orientation == "RAS"
    options = VolumeOptions.from_params(
        {
            "collection": "satds",
            "spacing": [1, 1.5, 3],
            "ct_window": [-1000, 2000],
            "percentiles": [1, 99],
            "orientation_per_dataset": {"VerSe": "ASR"},
            "threads": 2,
        }
    )
    assert options.spacing == (1.0, 1.5, 3.0) and isinstance(options.spacing[0], float)
    assert options.ct_window == (-1000.0, 2000.0) and options.percentiles == (1.0, 99.0)
    assert options.orientation_of("VerSe") == "ASR" and options.orientation_of("BTCV") == "RAS"
    assert options.encoding()["orientation_per_dataset"] == {"VerSe": "ASR"}


@pytest.mark.parametrize(
    "change,message",
    [
        ({"spacing": [1, 0, 3]}, "satds.normalize.spacing: expected a list of 3 positive numbers"),
        ({"spacing": [1, 1]}, "satds.normalize.spacing: expected a list of 3 positive numbers"),
        ({"spacing": "1x1x3"}, "satds.normalize.spacing: expected a list of 3"),
        ({"spacing": [1, "a", 3]}, "satds.normalize.spacing[1]: expected a number"),
        ({"orientation": "RAA"}, "satds.normalize.orientation: expected three axis codes"),
        ({"orientation": "ras"}, "satds.normalize.orientation: expected three axis codes"),
        (
            {"orientation_per_dataset": {"VerSe": "XYZ"}},
            "satds.normalize.orientation_per_dataset.VerSe",
        ),
        (
            {"ct_window": [1000, -500]},
            "satds.normalize.ct_window: expected a list of 2 numbers, low then high",
        ),
        ({"percentiles": [-1, 99]}, "satds.normalize.percentiles[0]: expected a number >= 0"),
        (
            {"percentiles": [1, 101]},
            "satds.normalize.percentiles: expected percentiles from 0 to 100",
        ),
        ({"max_voxels": 0}, "satds.normalize.max_voxels: expected a positive integer"),
        ({"affine_tolerance": -1}, "satds.normalize.affine_tolerance: expected a number >= 0"),
        ({"crop_foreground": "yes"}, "satds.normalize.crop_foreground: expected true or false"),
        ({"chunk_size": 0}, "satds.normalize.chunk_size: expected a positive integer"),
        ({"threads": 0}, "satds.normalize.threads: expected an integer from 1 to 256"),
        ({"spacingg": [1, 1, 1]}, "satds.normalize.spacingg: unknown setting"),
    ],
)
def test_bad_values_name_the_setting(change, message):
    with pytest.raises(ValueError) as raised:
        VolumeOptions.from_params({"collection": "satds", **change})
    assert str(raised.value).startswith(message), str(raised.value)


@pytest.mark.parametrize("codes", ["RAS", "LPS", "PSR", "ASR", "IPL", "LAS"])
def test_axis_codes(codes):
    assert axcodes(codes, "x") == codes
