"""LLaVA-Med's PubMed Central figures in `llava_med/`: two annotation files over one image
folder, `images/<pair_id>.jpg` (extracted from the PMC article tarballs that
`llava_med_image_urls.jsonl` lists; many fail to download, so a named image may be missing).

- Alignment (`llava_med_alignment_500k_filtered.json`, UniMed's filtered copy, else
  LLaVA-Med's own `llava_med_alignment_500k.json`): a JSON array of `{"id", "image",
  "conversations": [{"from": "human", "value": "<image>\\n..."}, {"from": "gpt", "value":
  caption}]}`; the caption is the first gpt turn (UniMed reads `conversations[1]`).
- Instruct (`llava_med_instruct_fig_captions.json`): an object of domain -> list of
  `{"pmid", "pair_id", "fig_label", "fig_caption", "in_text_mention": [{"tokens": ...}] |
  null, "domain": {...}}` (a plain list is read too); the image is `<pair_id>.jpg`. UniMed
  writes each image twice (figure caption, then first in-text mention): here it is one
  record holding both, the domain its `dataset`.

The alignment file is ~360 MB: both are streamed (`JSONStream`), never loaded whole. One
file without the other is a source without records; a folder with neither is a layout error.
"""

from __future__ import annotations

import json
import logging
import os
import re
from abc import abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, TextIO

from unimed_kedro.schema.text import has_undecodable
from unimed_kedro.sources.base import LayoutError
from unimed_kedro.sources.imagetext.base import ImageTextSource
from unimed_kedro.sources.imagetext.pmc_oa import MALFORMED_ENTRY, shorten

log = logging.getLogger(__name__)

ALIGNMENT = ("llava_med_alignment_500k_filtered.json", "llava_med_alignment_500k.json")
INSTRUCT = ("llava_med_instruct_fig_captions.json",)
IMAGES = "images"
MODALITY = "figure"

_CHUNK = 1 << 20  # characters read at a time
_MAX_ENTRY = 64 << 20  # one entry's text; LLaVA-Med's are a few KB
_SPACE = re.compile(r"[ \t\n\r]*")
# What a malformed entry's extent is found by: strings (skipped whole), a quote opening a
# string that does not end in the buffer, brackets and commas.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|"|[\[\]{},]', re.DOTALL)
_CLOSES = {"[": "]", "{": "}"}
_NUMBER_TAIL = re.compile(r"[0-9.eE+-]*\Z")
_DECODER = json.JSONDecoder()


class Entry(NamedTuple):
    """One entry of a streamed file: the line it starts on, the key of the object member
    whose array holds it (a domain of LLaVA-Med instruct; None in a top-level array or as
    a member itself), where it sits (`[3]`, `["ct_scan"][3]`), its value, and None; or,
    for text that is no JSON, None and why."""

    line: int
    group: str | None
    label: str
    value: Any
    problem: str | None


class LLaVAMed(ImageTextSource):
    """What both LLaVA-Med readers share: their file among the folder's annotation files,
    streaming it, and one record per image."""

    FILES: ClassVar[tuple[str, ...]] = ()
    EXPECTED: ClassVar[str] = ""  # what an entry holds, for error messages

    def layout(self) -> Path | None:
        own = next((self.root / f for f in self.FILES if (self.root / f).is_file()), None)
        if own is not None:
            return own
        if any((self.root / f).is_file() for f in (*ALIGNMENT, *INSTRUCT)):
            log.warning(
                "%s: no %s in %s (its other annotation file is there): no records",
                self.source.name,
                " or ".join(self.FILES),
                self.root,
            )
            return None
        raise LayoutError(
            f"{self.root}: expected LLaVA-Med's annotation files: {' or '.join(ALIGNMENT)}, "
            f"and/or {' '.join(INSTRUCT)}, beside {IMAGES}/"
        )

    def records(self, layout: Path | None) -> Iterator[dict]:
        return iter(()) if layout is None else self._rows(layout)

    def _rows(self, path: Path) -> Iterator[dict]:
        """The record of each usable entry, in file order; the others are rejects."""
        file = path.name
        with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
            for entry in JSONStream(handle, path, self.EXPECTED).entries():
                where = {"file": file, "row": entry.line}
                problem, record = entry.problem, None
                if problem is None:
                    problem, record = self.entry(entry, where)
                if record is None:
                    detail = f"entry {entry.label}: {problem}"
                    self.rejects.add(MALFORMED_ENTRY, detail, file=file, row=entry.line)
                else:
                    yield record

    @abstractmethod
    def entry(self, entry: Entry, where: dict) -> tuple[str | None, dict | None]:
        """The record of one parsed entry, or why there is none."""


