"""The DICOM series record: one acquisition assembled from its instances."""

from __future__ import annotations

from unimed_kedro.schema.base import BASE_COLUMNS, RecordKind

SERIES = RecordKind(
    "series",
    columns=(
        *BASE_COLUMNS,  # raw_relpath: the folder holding the series' files
        "study_uid",
        "series_uid",
        "modality",
        "instances",  # number of image instances
        "slice_thickness",  # mm, the header value
        "positions",  # ImagePositionPatient along the slice normal, sorted
        "qc",  # None when the series passes, else the failed rule
    ),
    float_columns=("slice_thickness",),
)
