"""Text as every output may hold it: valid UTF-8 without control characters.

Raw files hold what they hold: bytes that are not UTF-8 (a Latin-1 report, a cut download),
NUL and other control characters, C1 codes that XML lets through. Every text cell leaves
ingest through `clean_text` (the sources' `finish` applies it to each manifest cell and each
reject row), so shards' json/txt, captions, the CSV/SQLite index and rejects.csv can be
written and read by any UTF-8 tool. Undecodable bytes travel as lone surrogates
(`surrogateescape`) until then, so a reader can tell a row that held them.
"""

from __future__ import annotations

import re
from typing import Any

REPLACEMENT = "\ufffd"
# C0 and C1 control characters, DEL, and surrogates (undecodable bytes, or halves of a pair
# that cannot be encoded): nothing an output may hold.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_UNDECODABLE = re.compile(r"[\ud800-\udfff]")


def _replace(match: re.Match[str]) -> str:
    char = match.group()
    if char >= "\ud800":
        return REPLACEMENT
    return " " if char.isspace() else ""


def clean_text(text: str) -> str:
    """`text` with undecodable bytes as U+FFFD, whitespace controls (tab, newline, NEL...)
    as spaces and other control characters dropped; unchanged text is returned as is."""
    if text.isprintable():  # the usual case, one C-level pass
        return text
    cleaned = _UNSAFE.sub(_replace, text)
    return text if cleaned == text else cleaned


def clean_value(value: Any) -> Any:
    """`clean_text` on a string or on the strings of a list or tuple (a list of captions);
    any other value as is."""
    if isinstance(value, str):
        return clean_text(value)
    if type(value) in (list, tuple) and any(isinstance(v, str) for v in value):
        return type(value)(clean_text(v) if isinstance(v, str) else v for v in value)
    return value


def has_undecodable(text: str) -> bool:
    """True when `text` holds bytes that were not UTF-8 (read with `surrogateescape`)."""
    return not text.isascii() and _UNDECODABLE.search(text) is not None


def raw_bytes(text: str) -> bytes:
    """`text` as the bytes it was read from (its undecodable bytes included)."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate no byte decodes to
        return text.encode("utf-8", "backslashreplace")


def decode_text(data: bytes) -> tuple[str, bool]:
    """UTF-8 text of a file's bytes (a BOM dropped) and whether bytes that are not UTF-8 had
    to be replaced by U+FFFD."""
    try:
        return data.decode("utf-8-sig"), False
    except UnicodeDecodeError:
        return data.decode("utf-8-sig", "replace"), True
