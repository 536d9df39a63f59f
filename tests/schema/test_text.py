"""Text cleaning (issue 15): every text cell leaving ingest is valid UTF-8 without control
characters, and ordinary text is left untouched."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from unimed_kedro.schema.text import (
    clean_text,
    clean_value,
    decode_text,
    has_undecodable,
    raw_bytes,
)

# any code point, often a surrogate (a byte read with surrogateescape) or a control
ANY_TEXT = st.text(st.one_of(st.characters(), st.characters(categories=["Cs", "Cc"])), max_size=60)
PROPERTY = settings(database=None, deadline=None, max_examples=300)


def _outputtable(text: str) -> bool:
    text.encode("utf-8")  # raises on a surrogate
    return not any(unicodedata.category(c) == "Cc" for c in text)


@PROPERTY
@given(ANY_TEXT)
def test_any_text_cleans_to_utf8_without_control_characters(text):
    cleaned = clean_text(text)
    assert _outputtable(cleaned)
    assert clean_text(cleaned) == cleaned  # idempotent


@PROPERTY
@given(st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=60))
def test_text_without_controls_is_unchanged(text):
    assert clean_text(text) == text


@PROPERTY
@given(st.binary(max_size=80))
def test_any_bytes_decode_to_clean_text(data):
    text, replaced = decode_text(data)
    assert _outputtable(clean_text(text))
    assert replaced == (not _is_utf8(data))
    surrogates = data.decode("utf-8", "surrogateescape")
    assert has_undecodable(surrogates) == replaced
    assert raw_bytes(surrogates) == data


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_what_cleaning_does():
    assert clean_text("a\tb\nc\x85d") == "a b c d"  # whitespace controls become spaces
    assert clean_text("a\x00b\x1bc\x9bd\x7f") == "abcd"  # others are dropped
    assert clean_text("caf\udce9") == "caf\ufffd"  # an undecodable byte
    assert clean_text("Zürich\u00a0— 胸片") == "Zürich\u00a0— 胸片"
    assert clean_value(["a\x00", 1, None]) == ["a", 1, None]
    assert clean_value(3.5) == 3.5 and clean_value(None) is None
