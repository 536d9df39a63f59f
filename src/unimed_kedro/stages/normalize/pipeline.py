"""Normalize pipeline: every record's raw file through the per-item engine into the store,
then joined back to the captioned records."""

from kedro.pipeline import Node, Pipeline

from unimed_kedro.stages.normalize.nodes import join_normalized, plan_normalize


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
