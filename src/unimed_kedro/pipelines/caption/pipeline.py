"""Caption pipeline."""

from kedro.pipeline import Node, Pipeline

from unimed_kedro.pipelines.caption.nodes import caption_samples


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        Node(caption_samples, inputs=["records", "params:caption", "params:vocabulary"],
             outputs="captioned", name="caption"),
    ])
