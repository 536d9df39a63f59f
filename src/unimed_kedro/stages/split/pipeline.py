"""Split pipeline."""

from kedro.pipeline import Node, Pipeline

from unimed_kedro.stages.split.nodes import split_samples


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                split_samples,
                inputs=["normalized", "params:split"],
                outputs=["samples", "split_report"],
                name="split",
            ),
        ]
    )
