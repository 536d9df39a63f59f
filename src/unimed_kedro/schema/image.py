"""The 2D image record: a radiograph, a photograph, a figure, a slide tile."""

from __future__ import annotations

from unimed_kedro.schema.base import BASE_COLUMNS, RecordKind

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

# An image–text pair's image (UniMed's non-chest sources): the base, what dataset inside
# the source it comes from (a retinal dataset, a Quilt subset), its modality, the class
# names a template caption can use (RadImageNet's label, a retinal finding), and the
# captions the source ships with it.
IMAGE_TEXT = RecordKind(
    "image_text",
    columns=(
        *BASE_COLUMNS,
        "dataset",
        "modality",  # CT / MR / US / fundus / pathology / figure ...; None when unknown
        "findings",  # class names for template captions (a list; empty when none)
        "source_captions",  # every caption the source ships for this image, in file order
    ),
)
