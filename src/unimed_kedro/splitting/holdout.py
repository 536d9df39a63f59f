"""What a pretraining set may hold: no evaluation data and one copy of each image.

Records of an official evaluation split (val, test) are held out, and so is every record
of the same patient and every byte-identical copy of a held-out image (UniMed issues #10
and #11: evaluation data leaked into pretraining). Of the remaining byte-identical
copies across sources (PMC-OA, ROCOv2 and LLaVA-Med all come from PubMed Central), the
one of the source first in `priority` is kept; the others are `duplicate` rejects naming
it. Pure functions over the normalized table (`sha256` is the raw file's digest).
"""

from __future__ import annotations

import pandas as pd

from unimed_kedro.schema import reject_records

EVALUATION = ("val", "test")
HELD_OUT, DUPLICATE = "official_eval_split", "duplicate"


def held_out(frame: pd.DataFrame) -> pd.Series:
    """Per row, the evaluation sample that holds it out (itself, a record of its patient
    or a copy of its image), else None."""
    evaluation = frame["official_split"].isin(EVALUATION)
    first = frame[evaluation].drop_duplicates("patient_id").set_index("patient_id")["sample_id"]
    by_patient = frame["patient_id"].map(first)
    tainted = frame.assign(_by=by_patient).dropna(subset=["_by"])
    by_image = tainted.drop_duplicates("sha256").set_index("sha256")["_by"]
    return by_patient.fillna(frame["sha256"].map(by_image)).astype(object)


def kept_copies(frame: pd.DataFrame, priority: list[str]) -> pd.Series:
    """Per row, the sample kept for its image bytes (the row itself when kept): the copy
    of the source earliest in `priority` (sources not listed come after, by name), then
    the smallest sample id."""
    rank = {source: i for i, source in enumerate(priority)}
    order = frame.assign(
        _rank=frame["source"].map(lambda s: (rank.get(s, len(rank)), s)),
    ).sort_values(["_rank", "sample_id"], kind="stable")
    first = order.drop_duplicates("sha256").set_index("sha256")["sample_id"]
    return frame["sha256"].map(first)


def select(
    frame: pd.DataFrame, priority: list[str], exclude_evaluation: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The pretraining records and the rejects of the others (held out, duplicates)."""
    by = held_out(frame) if exclude_evaluation else pd.Series(None, index=frame.index)
    out = by.notna()
    details = [f"held out with evaluation sample {s}" for s in by[out]]
    rejects = [
        reject_records(frame[out], stage="holdout", reasons=[HELD_OUT] * out.sum(), details=details)
    ]
    rest = frame[~out]
    keep = kept_copies(rest, priority)
    dup = keep.ne(rest["sample_id"])
    details = [f"same image bytes as {k}, kept by source priority" for k in keep[dup]]
    rejects.append(
        reject_records(rest[dup], stage="dedup", reasons=[DUPLICATE] * dup.sum(), details=details)
    )
    return rest[~dup].reset_index(drop=True), pd.concat(rejects, ignore_index=True)


def overlap(frame: pd.DataFrame) -> pd.DataFrame:
    """Per pair of sources, how many distinct images (by bytes) both hold: the (image,
    source) pairs joined on the image, not a Python loop over every image."""
    held = frame[["sha256", "source"]].dropna(subset="sha256").astype({"source": str})
    held = held.drop_duplicates()
    shared = held[held["sha256"].duplicated(keep=False)]
    pairs = shared.merge(shared, on="sha256", suffixes=("_a", "_b"))
    pairs = pairs[pairs["source_a"] < pairs["source_b"]]
    counts = pairs.groupby(["source_a", "source_b"]).size()
    rows = [{"source_a": a, "source_b": b, "shared_images": int(n)} for (a, b), n in counts.items()]
    return pd.DataFrame(rows, columns=["source_a", "source_b", "shared_images"])
