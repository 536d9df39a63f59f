"""Normalize pipeline: every record's raw file through the per-item engine into the store,
then joined back to the captioned records."""

from kedro.pipeline import Node, Pipeline

from unimed_kedro.stages.normalize.nodes import join_normalized, plan_normalize
from unimed_kedro.stages.normalize.volumes import plan_volumes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                plan_normalize,
                inputs=[
                    "records",
                    "sources",
                    "params:normalize",
                    "params:ingest",  # allow_symlinks: read by ingest and the workers
                    "params:executor",
                    "params:raw_root",
                ],
                outputs="normalized_images",
                name="normalize_images",
            ),
            Node(
                join_normalized,
                inputs=["captioned", "normalized_images"],
                outputs=["normalized", "normalize_rejects"],
                name="join_normalized",
            ),
        ]
    )


def volume_pipeline(**kwargs) -> Pipeline:
    """Every labelled volume record through the per-item engine into the store of
    arrays (`normalized_volumes`), then joined back."""
    return Pipeline(
        [
            Node(
                plan_volumes,
                inputs=[
                    "captioned",  # the final labels and the keys each one unions
                    "sources",
                    "params:normalize",
                    "params:ingest",
                    "params:executor",
                    "params:raw_root",
                ],
                outputs="normalized_volumes",
                name="normalize_volumes",
            ),
            Node(
                join_normalized,
                inputs=["captioned", "normalized_volumes"],
                outputs=["normalized", "normalize_rejects"],
                name="join_normalized",
            ),
        ]
    )
