"""The 2D image record: a radiograph, a photograph, a figure, a slide tile."""

from __future__ import annotations

from unimed_kedro.schema.base import RecordKind

IMAGE = RecordKind(
    "image",
    columns=(
        "sample_id",
        "source",
        "patient_id",
        "study_id",
        "raw_relpath",
        "view",  # PA / AP / LATERAL / ... / UNKNOWN (the family's vocabulary)
        "sex",  # M / F / None
        "age",  # years, NaN when unknown
        "official_split",
        "license",
        "report_findings",
        "report_impression",
        "source_captions",  # candidate captions shipped with the data, when present
    ),
    float_columns=("age",),
)
