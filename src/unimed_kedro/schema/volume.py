"""The 3D volume record: an image volume (or one channel of a multi-channel one) and the
segmentation mask(s) that go with it."""

from __future__ import annotations

from unimed_kedro.schema.base import BASE_COLUMNS, RecordKind

# How a record's labels are stored: one integer label map (`declared_keys` are its values,
# as decimal text) or one binary mask file per label (`declared_keys` are the file names in
# the folder `mask_relpath`).
LABEL_MAP, LABEL_FILES = "labelmap", "files"

VOLUME = RecordKind(
    "volume",
    columns=(
        *BASE_COLUMNS,  # raw_relpath: the image file, inside the source folder
        "dataset",  # the dataset the record belongs to (a registry entry's, or a folder's)
        "mask_relpath",  # the mask file, or the folder of one file per label
        "mask_kind",  # LABEL_MAP or LABEL_FILES
        "declared_keys",  # per declared label: its value in the map, or its file name
        "declared_names",  # per declared label: its name as the dataset declares it
        "channel",  # the channel's name in a multi-channel image (FLAIR, T2), else None
        "channel_index",  # the channel's index along the image's 4th axis, else NaN
        "modality",  # CT / MRI / PET
    ),
    float_columns=("channel_index",),
)
