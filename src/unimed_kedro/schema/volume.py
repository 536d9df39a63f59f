"""The 3D volume record: an image volume and its segmentation mask(s)."""

from __future__ import annotations

from unimed_kedro.schema.base import BASE_COLUMNS, RecordKind

VOLUME = RecordKind(
    "volume",
    columns=(
        *BASE_COLUMNS,
        "dataset",  # the registry entry the volume belongs to
        "mask_relpath",  # a mask file, or the folder of one file per label
        "channel",  # which channel of a multi-channel image, else None
        "modality",  # CT / MRI / PET
        "label_names",  # the labels the mask's values (or files) stand for
        "spacing_x",
        "spacing_y",
        "spacing_z",  # mm, as stored in the raw header
    ),
    float_columns=("spacing_x", "spacing_y", "spacing_z"),
)
