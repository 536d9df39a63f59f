"""Normalize pipelines: every record's raw file through the per-item engine into a store
(2D images, or volumes and their masks), then joined back to the captioned records."""

from collections.abc import Callable

from kedro.pipeline import Node, Pipeline

from unimed_kedro.stages.normalize.nodes import join_normalized, plan_normalize
from unimed_kedro.stages.normalize.volumes import plan_volumes


def create_pipeline(**kwargs) -> Pipeline:
    return _normalize(plan_normalize, "records", "normalized_images", "normalize_images")


def volume_pipeline(**kwargs) -> Pipeline:
    """Volumes are planned from the captioned records: the workers need each sample's
    final labels and the keys each one unions."""
    return _normalize(plan_volumes, "captioned", "normalized_volumes", "normalize_volumes")


def _normalize(plan: Callable, records: str, store: str, name: str) -> Pipeline:
    return Pipeline(
        [
            Node(
                plan,
                inputs=[
                    records,
                    "sources",
                    "params:normalize",
                    "params:ingest",  # allow_symlinks: read by ingest and the workers
                    "params:executor",
                    "params:raw_root",
                ],
                outputs=store,
                name=name,
            ),
            Node(
                join_normalized,
                inputs=["captioned", store],
                outputs=["normalized", "normalize_rejects"],
                name="join_normalized",
            ),
        ]
    )
