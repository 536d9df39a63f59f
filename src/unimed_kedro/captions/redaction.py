"""Redaction tokens in free text: text that reads well without them, and text that shows
where they were.

Anonymised reports replace words with a token (`XXXX`, `___`, given by the caller from its
parameters: this module knows no source). Deleting the token leaves broken sentences ("The
heart and pulmonary are normal."), so `readable_text` works sentence by sentence: a sentence
holding a token is mended only where the token is a part the sentence reads without, and
dropped otherwise. A token is *whole* when nothing joins it to a word (no letter, digit,
underscore, hyphen, slash or apostrophe touches it): "x-XXXX", "___M" and "XXXX's" are
words with a redacted part, never mended. The mending rules, applied in this order:

1. A parenthetical of whole tokens goes: "Stable nodule (XXXX)." -> "Stable nodule."
2. A list item of whole tokens goes where the list closes with "and"/"or" after it, so at
   least two items stay and a plural verb still agrees: "The heart, XXXX, and mediastinum
   are normal." -> "The heart and mediastinum are normal."; "XXXX, disc spaces, and alignment
   are normal." -> "Disc spaces and alignment are normal." Not a two-item conjunction
   ("XXXX and soft tissue are normal": removing it breaks agreement).
3. A sentence with a token left after 1-2, or without two letters in a row, is dropped:
   "Normal chest x-XXXX.", "The heart and pulmonary XXXX are normal.", "Dr. ___ was notified
   at 10:00 on ___." A text whose every sentence is dropped gives None.

Sentences end at `.`, `!` or `?` before a space, except after a title or "vs." ("Dr. ___"),
an initial ("J. Smith"), a dotted abbreviation ("e.g.") unless a capital follows, and a list
number ("1. Small effusion." is one sentence); "2.5 cm" has no space after its point. Where
unsure it does not split: two sentences read as one only lose more text when one holds a
token, while a wrong split can keep a broken fragment ("Dr."). Every sentence of the output
ends with `.`, `!` or `?` (a `.` is added), single-spaced. Text without a token skips the
sentence work.

`mark_redactions` keeps the whole text for those who want it, every token replaced by one
marker, `REDACTION_MARKER`, whatever the source's token was.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence

from unimed_kedro.schema import is_missing

# One marker for every source's token: a consumer searches for one string. Brackets and
# capitals: no report writes it, and no token it replaces is part of it.
REDACTION_MARKER = "[REDACTED]"

_SPACE_BEFORE = re.compile(r"\s+([.,;:])")
_REPEATED = re.compile(r"([.,;:])(?:\s*[.,;:])+")
_LETTERS = re.compile(r"[A-Za-z]{2}")
_ENDED = re.compile(r"[.!?][\"')\]]*$")
_CANDIDATE = re.compile(r"[.!?]+[\"')\]]* ")  # a possible sentence end, in tidied text
# Words after which a point never ends a sentence: titles before a name (often redacted),
# and abbreviations a report writes mid-sentence ("pneumonia vs. atelectasis").
_TITLES = frozenset({"dr", "mr", "mrs", "ms", "prof", "st", "vs", "approx", "cf", "fig"})
_DOTTED = re.compile(r"(?:[a-z]\.)+[a-z]|etc", re.IGNORECASE)  # e.g, i.e, a.m, etc
_ITEM_NUMBER = re.compile(r"\d{1,2}")  # "1." numbering an item, "Hand 1. Fracture..."
# Reads are repeated: the training caption and the structured caption read the same
# report, and the films of one study share it.
TEXT_CACHE = 4096


def tidy(text: str) -> str:
    """Single spaces, no space before a point or comma, one mark where several follow."""
    text = _SPACE_BEFORE.sub(r"\1", " ".join(text.split()))
    return _REPEATED.sub(r"\1", text).strip(" -")


def split_sentences(text: str) -> list[str]:
    """The sentences of tidied `text` (see the module's rules), each stripped."""
    sentences, start = [], 0
    for match in _CANDIDATE.finditer(text):
        head = text[start : match.start()]
        following = text[match.end() : match.end() + 1]
        if not _continues(head, following):
            sentences.append(text[start : match.end()].strip())
            start = match.end()
    rest = text[start:].strip()
    return sentences + [rest] if rest else sentences


def _continues(head: str, following: str) -> bool:
    """Whether the point after `head` (the sentence so far) is inside the sentence."""
    word = head.rsplit(" ", 1)[-1].lstrip("([\"'")
    if word.lower() in _TITLES or (len(word) == 1 and word.isupper()):  # "Dr. J. Smith"
        return True
    if _DOTTED.fullmatch(word):
        return not following.isupper()
    return _ITEM_NUMBER.fullmatch(word) is not None


class _Patterns:
    """The regular expressions of one token set, compiled once (`_patterns`)."""

    def __init__(self, tokens: tuple[str, ...]) -> None:
        alternatives = "|".join(re.escape(t) for t in sorted(tokens, key=len, reverse=True))
        whole = rf"(?<![\w'/-])(?:{alternatives})(?![\w'/-])"
        run = rf"{whole}(?: {whole})*"  # "XXXX XXXX": one redacted phrase
        items = r"(?:, [^,]+)*,? (?:and|or) "  # the rest of a list, to its conjunction
        self.any = re.compile(alternatives)
        self.parenthetical = re.compile(rf" ?[(\[] ?{run} ?[)\]]")
        self.before_conjunction = re.compile(rf", {run},? (and|or) ")
        self.list_item = re.compile(rf", {run}(?={items})")
        self.first_item = re.compile(rf"^{run}, (?=[^,]+{items})")


@functools.lru_cache(maxsize=16)
def _patterns(tokens: tuple[str, ...]) -> _Patterns:
    return _Patterns(tokens)


def _mend(sentence: str, patterns: _Patterns) -> str | None:
    """`sentence` without its tokens by rules 1-2, or None (rule 3)."""
    text = patterns.parenthetical.sub("", sentence)
    text = patterns.before_conjunction.sub(r" \1 ", text)  # "A, XXXX, and B" -> "A and B"
    text = patterns.list_item.sub("", text)  # "A, XXXX, B and C" -> "A, B and C"
    rest = patterns.first_item.sub("", text, count=1)
    if rest != text:  # "XXXX, B, and C" -> "B and C": the serial comma of two items goes
        text = re.sub(r"^([^,]+), (and|or) ", r"\1 \2 ", rest, count=1)
        text = text[:1].upper() + text[1:]
    if patterns.any.search(text) or not _LETTERS.search(text):
        return None
    return tidy(text)


def _ended(sentence: str) -> str:
    return sentence if _ENDED.search(sentence) else sentence.rstrip(" ,;:-") + "."


@functools.lru_cache(maxsize=TEXT_CACHE)
def _readable(text: str, tokens: tuple[str, ...]) -> str | None:
    text = tidy(text)
    if tokens and (patterns := _patterns(tokens)).any.search(text):
        kept = [_mend(s, patterns) if patterns.any.search(s) else s for s in split_sentences(text)]
        text = " ".join(_ended(s) for s in kept if s)
    elif text:
        text = _ended(text)
    return text if _LETTERS.search(text) else None


def readable_text(text: object, tokens: Sequence[str]) -> str | None:
    """`text` with every sentence that holds a token mended or dropped (module rules);
    None when nothing readable is left or nothing was recorded."""
    if text is None or is_missing(text):
        return None
    return _readable(str(text), tuple(t for t in tokens if t))


def mark_redactions(
    text: object, tokens: Sequence[str], marker: str = REDACTION_MARKER
) -> str | None:
    """`text` as written, each token replaced by `marker` ("x-XXXX" -> "x-[REDACTED]");
    None when nothing was recorded."""
    if text is None or is_missing(text) or not str(text).strip():
        return None
    tokens = [t for t in tokens if t]
    if not tokens:
        return str(text).strip()
    return _patterns(tuple(tokens)).any.sub(marker, str(text)).strip()


def marked_sections(sections: Mapping[str, object], tokens: Sequence[str]) -> str | None:
    """The recorded sections as `NAME: text`, redactions marked, in the order given, one
    space apart (output text holds no newline); None when none was recorded."""
    parts = [
        f"{name}: {marked}"
        for name, text in sections.items()
        if (marked := mark_redactions(text, tokens)) is not None
    ]
    return " ".join(parts) or None
