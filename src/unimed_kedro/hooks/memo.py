"""`MemoHooks` gives a run its node memo (`engine.memo`): the records live in the data
folder's `.node-memo/`, beside the run's lock; a node that is not memoized gets its
inputs' values, not Deferreds."""

from __future__ import annotations

from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.pipeline import Node

from unimed_kedro.engine import lock, memo

FOLDER = ".node-memo"


class MemoHooks:
    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        memo.configure(lock.data_folder(run_params["project_path"]) / FOLDER)

    @hook_impl
    def before_node_run(self, node: Node, inputs: dict[str, Any]) -> dict[str, Any] | None:
        if getattr(node.func, "memoized", False):
            return None
        deferred = [name for name, value in inputs.items() if isinstance(value, memo.Deferred)]
        return {name: memo.settled(inputs[name]) for name in deferred} or None

    @hook_impl
    def after_pipeline_run(self) -> None:
        memo.configure(None)

    @hook_impl
    def on_pipeline_error(self) -> None:
        memo.configure(None)
