"""Split pipeline."""

from kedro.pipeline import Node, Pipeline

from unimed_kedro.stages.split.nodes import split_samples
from unimed_kedro.stages.split.pretraining import select_pretraining


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


def pretraining_pipeline(**kwargs) -> Pipeline:
    """No splits: evaluation data held out, one copy of each image kept."""
    return Pipeline(
        [
            Node(
                select_pretraining,
                inputs=["normalized", "params:select"],
                outputs=["samples", "select_rejects", "duplicates"],
                name="select",
            ),
        ]
    )
