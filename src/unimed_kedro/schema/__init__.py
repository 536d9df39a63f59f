"""Records: the base every kind shares (`base`) and the kinds built on it: 2D images
(`image`), 3D volumes (`volume`), DICOM series (`series`)."""

from unimed_kedro.schema.base import (
    BASE_COLUMNS,
    LABEL_PREFIX,
    NEGATIVE,
    POSITIVE,
    RAW_SHA256,
    REJECT_COLUMNS,
    SPLITS,
    UNCERTAIN,
    RecordKind,
    is_missing,
    label_columns,
    label_columns_in,
    label_name,
    make_sample_id,
    reject_records,
    rejects_frame,
    row_dicts,
    seeded_keys,
)
from unimed_kedro.schema.image import IMAGE, IMAGE_TEXT
from unimed_kedro.schema.series import SERIES
from unimed_kedro.schema.volume import VOLUME

__all__ = [
    "BASE_COLUMNS",
    "IMAGE",
    "IMAGE_TEXT",
    "LABEL_PREFIX",
    "NEGATIVE",
    "POSITIVE",
    "RAW_SHA256",
    "REJECT_COLUMNS",
    "SERIES",
    "SPLITS",
    "UNCERTAIN",
    "VOLUME",
    "RecordKind",
    "is_missing",
    "label_columns",
    "label_columns_in",
    "label_name",
    "make_sample_id",
    "reject_records",
    "rejects_frame",
    "row_dicts",
    "seeded_keys",
]
