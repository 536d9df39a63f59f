"""Caption nodes."""

from __future__ import annotations

import pandas as pd

from unimed_kedro.captions.structured import structured_caption
from unimed_kedro.captions.text import (
    annotated_labels,
    label_caption,
    report_caption,
    sample_rng,
)
from unimed_kedro.schema import row_dicts
from unimed_kedro.sources import adapter

ROW_BATCH = 2048


def _pick(row: dict, params: dict, union: dict, annotated: list) -> tuple[str, str]:
    rng = sample_rng(params["seed"], row["sample_id"])
    for kind in params["priority"]:
        if kind == "report":
            text = report_caption(row.get("report_findings"), row.get("report_impression"),
                                  params["redaction_tokens"])
        elif kind == "source_captions":
            shipped = row.get("source_captions")
            text = rng.choice(list(shipped)) if shipped is not None and len(shipped) else None
        else:
            text = label_caption(row, rng, params, union, annotated)
        if text:
            return text, kind
    raise ValueError(f"caption.priority {params['priority']} produced no caption for "
                     f"{row['sample_id']}; add 'labels' as the last entry")


def caption_samples(records: pd.DataFrame, params: dict, vocabulary: dict) -> pd.DataFrame:
    """Add `caption`, `caption_kind` and `structured_caption` to every record."""
    union = vocabulary["labels"]["union"]
    texts, kinds, structured = [], [], []
    # Rows become dicts a batch at a time: all 20,000 at once added ~80 MB to the peak.
    for start in range(0, len(records), ROW_BATCH):
        for row in row_dicts(records.iloc[start:start + ROW_BATCH]):
            annotated = annotated_labels(row, union)
            text, kind = _pick(row, params, union, annotated)
            texts.append(text)
            kinds.append(kind)
            structured.append(structured_caption(
                row, source_title=adapter(row["source"]).INFO.title,
                params=params["structured"], union=union,
                redactions=params["redaction_tokens"], annotated=annotated))
    return records.assign(caption=texts, caption_kind=kinds, structured_caption=structured)
