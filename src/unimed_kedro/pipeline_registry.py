"""Project pipelines: every collection under `pipelines/` (found by `find_pipelines`), and
`__default__`, all of them. Stage pipelines live in `stages/` and are not runnable alone."""

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline


def register_pipelines() -> dict[str, Pipeline]:
    collections = find_pipelines(raise_errors=True)
    return {**collections, "__default__": sum(collections.values(), Pipeline([]))}
