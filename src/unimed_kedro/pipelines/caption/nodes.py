"""Caption nodes."""

from __future__ import annotations

import pandas as pd

from unimed_kedro.captions.structured import structured_caption
from unimed_kedro.captions.text import label_caption, report_caption, sample_rng
from unimed_kedro.schema import row_dicts
from unimed_kedro.sources import adapter


def _pick(row: dict, params: dict, union: dict) -> tuple[str, str]:
    rng = sample_rng(params["seed"], row["sample_id"])
    for kind in params["priority"]:
        if kind == "report":
            text = report_caption(row.get("report_findings"), row.get("report_impression"),
                                  params["redaction_tokens"])
        elif kind == "source_captions":
            shipped = row.get("source_captions")
            text = rng.choice(list(shipped)) if shipped is not None and len(shipped) else None
        else:
            text = label_caption(row, rng, params, union)
        if text:
            return text, kind
    raise ValueError(f"caption.priority {params['priority']} produced no caption for "
                     f"{row['sample_id']}; add 'labels' as the last entry")


def caption_samples(records: pd.DataFrame, params: dict, vocabulary: dict) -> pd.DataFrame:
    """Add `caption`, `caption_kind` and `structured_caption` to every record."""
    union = vocabulary["labels"]["union"]
    rows = row_dicts(records)
    picked = [_pick(row, params, union) for row in rows]
    structured = [
        structured_caption(row, source_title=adapter(row["source"]).INFO.title,
                           params=params["structured"], union=union,
                           redactions=params["redaction_tokens"])
        for row in rows
    ]
    return records.assign(caption=[p[0] for p in picked], caption_kind=[p[1] for p in picked],
                          structured_caption=structured)
