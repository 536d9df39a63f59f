"""The normalize params are checked once, when the stage is planned: a wrong value is a
`ValueError` naming the parameter, never a run where every image is 'corrupt'."""

from __future__ import annotations

import pytest

from tests.conftest import load_conf
from unimed_kedro.imaging.normalize import encoding_id
from unimed_kedro.imaging.options import NormalizeOptions
from unimed_kedro.stages.normalize.nodes import normalize_options

GOOD = {"collection": "cxr", "image_size": 512, "chunk_size": 64}


def test_project_params_are_valid():
    params = load_conf("cxr/parameters.yml")["cxr"]["normalize"]
    options = normalize_options(params)
    assert options.image_size == 512 and options.allow_symlinks is False
    assert options.thresholds("nih")["min_side"] == 512
    assert options.thresholds("nih")["max_pixels"] == 40_000_000


@pytest.mark.parametrize(
    "change,message",
    [
        ({"image_size": "abc"}, "cxr.normalize.image_size: expected a positive integer, got 'abc'"),
        ({"image_size": 0}, "cxr.normalize.image_size: expected a positive integer, got 0"),
        ({"image_size": True}, "cxr.normalize.image_size: expected a positive integer, got True"),
        ({"quality": 200}, "cxr.normalize.quality: expected an integer from 1 to 100, got 200"),
        (
            {"format": "gif"},
            "cxr.normalize.format: expected one of ['jpeg', 'png', 'webp'], got 'gif'",
        ),
        (
            {"color_mode": "CMYK"},
            "cxr.normalize.color_mode: expected one of ['L', 'RGB'], got 'CMYK'",
        ),
        ({"resample": "cubic"}, "cxr.normalize.resample: expected one of"),
        ({"chunk_size": 0}, "cxr.normalize.chunk_size: expected a positive integer, got 0"),
        (
            {"allow_symlinks": True},
            "cxr.normalize.allow_symlinks: moved to cxr.ingest.allow_symlinks",
        ),
        ({"qualty": 80}, "cxr.normalize.qualty: unknown setting"),
        (
            {"validation": {"default": {"max_pixels": -1}}},
            "cxr.normalize.validation.default.max_pixels: expected a positive integer, got -1",
        ),
        (
            {"validation": {"per_source": {"nih": {"min_sid": 3}}}},
            "cxr.normalize.validation.per_source.nih.min_sid: unknown threshold",
        ),
        (
            {"validation": {"default": {"max_aspect_ratio": 0.5}}},
            "cxr.normalize.validation.default.max_aspect_ratio: expected a number >= 1, got 0.5",
        ),
        (
            {"validation": {"default": {"min_bytes": 10, "max_bytes": 5}}},
            "cxr.normalize.validation.default: min_bytes 10 is above max_bytes 5",
        ),
    ],
)
def test_bad_value_names_the_param(change, message):
    with pytest.raises(ValueError) as raised:
        normalize_options({**GOOD, **change})
    assert str(raised.value).startswith(message), str(raised.value)


def test_allow_symlinks_is_the_ingest_setting():
    """One setting for ingest and the workers: `cxr.ingest.allow_symlinks`."""
    ingest = load_conf("cxr/parameters.yml")["cxr"]["ingest"]
    assert normalize_options(GOOD, ingest).allow_symlinks is False
    linked = normalize_options(GOOD, {**ingest, "allow_symlinks": True})
    assert linked.allow_symlinks is True and linked.checks()["allow_symlinks"] is True
    assert normalize_options(GOOD).allow_symlinks is False  # no ingest section: strict
    with pytest.raises(ValueError, match=r"^cxr\.ingest\.allow_symlinks: expected true or false"):
        normalize_options(GOOD, {**ingest, "allow_symlinks": "yes"})


def test_missing_image_size_is_named():
    with pytest.raises(ValueError, match=r"^normalize\.image_size: missing"):
        NormalizeOptions.from_params({})


def test_encoding_id_depends_on_encoding_only():
    """Thresholds and the link setting decide which images are kept, not their bytes: a
    changed threshold re-validates the images, it does not rewrite every shard."""
    base = normalize_options(GOOD)
    checked = normalize_options({**GOOD, "validation": {"default": {"min_side": 10}}})
    linked = normalize_options(GOOD, {"allow_symlinks": True})
    assert encoding_id(base) == encoding_id(checked) == encoding_id(linked)
    assert encoding_id(base) != encoding_id(normalize_options({**GOOD, "quality": 80}))
