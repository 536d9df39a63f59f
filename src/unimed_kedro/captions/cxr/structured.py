"""The chest X-ray downloader's structured caption (`files/captions/<key>.txt`).

Header lines, then `=== FINDINGS ===`, `=== IMPRESSION ===`, `=== STRUCTURED LABELS ===`
(one `Label: positive|negative|uncertain` line per annotated label; not-annotated labels are
left out, as the seed does for blank CheXpert cells, so an unlabelled study's section is
empty) and `=== METADATA ===`. Report sections are the readable text of
`captions.redaction`: a sentence an anonymisation token breaks is mended or dropped.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from unimed_kedro.captions.cxr.text import (
    LABEL_CACHE,
    AnnotatedLabels,
    annotated_labels,
    is_normal,
    join_names,
    label_states,
)
from unimed_kedro.captions.redaction import readable_text
from unimed_kedro.schema import is_missing


def structured_caption(
    row: Mapping,
    *,
    source_title: str,
    params: Mapping,
    union: Mapping[str, str],
    redactions: list[str],
    annotated: AnnotatedLabels | None = None,
) -> str:
    annotated = annotated_labels(row, union) if annotated is None else tuple(annotated)
    findings, impression = _sections(row, params, annotated, redactions)
    # One f-string, not lists of lines joined: this runs once per sample.
    return (
        f"SOURCE: {source_title}\n"
        f"PATIENT_ID: {str(row['patient_id']).split(':', 1)[1]}\n"
        f"STUDY_ID: {row['study_id']}\n"
        f"VIEW_POSITION: {row['view']}\n"
        f"IMAGE_ID: {row['sample_id'].split('-', 1)[1]}\n\n"
        f"=== FINDINGS ===\n{findings}\n\n"
        f"=== IMPRESSION ===\n{impression}\n\n"
        f"{_labels_block(annotated)}\n\n"
        f"=== METADATA ===\n{_metadata(row, source_title)}\n"
    )


@functools.lru_cache(maxsize=LABEL_CACHE)
def _labels_block(annotated: AnnotatedLabels) -> str:
    """The STRUCTURED LABELS block: depends on the label combination alone. Every line
    under the header is `Label: state`, so a study without annotated labels has none."""
    return "=== STRUCTURED LABELS ===" + "".join(
        f"\n{display}: {state}" for _, display, state in annotated
    )


def _sections(
    row: Mapping, params: Mapping, annotated: AnnotatedLabels, redactions: list[str]
) -> tuple[str, str]:
    # Sentences a redaction breaks are mended or dropped, as in the training caption; a
    # section with none left reads as missing.
    findings = readable_text(row.get("report_findings"), redactions)
    impression = readable_text(row.get("report_impression"), redactions)
    if findings or impression:
        return findings or params["missing_text"], impression or params["missing_text"]
    from_labels = _label_sections(
        annotated, params["findings_template"], params["impression_template"]
    )
    if from_labels is not None:
        return from_labels
    if is_normal(row):
        return params["normal_findings"], params["normal_impression"]
    return params["missing_text"], params["missing_text"]


@functools.lru_cache(maxsize=LABEL_CACHE)
def _label_sections(
    annotated: AnnotatedLabels, findings_template: str, impression_template: str
) -> tuple[str, str] | None:
    """Findings and impression written from the positive labels (None: none positive)."""
    positives = label_states(annotated)["positive"]
    if not positives:
        return None
    names = join_names(positives)
    return (findings_template.format(findings=names), impression_template.format(findings=names))


def _metadata(row: Mapping, source_title: str) -> str:
    age, sex, official = row.get("age"), row.get("sex"), row.get("official_split")
    return (
        f"Patient Age: {'unknown' if age is None or is_missing(age) else int(age)}\n"
        f"Patient Sex: {'unknown' if is_missing(sex) else sex}\n"
        f"View: {row['view']}\n"
        f"Official Split: {'none' if is_missing(official) else official}\n"
        f"Dataset: {source_title}\n"
        f"License: {row['license']}"
    )
