"""Stage pipelines (ingest, caption, normalize, split, export, report): nodes and their
wiring, with no collection's facts; collections in `pipelines/` compose them."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def per_source_names() -> Iterator[None]:
    """Nodes that read every source's namespaced dataset (`chexpert.manifest`) name them
    with a dot on purpose; Kedro's warning about dots targets names that clash with
    namespaces."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="One or more dataset names contain")
        yield
