"""Patient-level, label-stratified train/val/test assignment.

Samples are grouped by patient and by identical image bytes (union-find), so neither a
patient nor an exact-duplicate image can straddle splits. Official test (and validation)
assignments are kept when asked; other groups are spread by scikit-learn's
StratifiedGroupKFold, each source on its own, stratified on its rarest positive label.
"""

from __future__ import annotations

import warnings
from fractions import Fraction
from math import lcm

import numpy as np
import pandas as pd

SPLITS = ("train", "val", "test")


def connected_groups(keys: list[pd.Series]) -> np.ndarray:
    """Group id per row: rows sharing a value in any key column share a group."""
    n = len(keys[0])
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for column in keys:
        first: dict = {}
        for i, value in enumerate(column.tolist()):
            if value is None or value != value:
                continue
            j = first.setdefault(value, i)
            parent[find(i)] = find(j)
    roots = np.array([find(i) for i in range(n)])
    return np.unique(roots, return_inverse=True)[1]


def strata(labels: pd.DataFrame) -> np.ndarray:
    """Rarest positive label of each row (ties by column order), or `none`."""
    positive = labels.eq(1.0)
    order = positive.sum().sort_values(kind="stable").index
    first = positive[order].idxmax(axis=1).where(positive.any(axis=1), "none")
    return first.to_numpy()


def fold_plan(ratios: dict[str, float], splits: tuple[str, ...]) -> list[str]:
    """One split name per fold, e.g. 0.8/0.1/0.1 -> 10 folds: test, val, 8 x train."""
    fractions = {s: Fraction(ratios[s]).limit_denominator(100) for s in splits}
    total = sum(fractions.values())
    shares = {s: f / total for s, f in fractions.items() if f > 0}
    folds = lcm(*(f.denominator for f in shares.values()))
    plan = [s for s in reversed(splits) if s in shares for _ in range(int(shares[s] * folds))]
    return plan


def _pool_rare(y: np.ndarray, folds: int) -> np.ndarray:
    """Classes too small to spread over the folds are pooled, so stratification degrades
    gracefully instead of failing on small sources."""
    values, counts = np.unique(y, return_counts=True)
    rare = set(values[counts < folds].tolist())
    pooled = np.array(["rare" if v in rare else v for v in y.tolist()], dtype=object)
    if np.unique(pooled, return_counts=True)[1].max() < folds:
        pooled[:] = "all"
    return pooled


def assign_free(groups: np.ndarray, y: np.ndarray, ratios: dict, splits: tuple[str, ...],
                seed: int) -> np.ndarray:
    """Split name per row for rows whose groups may go to any of `splits`."""
    plan = fold_plan(ratios, splits)
    out = np.empty(len(groups), dtype=object)
    unique = np.unique(groups)
    if len(plan) == 1:
        out[:] = plan[0]
    elif len(unique) >= len(plan):
        from sklearn.model_selection import StratifiedGroupKFold  # ~1.5 s import: only here

        y = _pool_rare(y, len(plan))
        cv = StratifiedGroupKFold(n_splits=len(plan), shuffle=True, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            for fold, (_, held) in enumerate(cv.split(np.zeros(len(groups)), y, groups)):
                out[held] = plan[fold]
    else:  # fewer groups than folds: seeded shuffle of groups, cut by the ratios
        order = np.random.default_rng(seed).permutation(unique)
        cut = np.floor(np.arange(len(order)) * len(plan) / len(order)).astype(int)
        chosen = dict(zip(order.tolist(), (plan[c] for c in cut)))
        out[:] = [chosen[g] for g in groups.tolist()]
    return out


HELD_OUT = {"train": 0, "val": 1, "test": 2}


def official_fixed(frame: pd.DataFrame, params: dict) -> pd.Series:
    """Split a row must keep because of its dataset's official split, else None."""
    if not params.get("use_official_split", True):
        return pd.Series(None, index=frame.index, dtype=object)
    keep = {"test": "test", "val": "val" if params.get("keep_official_val", True) else None}
    return frame["official_split"].map(keep).astype(object)


def assign_splits(frame: pd.DataFrame, label_cols: list[str], params: dict) -> np.ndarray:
    """Split per row: official test/val kept, official train never sent to test, the rest
    drawn per source by stratified group folds; finally a whole group follows its most
    held-out member, so nothing straddles."""
    groups = connected_groups([frame["patient_id"], frame["sha256"]])
    fixed = official_fixed(frame, params).to_numpy()
    out = fixed.copy()
    ratios, seed = params["ratios"], int(params["seed"])
    for source in sorted(frame["source"].unique()):
        in_source = frame["source"].eq(source).to_numpy()
        y = strata(frame.loc[in_source, label_cols])
        official = frame.loc[in_source, "official_split"].to_numpy()
        has_test = bool((official == "test").any()) and params.get("use_official_split", True)
        free = in_source & pd.isna(fixed)
        pool = ("train", "val") if has_test else SPLITS
        if free.any():
            out[free] = assign_free(groups[free], y[free[in_source]], ratios, pool, seed)
    rank = pd.Series([HELD_OUT[s] for s in out]).groupby(groups).transform("max")
    names = {v: k for k, v in HELD_OUT.items()}
    return rank.map(names).to_numpy()
