"""Project pipelines: every collection under `pipelines/` (found by `find_pipelines`), and
`__default__`, all of them. Stage pipelines live in `stages/` and are not runnable alone.
Every node is memoized (`engine.memo`): a rerun skips what its inputs did not change."""

from kedro.framework.project import find_pipelines
from kedro.pipeline import Node, Pipeline

from unimed_kedro.engine.memo import memoized


def register_pipelines() -> dict[str, Pipeline]:
    collections = {n: memoize(p) for n, p in find_pipelines(raise_errors=True).items()}
    return {**collections, "__default__": sum(collections.values(), Pipeline([]))}


def memoize(pipeline: Pipeline) -> Pipeline:
    """The same nodes, each returning Deferreds (`engine.memo.memoized`). Kedro has no
    public way to swap a node's function: `_copy` is what its own namespacing uses."""
    return Pipeline([_memoized(node) for node in pipeline.nodes])


def _memoized(node: Node) -> Node:
    declared = node._outputs  # a name (one value returned) or a list (a sequence)
    if not isinstance(declared, (str, list)):  # no outputs, or a dict: left as it is
        return node
    count = None if isinstance(declared, str) else len(declared)
    return node._copy(func=memoized(node.func, count))
