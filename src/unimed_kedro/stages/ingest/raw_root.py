"""The check that raw_root holds at least one of a collection's sources, made before a run
writes anything (`hooks.RawRootHooks`).

Ingest skips an absent source (a missing or empty folder: DVC needs every folder to exist,
so an empty one is how a DVC user leaves a source out), so a collection builds from any
subset of its sources. With none of them, every later stage would overwrite a finished
build with an empty one: a mistyped or unmounted raw_root, not a choice. That run stops
instead, naming raw_root and the folders it should hold; `allow_empty_collection: true`
(conf/base/parameters.yml) builds the empty collection on purpose.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from unimed_kedro.sources.base import RawSource

log = logging.getLogger(__name__)


class RawRootError(ValueError):
    """raw_root holds none of the sources the run reads."""


def check_raw_root(raws: Sequence[RawSource], *, allow_empty: bool = False) -> None:
    """Raise `RawRootError` when none of `raws` (the raw sources of the collections being
    run) is present, naming raw_root (the folders' parent), what it is, and the folders."""
    if not raws or any(raw.exists for raw in raws):
        return
    roots = sorted({raw.path.parent for raw in raws})
    where = "; ".join(f"{_shown(root)} {_state(root)}" for root in roots)
    folders = ", ".join(f"{raw.path.name}/ ({raw.name})" for raw in raws)
    message = f"raw_root {where}: expected at least one source folder of {folders}"
    if allow_empty:
        log.warning("%s; building an empty collection (allow_empty_collection)", message)
        return
    raise RawRootError(
        f"{message}. Nothing was run or written. Point raw_root at the folder holding them "
        "(kedro run --params raw_root=/path/to/raw), or set allow_empty_collection=true "
        "to build an empty collection."
    )


def _shown(root: Path) -> str:
    return str(root) if root.is_absolute() else f"{root} ({root.absolute()})"


def _state(root: Path) -> str:
    if not root.exists():
        return "does not exist"
    if not root.is_dir():
        return "is a file, not a folder"
    if not any(root.iterdir()):
        return "is empty"
    return "holds none of the source folders (each missing or empty)"
