"""Source adapters: one module per public dataset, each holding that dataset's layout.

Every adapter exposes `INFO` (licence, citation, patient rule) and
`read(root, vocabulary) -> (manifest, rejects)` over the schema in `unimed_kedro.schema`.
"""

from __future__ import annotations

from types import ModuleType

from unimed_kedro.sources import chexpert, mimic, nih, openi

ADAPTERS: dict[str, ModuleType] = {m.INFO.name: m for m in (chexpert, nih, mimic, openi)}


def adapter(name: str) -> ModuleType:
    try:
        return ADAPTERS[name]
    except KeyError:
        raise KeyError(f"unknown source {name!r}; known sources: {sorted(ADAPTERS)}") from None
