"""Caption pipeline: one node, the collection's captioner, over its records a batch of
rows at a time (a caption depends on its own row only)."""

from collections.abc import Callable
from functools import update_wrapper

import pandas as pd
from kedro.pipeline import Node, Pipeline

from unimed_kedro.schema.tables import Batches, Tabular, batches_of

Captioner = Callable[[pd.DataFrame, dict, dict, dict], pd.DataFrame]


def per_batch(captioner: Captioner) -> Callable[..., Batches]:
    """`captioner` over each batch of the records, the captioned batches written as they
    come: the parent never holds the captions of the whole collection."""

    def caption(records: Tabular, sources: dict, params: dict, vocabulary: dict) -> Batches:
        return Batches(
            captioner(batch, sources, params, vocabulary) for batch in batches_of(records)
        )

    return update_wrapper(caption, captioner)


def create_pipeline(captioner: Captioner, **kwargs) -> Pipeline:
    """`captioner(records, sources, params, vocabulary)` adds each record's captions."""
    return Pipeline(
        [
            Node(
                per_batch(captioner),
                inputs=["records", "sources", "params:caption", "params:vocabulary"],
                outputs="captioned",
                name="caption",
            ),
        ]
    )
