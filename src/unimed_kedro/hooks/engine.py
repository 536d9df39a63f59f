"""`EngineHooks` starts the run's worker pools in the background once its first node's work
begins, stops them when it ends, and returns what each node freed to the system."""

from __future__ import annotations

import gc

from kedro.framework.hooks import hook_impl
from kedro.io import CatalogProtocol
from kedro.pipeline import Pipeline

from unimed_kedro import allocator
from unimed_kedro.engine import backends, memo
from unimed_kedro.engine.jobs import preload_of


class EngineHooks:
    """Worker pools and Dask LocalClusters live for one run (every job of the run shares
    them); they are stopped when the run ends, not at interpreter exit, where Dask's
    shutdown races its own atexit handlers."""

    @hook_impl
    def before_pipeline_run(self, pipeline: Pipeline, catalog: CatalogProtocol) -> None:
        """Start the run's workers in the background while the first (single-process)
        nodes work: a pool or LocalCluster takes 1-2 s to come up; its fork server loads
        the modules the run's job planners name (`engine.jobs.worker_modules`). Settings
        that cannot work fail here, before the first node."""
        if "params:executor" in catalog:
            executor = catalog.load("params:executor")
            backends.check_executor(executor)
            modules = sorted({m for node in pipeline.nodes for m in preload_of(node.func)})
            memo.on_first_work(lambda: backends.start_in_background(executor, modules))
        gc.freeze()  # what start-up made (modules, pipelines) lives all run: out of gc's walks

    @hook_impl
    def before_node_run(self) -> None:
        """What the nodes before freed goes back to the system: glibc keeps freed heap
        pages (a node's frames, thousands of small blocks) mapped, and the parent's RSS
        grew by every node's working set, as if each kept its tables. Before the next
        node, not after this one: a node's outputs are saved (and dropped) after its
        `after_node_run`. The collection walks only what the run made (see `gc.freeze`
        above): 0.1 s a node otherwise."""
        gc.collect()
        allocator.trim()

    @hook_impl
    def after_pipeline_run(self) -> None:
        memo.on_first_work(None)
        backends.shutdown()

    @hook_impl
    def on_pipeline_error(self) -> None:
        memo.on_first_work(None)
        backends.shutdown()
