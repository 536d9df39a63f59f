"""Seeded choices: every random choice about a sample uses a generator seeded by
(seed, sample_id), so what is chosen never depends on row order or on other samples."""

from __future__ import annotations

import random


def sample_rng(seed: int, sample_id: str, rng: random.Random | None = None) -> random.Random:
    """The generator of one sample. `rng`, when given, is re-seeded in place: the same state
    as a new generator (`Random(x)` is `seed(x)`), without building an object per sample."""
    key = f"{seed}:{sample_id}"
    if rng is None:
        return random.Random(key)
    rng.seed(key)
    return rng