class LLaVAMedAlignment(LLaVAMed):
    FILES = ALIGNMENT
    EXPECTED = 'a JSON array of {"id", "image", "conversations"} entries'

    def entry(self, entry: Entry, where: dict) -> tuple[str | None, dict | None]:
        value = entry.value
        image = value.get("image") if isinstance(value, dict) else None
        turns = value.get("conversations") if isinstance(value, dict) else None
        if not (isinstance(image, str) and image.strip() and isinstance(turns, list)):
            return f'expected {{"image", "conversations"}}, got {shorten(value)}', None
        gpt = (t.get("value") for t in turns if isinstance(t, dict) and t.get("from") == "gpt")
        caption = _text(next(gpt, None))
        if has_undecodable(image) or has_undecodable(caption or ""):
            return "bytes that are not UTF-8", None
        image = image.strip()
        return None, self.record(
            f"{IMAGES}/{image}",
            os.path.splitext(image)[0],
            captions=[caption],
            where=where,
            modality=MODALITY,
        )


class LLaVAMedInstruct(LLaVAMed):
    FILES = INSTRUCT
    EXPECTED = 'an object of domain -> list of {"pair_id", "fig_caption", "in_text_mention"}'

    def entry(self, entry: Entry, where: dict) -> tuple[str | None, dict | None]:
        value = entry.value
        pair_id = value.get("pair_id") if isinstance(value, dict) else None
        if not (isinstance(pair_id, str) and pair_id.strip()):
            return f'expected {{"pair_id", "fig_caption", ...}}, got {shorten(value)}', None
        captions = [_text(value.get("fig_caption")), _first_mention(value.get("in_text_mention"))]
        if any(has_undecodable(t) for t in [pair_id, *captions] if t):
            return "bytes that are not UTF-8", None
        pair_id = pair_id.strip()
        return None, self.record(
            f"{IMAGES}/{pair_id}.jpg",
            pair_id,
            captions=captions,
            where=where,
            dataset=entry.group,
            modality=MODALITY,
        )


def _text(value: Any) -> str | None:
    """A caption as the file holds it: text, or None for anything else (null, NaN)."""
    return value if isinstance(value, str) else None


def _first_mention(mentions: Any) -> str | None:
    """The first in-text mention (`{"tokens": text}` or text), as UniMed reads it."""
    if not isinstance(mentions, list) or not mentions:
        return None
    first = mentions[0]
    return _text(first.get("tokens") if isinstance(first, dict) else first)


