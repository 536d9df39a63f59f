"""The chest X-ray downloader's structured caption (`files/captions/<key>.txt`).

Header lines, then `=== FINDINGS ===`, `=== IMPRESSION ===`, `=== STRUCTURED LABELS ===`
(one `Label: positive|negative|uncertain` line per annotated label; not-annotated labels are
left out, as the seed does for blank CheXpert cells) and `=== METADATA ===`.
"""

from __future__ import annotations

from collections.abc import Mapping

from unimed_kedro.captions.text import (
    annotated_labels,
    clean_report_text,
    join_names,
    label_states,
)
from unimed_kedro.schema import LABEL_PREFIX, POSITIVE, is_missing


def structured_caption(row: Mapping, *, source_title: str, params: Mapping,
                       union: Mapping[str, str], redactions: list[str],
                       annotated: list | None = None) -> str:
    annotated = annotated_labels(row, union) if annotated is None else annotated
    findings, impression = _sections(row, params, annotated, redactions)
    header = [
        f"SOURCE: {source_title}",
        f"PATIENT_ID: {str(row['patient_id']).split(':', 1)[1]}",
        f"STUDY_ID: {row['study_id']}",
        f"VIEW_POSITION: {row['view']}",
        f"IMAGE_ID: {row['sample_id'].split('-', 1)[1]}",
    ]
    blocks = [
        "\n".join(header),
        f"=== FINDINGS ===\n{findings}",
        f"=== IMPRESSION ===\n{impression}",
        "=== STRUCTURED LABELS ===\n" + "\n".join(
            [f"{display}: {state}" for _, display, state in annotated]
            or ["(no labels annotated)"]),
        "=== METADATA ===\n" + "\n".join(_metadata_lines(row, source_title)),
    ]
    return "\n\n".join(blocks) + "\n"


def _sections(row: Mapping, params: Mapping, annotated: list,
              redactions: list[str]) -> tuple[str, str]:
    findings = clean_report_text(row.get("report_findings"), redactions)
    impression = clean_report_text(row.get("report_impression"), redactions)
    if findings or impression:
        return findings or params["missing_text"], impression or params["missing_text"]
    positives = label_states(annotated)["positive"]
    if positives:
        names = join_names(positives)
        return (params["findings_template"].format(findings=names),
                params["impression_template"].format(findings=names))
    if row.get(f"{LABEL_PREFIX}no_finding") == POSITIVE:
        return params["normal_findings"], params["normal_impression"]
    return params["missing_text"], params["missing_text"]


def _metadata_lines(row: Mapping, source_title: str) -> list[str]:
    age, sex, official = row.get("age"), row.get("sex"), row.get("official_split")
    return [
        f"Patient Age: {'unknown' if is_missing(age) else int(age)}",
        f"Patient Sex: {'unknown' if is_missing(sex) else sex}",
        f"View: {row['view']}",
        f"Official Split: {'none' if is_missing(official) else official}",
        f"Dataset: {source_title}",
        f"License: {row['license']}",
    ]
