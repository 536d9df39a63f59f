"""The caption node of chest X-ray records: the training caption (report, shipped
captions or label template, by `caption.priority`), the downloader's structured caption
and the report as written, redactions marked, of every record."""

from __future__ import annotations

import random
from collections.abc import Collection

import pandas as pd

from unimed_kedro.captions.cxr.structured import structured_caption
from unimed_kedro.captions.cxr.text import (
    NORMAL_COLUMN,
    annotated_rows,
    label_caption,
    report_caption,
)
from unimed_kedro.captions.redaction import marked_sections
from unimed_kedro.captions.seeded import sample_rng
from unimed_kedro.schema import LABEL_PREFIX, is_missing, row_dicts

ROW_BATCH = 2048
# `report_text`: the report's sections as `NAME: text`, in this order (name -> column).
REPORT_SECTIONS = {"FINDINGS": "report_findings", "IMPRESSION": "report_impression"}


def _pick(
    row: dict, params: dict, union: dict, annotated: tuple, spare: random.Random
) -> tuple[str, str]:
    """Caption and kind; `spare` is re-seeded as the row's generator on first use (a report
    caption needs none), then shared by the kinds tried."""
    rng = None
    for kind in params["priority"]:
        if kind == "report":
            text = report_caption(
                row.get("report_findings"), row.get("report_impression"), params["redaction_tokens"]
            )
        else:
            rng = rng or sample_rng(params["seed"], row["sample_id"], spare)
            if kind == "source_captions":
                text = _shipped_choice(row.get("source_captions"), rng)
            else:
                text = label_caption(row, rng, params, union, annotated)
        if text:
            return text, kind
    raise ValueError(
        f"caption.priority {params['priority']} produced no caption for "
        f"{row['sample_id']}; add 'labels' as the last entry"
    )


def _shipped_choice(shipped: object, rng: random.Random) -> str | None:
    """One of the captions shipped with the sample (a list, or an array as parquet gives
    lists back); None when none was shipped: nothing recorded is None, or NaN where no
    source of the build ships captions and the column holds floats."""
    if isinstance(shipped, str):
        return shipped or None
    if is_missing(shipped) or not isinstance(shipped, Collection) or not len(shipped):
        return None
    return rng.choice(list(shipped))


def caption_records(
    records: pd.DataFrame, sources: dict[str, dict], params: dict, vocabulary: dict
) -> pd.DataFrame:
    """Add `caption`, `caption_kind`, `structured_caption` and `report_text` to every
    record: `report_text` is the report as written, for those who want it (the captions
    drop or mend what a redaction breaks), each redaction token of `redaction_tokens` as
    `captions.redaction.REDACTION_MARKER`; None without a report."""
    union = vocabulary["labels"]["union"]
    titles = {name: info["title"] for name, info in sources.items()}
    # Labels reach the captions through `annotated_rows`, so row dicts skip their columns.
    columns = [c for c in records.columns if not c.startswith(LABEL_PREFIX) or c == NORMAL_COLUMN]
    spare = random.Random()
    texts, kinds, structured = [], [], []
    # Rows become dicts a batch at a time: all 20,000 at once added ~80 MB to the peak.
    for start in range(0, len(records), ROW_BATCH):
        batch = records.iloc[start : start + ROW_BATCH]
        for row, annotated in zip(row_dicts(batch, columns), annotated_rows(batch, union)):
            text, kind = _pick(row, params, union, annotated, spare)
            texts.append(text)
            kinds.append(kind)
            structured.append(
                structured_caption(
                    row,
                    source_title=titles[row["source"]],
                    params=params["structured"],
                    union=union,
                    redactions=params["redaction_tokens"],
                    annotated=annotated,
                )
            )
    return records.assign(
        caption=texts,
        caption_kind=kinds,
        structured_caption=structured,
        report_text=_report_texts(records, params["redaction_tokens"]),
    )


def _report_texts(records: pd.DataFrame, tokens: list[str]) -> list[str | None]:
    """`report_text` of every record, column by column."""
    columns = [records[c].tolist() for c in REPORT_SECTIONS.values()]
    return [
        marked_sections(dict(zip(REPORT_SECTIONS, sections)), tokens) for sections in zip(*columns)
    ]