class JSONStream:
    """The entries of a JSON file holding an array of entries, or an object whose values
    are such arrays (or entries), read a chunk at a time: memory holds one chunk and one
    entry, whatever the file's size.

    `entries()` yields an `Entry` per entry; one whose text is no JSON is skipped to the
    next, with why (`Entry.problem`). A file whose structure
    is broken (no array, a missing comma, truncated) is a `LayoutError` naming the line."""

    def __init__(self, handle: TextIO, path: Path, expected: str):
        self.handle, self.path, self.expected = handle, path, expected
        self.buf, self.pos, self.line, self.counted, self.eof = "", 0, 1, 0, False

    def entries(self) -> Iterator[Entry]:
        first = self.peek()
        if first == "[":
            yield from self._array(None)
        elif first == "{":
            yield from self._object()
        else:
            raise self.error(f"found {first!r}" if first else "the file is empty")
        if self.peek():
            raise self.error("more text after the end of the top-level value")

    def _array(self, key: str | None) -> Iterator[Entry]:
        self.pos += 1  # the "[" peeked at
        prefix = "" if key is None else f"[{json.dumps(key, ensure_ascii=False)}]"
        index = 0
        while not self._closes("]"):
            line = self.mark()
            value, problem = self.value()
            yield Entry(line, key, f"{prefix}[{index}]", value, problem)
            index += 1
            self._separator("]", line)

    def _object(self) -> Iterator[Entry]:
        self.pos += 1  # the "{" peeked at
        while not self._closes("}"):
            line = self.mark()
            key, problem = self.value()
            if not isinstance(key, str):
                raise self.error(f"expected a key at line {line}")
            if self.peek() != ":":
                raise self.error(f"expected ':' after the key at line {line}")
            self.pos += 1
            if self.peek() == "[":
                yield from self._array(key)
            else:
                line = self.mark()
                value, problem = self.value()
                yield Entry(line, None, f"[{json.dumps(key, ensure_ascii=False)}]", value, problem)
            self._separator("}", line)

    def _closes(self, bracket: str) -> bool:
        """Consume `bracket` when it comes next (an empty container, a trailing comma)."""
        if self.peek() == bracket:
            self.pos += 1
            return True
        return False

    def _separator(self, bracket: str, line: int) -> None:
        """Consume the ',' after a member; leave a closing `bracket` to `_closes`."""
        char = self.peek()
        if char == ",":
            self.pos += 1
        elif char != bracket:
            found = f"found {char!r}" if char else "the file ends (truncated?)"
            raise self.error(
                f"expected ',' or {bracket!r} after the member at line {line}, {found}"
            )

    def value(self) -> tuple[Any, str | None]:
        """The next value and None; or None and why its text is no JSON (then skipped)."""
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as err:
                extent = self._extent()
                if extent is not None:
                    self.pos = extent
                    return None, f"not JSON ({err.msg})"
                self._grow()
                continue
            # a number the buffer ends in may go on in the next chunk ("-65" + "00.5")
            if not _NUMBER_TAIL.match(self.buf, end) or not self._more():
                self.pos = end
                return value, None

    def _extent(self) -> int | None:
        """Where the value at `pos` ends when the buffer holds all of it (the bracket that
        closes it, or the ',' or closing bracket after it), else None. A closing bracket
        also closes the brackets left open inside its own (`{"a": [}` ends at the `}`)."""
        stack: list[str] = []
        for match in _TOKEN.finditer(self.buf, self.pos):
            token = match.group()
            if token in _CLOSES:
                stack.append(_CLOSES[token])
            elif token in ("]", "}"):
                if token not in stack:  # the container's own bracket
                    return match.start()
                del stack[len(stack) - 1 - stack[::-1].index(token) :]
                if not stack:
                    return match.end()
            elif token == "," and not stack:
                return match.start()
            elif token == '"':  # a string that goes on past the buffer
                return None
        return None

    def _grow(self) -> None:
        """Read on for a value that runs past the buffer."""
        if len(self.buf) - self.pos > _MAX_ENTRY:
            raise self.error(f"an entry at line {self.mark()} runs over {_MAX_ENTRY >> 20} MiB")
        if not self._more():
            raise self.error(f"the entry at line {self.mark()} never ends: the file is truncated")

    def _more(self) -> bool:
        """Append the next chunk, dropping what was consumed; False at the end of file."""
        if self.eof:
            return False
        try:
            chunk = self.handle.read(_CHUNK)
        except OSError as err:
            raise self.error(f"cannot be read past line {self.mark()} ({err})") from err
        if not chunk:
            self.eof = True
            return False
        self.mark()
        self.buf, self.pos, self.counted = self.buf[self.pos :] + chunk, 0, 0
        return True

    def peek(self) -> str:
        """The next character that is not white space ('' at the end), not consumed."""
        while True:
            match = _SPACE.match(self.buf, self.pos)
            self.pos = match.end() if match else self.pos
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._more():
                return ""

    def mark(self) -> int:
        """The line of the current position (each newline counted once)."""
        self.line += self.buf.count("\n", self.counted, self.pos)
        self.counted = self.pos
        return self.line

    def error(self, what: str) -> LayoutError:
        return LayoutError(f"{self.path}: {what}; expected {self.expected}")
