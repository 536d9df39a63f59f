"""Explicit registry.

Kedro >= 1.5 imports only `pipelines/<name>/` for `--pipelines <name>`, so every collection
has its own folder and this registry names each one explicitly instead of calling
`find_pipelines` (which would also register the stage pipelines as runnable collections).
"""

from kedro.pipeline import Pipeline

from unimed_kedro.pipelines import cxr


def register_pipelines() -> dict[str, Pipeline]:
    collections = {"cxr": cxr.create_pipeline()}
    return {**collections, "__default__": sum(collections.values(), Pipeline([]))}
