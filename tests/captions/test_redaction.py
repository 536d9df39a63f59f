"""Redaction that leaves readable text (issue 18, part 3): sentences in the shapes of real
OpenI (`XXXX`) and MIMIC (`___`) reports."""

from __future__ import annotations

import math

import pytest

from unimed_kedro.captions.redaction import (
    REDACTION_MARKER,
    mark_redactions,
    marked_sections,
    readable_text,
    split_sentences,
)

TOKENS = ["XXXX", "___"]


@pytest.mark.parametrize(
    "sentence",
    [
        "Normal chest x-XXXX.",  # a token joined to a word: the word is broken
        "No comparison chest x-XXXX.",
        "XXXX XXXX are intact.",
        "The heart and pulmonary XXXX are normal.",
        "Central airways are XXXX.",
        "Left basilar opacity, XXXX atelectasis or infiltrate.",  # not a whole list item
        "XXXX-year-old male, chest pain.",
        "Chest x-XXXX XXXX.",
        "___M with chest pain",
        "Dr. ___ was notified at 10:00 on ___.",
        "XXXX and soft tissue are unremarkable.",  # two items: the verb would not agree
        "XXXX, XXXX and effusion.",  # one item would be left of three
        "The trachea is midline and XXXX.",
        "XXXX.",
        "Calcified left hilar lymph XXXX/granulomas.",
    ],
)
def test_a_sentence_a_token_breaks_is_dropped(sentence):
    assert readable_text(sentence, TOKENS) is None
    ended = sentence if sentence.endswith(".") else sentence + "."
    assert readable_text(f"The lungs are clear. {ended} No effusion.", TOKENS) == (
        "The lungs are clear. No effusion."
    )


@pytest.mark.parametrize(
    ("sentence", "mended"),
    [
        ("Stable cardiomegaly (XXXX).", "Stable cardiomegaly."),
        (
            "On a previous outside CT scan (XXXX XXXX), the right upper lobe was consolidated.",
            "On a previous outside CT scan, the right upper lobe was consolidated.",
        ),
        ("The heart, XXXX, and mediastinum are normal.", "The heart and mediastinum are normal."),
        ("Heart, lungs, XXXX and bones are normal.", "Heart, lungs and bones are normal."),
        ("Heart, XXXX, lungs and bones are normal.", "Heart, lungs and bones are normal."),
        ("A, XXXX, XXXX, and B are seen.", "A and B are seen."),
        ("XXXX, disc spaces, and alignment are normal.", "Disc spaces and alignment are normal."),
        ("XXXX, soft tissues, and alignment are normal.", "Soft tissues and alignment are normal."),
        (
            "Suggestive of emphysema, XXXX and irregular interstitial markings.",
            "Suggestive of emphysema and irregular interstitial markings.",
        ),
        ("The heart, ___, and mediastinum are normal.", "The heart and mediastinum are normal."),
    ],
)
def test_a_whole_parenthetical_or_list_item_is_mended(sentence, mended):
    assert readable_text(sentence, TOKENS) == mended


def test_only_the_broken_sentence_of_a_paragraph_goes():
    text = (
        "The lungs appear clear. The heart and pulmonary XXXX appear normal. The pleural "
        "spaces are clear. Mediastinal contours are normal."
    )
    assert readable_text(text, TOKENS) == (
        "The lungs appear clear. The pleural spaces are clear. Mediastinal contours are normal."
    )


def test_abbreviations_decimals_and_list_numbers_do_not_end_a_sentence():
    text = (
        "Nodule measures 2.5 cm. Dr. ___ was notified. Pneumonia vs. atelectasis, e.g. in "
        "the base. Discussed with Dr. J. Smith at 3 p.m. ___ agreed. 1. No acute process. "
        "2. ___ tube in place. 3. Small effusion"
    )
    assert split_sentences(text) == [
        "Nodule measures 2.5 cm.",
        "Dr. ___ was notified.",
        "Pneumonia vs. atelectasis, e.g. in the base.",
        "Discussed with Dr. J. Smith at 3 p.m. ___ agreed.",
        "1. No acute process.",
        "2. ___ tube in place.",
        "3. Small effusion",
    ]
    assert readable_text(text, TOKENS) == (
        "Nodule measures 2.5 cm. Pneumonia vs. atelectasis, e.g. in the base. "
        "1. No acute process. 3. Small effusion."
    )


def test_a_report_with_every_sentence_dropped_or_nothing_recorded_is_none():
    assert readable_text("Normal chest x-XXXX. XXXX XXXX are intact.", TOKENS) is None
    for missing in (None, math.nan, "", "  "):
        assert readable_text(missing, TOKENS) is None


def test_output_is_single_spaced_and_every_sentence_ends_with_its_mark():
    text = "Lungs  are clear .  No XXXX of effusion..  Heart normal, Pneumonia?  No edema:"
    out = readable_text(text, TOKENS)
    assert out == "Lungs are clear. Heart normal, Pneumonia? No edema."
    assert "  " not in out and all(s[-1] in ".?!" for s in split_sentences(out))


def test_text_without_a_token_is_only_tidied():
    assert readable_text("Lungs are clear", TOKENS) == "Lungs are clear."
    assert readable_text("Lungs are clear. No effusion.", []) == "Lungs are clear. No effusion."
    assert readable_text("No XXXX.", []) == "No XXXX."  # no token given: nothing redacted


def test_marked_text_keeps_everything_with_one_marker_for_every_token():
    text = "Normal chest x-XXXX. XXXX XXXX are intact. ___M with pain."
    marked = mark_redactions(text, TOKENS)
    assert marked == (
        "Normal chest x-[REDACTED]. [REDACTED] [REDACTED] are intact. [REDACTED]M with pain."
    )
    assert REDACTION_MARKER == "[REDACTED]"
    assert mark_redactions(math.nan, TOKENS) is None
    report = marked_sections({"FINDINGS": "Heart XXXX.", "IMPRESSION": None}, TOKENS)
    assert report == "FINDINGS: Heart [REDACTED]."
    both = marked_sections({"FINDINGS": "Clear.", "IMPRESSION": "Dr. ___ paged."}, TOKENS)
    assert both == "FINDINGS: Clear. IMPRESSION: Dr. [REDACTED] paged."
    assert marked_sections({"FINDINGS": None, "IMPRESSION": " "}, TOKENS) is None


def test_tokens_are_matched_as_written():
    """Regex characters in a token are literal; a longer run of the token's characters
    is a broken word, never mended."""
    assert readable_text("XaX is seen.", ["X.X"]) == "XaX is seen."
    assert readable_text("Heart, X.X, lungs and bones.", ["X.X"]) == "Heart, lungs and bones."
    assert readable_text("Heart, lungs, ____ and bones are normal.", TOKENS) is None
    assert readable_text("Heart, lungs, ___ and bones.", TOKENS) == "Heart, lungs and bones."
