"""Normalize pipeline: reads each source's raw folder (`<source>.raw`) for the images."""

from kedro.pipeline import Node, Pipeline

from unimed_kedro.pipelines import per_source_names
from unimed_kedro.pipelines.normalize.nodes import join_normalized, plan_normalize


def create_pipeline(sources: list[str], **kwargs) -> Pipeline:
    with per_source_names():
        plan = Node(plan_normalize,
                    inputs=["records", "params:normalize", "params:executor",
                            *[f"{s}.raw" for s in sources]],
                    outputs="normalized_images", name="normalize_images")
    return Pipeline([
        plan,
        Node(join_normalized, inputs=["captioned", "normalized_images"],
             outputs=["normalized", "normalize_rejects"], name="join_normalized"),
    ])
