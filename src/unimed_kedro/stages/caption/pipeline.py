"""Caption pipeline: one node, the collection's captioner, over its records."""

from collections.abc import Callable

import pandas as pd
from kedro.pipeline import Node, Pipeline

Captioner = Callable[[pd.DataFrame, dict, dict, dict], pd.DataFrame]


def create_pipeline(captioner: Captioner, **kwargs) -> Pipeline:
    """`captioner(records, sources, params, vocabulary)` adds each record's captions."""
    return Pipeline(
        [
            Node(
                captioner,
                inputs=["records", "sources", "params:caption", "params:vocabulary"],
                outputs="captioned",
                name="caption",
            ),
        ]
    )
