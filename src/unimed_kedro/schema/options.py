"""A stage's settings section as a typed, frozen dataclass, checked once where the stage
starts.

A section (`<collection>.<section>:` in `conf/base/<collection>/parameters.yml`) is declared
as a frozen dataclass of `Options` whose fields each carry their check (`setting`);
`from_params` turns the params dict into it, or raises a `ValueError` naming the key as
`<collection>.<section>.<key>` and what was expected: `cxr.split.seed: expected an
integer, got 'x'`. A wrong value stops the run at the start of the stage that reads it,
not later in a worker or half-way through writing. The `collection` key of a section names
it in messages (and is a field where the stage uses it).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any, ClassVar, TypeVar

# a check: (value, its dotted name) -> the value to keep, or ValueError naming it
Check = Callable[[Any, str], Any]
OptionsT = TypeVar("OptionsT", bound="Options")
_NAME = re.compile(r"[a-z0-9_-]+")


def setting(check: Check, default: Any = dataclasses.MISSING, *, missing: str = "") -> Any:
    """A field checked by `check`; without `default` it is required (`missing` says what
    it is, in the message naming it). A mutable default (a dict) is copied per instance."""
    metadata = {"check": check, "missing": missing}
    if isinstance(default, dict | list):
        factory = functools.partial(copy.deepcopy, default)
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class Options:
    """Base of a settings section: subclasses are frozen dataclasses naming their
    `SECTION` and declaring each key with `setting`."""

    SECTION: ClassVar[str] = ""

    @classmethod
    def from_params(cls: type[OptionsT], params: Any, where: str | None = None) -> OptionsT:
        """The section checked; `ValueError` naming `<where>.<key>` for the first bad value.
        `where` defaults to `<collection>.<SECTION>` (`SECTION` without a collection)."""
        where = where or section_name(params, cls.SECTION)
        if not isinstance(params, Mapping):
            raise ValueError(f"{where}: expected a mapping of settings, got {params!r}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        known = sorted({*fields, "collection"})
        unknown = sorted(str(key) for key in set(params) - set(known))
        if unknown:
            raise ValueError(f"{where}.{unknown[0]}: unknown setting; known: {known}")
        if "collection" in params and "collection" not in fields:
            identifier(params["collection"], f"{where}.collection")
        values = {}
        for key, spec in fields.items():
            if key in params:
                values[key] = spec.metadata["check"](params[key], f"{where}.{key}")
            elif _required(spec):
                what = spec.metadata.get("missing")
                raise ValueError(f"{where}.{key}: missing" + (f" ({what})" if what else ""))
        options = cls(**values)
        options.check(where)
        return options

    def check(self, where: str) -> None:
        """Checks across settings, after each was checked alone (none by default)."""

    def as_params(self) -> dict[str, Any]:
        """The checked settings as a plain dict, for code that takes the params dict."""
        return dataclasses.asdict(self)


def _required(spec: dataclasses.Field) -> bool:
    return spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING


def section_name(params: Any, section: str) -> str:
    """`<collection>.<section>` when `params` names a collection, else `section`."""
    collection = params.get("collection") if isinstance(params, Mapping) else None
    if isinstance(collection, str) and _NAME.fullmatch(collection):
        return f"{collection}.{section}"
    return section


# --- checks ---------------------------------------------------------------------------


def integer(low: int | None = None, high: int | None = None) -> Check:
    """An int (not a bool) from `low` to `high` (each bound optional)."""

    def check(value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not within(value, low, high):
            raise ValueError(
                f"{where}: expected {expected('an integer', low, high)}, got {value!r}"
            )
        return value

    return check


def number(low: float | None = None, high: float | None = None) -> Check:
    """A finite int or float (not a bool) from `low` to `high`, kept as given."""

    def check(value: Any, where: str) -> float:
        good = isinstance(value, int | float) and not isinstance(value, bool)
        if not good or not math.isfinite(value) or not within(value, low, high):
            raise ValueError(f"{where}: expected {expected('a number', low, high)}, got {value!r}")
        return value

    return check


def flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{where}: expected true or false, got {value!r}")
    return value


def choice(choices: Collection[str]) -> Check:
    """One of `choices` (a string)."""

    def check(value: Any, where: str) -> str:
        if not isinstance(value, str) or value not in choices:
            raise ValueError(f"{where}: expected one of {sorted(choices)}, got {value!r}")
        return value

    return check


def identifier(value: Any, where: str) -> str:
    """A name that may stand in file names and keys: [a-z0-9_-] only."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ValueError(f"{where}: expected a name of [a-z0-9_-], got {value!r}")
    return value


def names(value: Any, where: str) -> tuple[str, ...]:
    """A list of names of [a-z0-9_-] (column names, keys), possibly empty."""
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{where}: expected a list of names of [a-z0-9_-], got {value!r}")
    return tuple(identifier(item, f"{where}[{i}]") for i, item in enumerate(value))


def within(value: float, low: float | None, high: float | None) -> bool:
    return (low is None or value >= low) and (high is None or value <= high)


def expected(kind: str, low: float | None, high: float | None) -> str:
    """What a number check expects, in words: `a positive integer`, `a number >= 0`."""
    if low is not None and high is not None:
        return f"{kind} from {low} to {high}"
    if kind == "an integer" and low in (0, 1) and high is None:
        return "a positive integer" if low == 1 else "a non-negative integer"
    if low is not None:
        return f"{kind} >= {low}"
    if high is not None:
        return f"{kind} <= {high}"
    return kind
