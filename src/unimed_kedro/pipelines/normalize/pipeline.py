"""Normalize pipeline."""

from kedro.pipeline import Node, Pipeline

from unimed_kedro.pipelines.normalize.nodes import join_normalized, plan_normalize


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        Node(plan_normalize, inputs=["captioned", "params:normalize", "params:executor"],
             outputs="normalized_images", name="normalize_images"),
        Node(join_normalized, inputs=["captioned", "normalized_images"],
             outputs=["normalized", "normalize_rejects"], name="join_normalized"),
    ])
