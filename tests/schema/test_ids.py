"""The id rule (issue 15): whatever a raw id holds, its sample id is `<source>-[a-z0-9_-]+`,
the same on every call, and ids already of the rule are kept as written."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unimed_kedro.schema import make_sample_id, seeded_keys
from unimed_kedro.schema.base import SampleIdError, check_sample_ids

# any code point, often a surrogate (a byte read with surrogateescape) or a control
ANY_TEXT = st.text(st.one_of(st.characters(), st.characters(categories=["Cs", "Cc"])), max_size=40)
SOURCES = st.sampled_from(["nih", "mimic", "openi", "chexpert", "toy_set", "a-b"])
SAFE_STEM = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,30}[a-z0-9]", fullmatch=True)
PROPERTY = settings(database=None, deadline=None, max_examples=300)


@PROPERTY
@given(SOURCES, st.lists(st.one_of(ANY_TEXT, SAFE_STEM), min_size=1, max_size=3))
def test_any_text_gives_a_valid_id_and_equal_inputs_equal_ids(source, parts):
    sample_id = make_sample_id(source, *parts)
    assert re.fullmatch(r"[a-z0-9_-]+", sample_id)
    assert sample_id.startswith(f"{source}-") and len(sample_id) > len(source) + 1
    check_sample_ids(source, [sample_id])
    assert make_sample_id(source, *[str(p) for p in parts]) == sample_id
    if len(parts) == 1 and re.fullmatch(r"[a-z0-9][a-z0-9_-]*", parts[0]):
        assert sample_id == f"{source}-{parts[0]}"  # an id already of the rule is kept


@PROPERTY
@given(ANY_TEXT, ANY_TEXT)
def test_raw_ids_outside_ascii_stay_apart(a, b):
    """Folding can join raw ids (`a.b`, `a_b`: `finish` rejects the second), but ids in
    another script carry a digest of their raw text, so they do not collide."""
    if a != b and not (a.isascii() and b.isascii()):
        assert make_sample_id("x", a) != make_sample_id("x", b)


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (["00000001_000"], "nih-00000001_000"),
        (["CXR1_1_IM-0001-3001"], "nih-cxr1_1_im-0001-3001"),
        (["00000001_000.v2"], "nih-00000001_000_v2"),
        (["sub/dir/name"], "nih-sub_dir_name"),
        (["a  b"], "nih-a_b"),
        (["../../etc/passwd"], "nih-etc_passwd"),
        (["patient1", "study2", "view1_frontal"], "nih-patient1_study2_view1_frontal"),
        (["café"], r"nih-caf_u[0-9a-f]{10}"),
        (["胸片"], r"nih-u[0-9a-f]{10}"),
        ([""], r"nih-u[0-9a-f]{10}"),
        (["..."], r"nih-u[0-9a-f]{10}"),
    ],
)
def test_the_id_rule_by_example(parts, expected):
    """Dots, slashes and spaces fold to `_`; ids in another script, or folding to nothing,
    get a digest of the raw text."""
    assert re.fullmatch(expected, make_sample_id("nih", *parts))
    assert make_sample_id("nih", "胸片") != make_sample_id("nih", "肺")


def test_ids_breaking_the_rule_are_a_programming_error():
    check_sample_ids("nih", ["nih-a", "nih-b_c-1"])
    for bad in ["nih-a.b", "nih-", "mimic-a", "nih-A", "nih-a/b", None]:
        with pytest.raises(SampleIdError, match="break the id rule"):
            check_sample_ids("nih", ["nih-a", bad])
    with pytest.raises(SampleIdError, match="source name"):
        make_sample_id("Bad.Source", "a")


def test_seeded_keys_sort_as_the_hex_digests_do():
    ids = [f"src-{i}" for i in range(2000)]
    keys = seeded_keys(ids, 7)
    by_keys = np.lexsort((keys[:, 1], keys[:, 0]))
    digests = [hashlib.sha256(f"7:{s}".encode()).hexdigest() for s in ids]
    assert [ids[i] for i in by_keys] == [s for _, s in sorted(zip(digests, ids))]
    assert (seeded_keys(ids[:5], 7) == keys[:5]).all()  # no sample moves another
