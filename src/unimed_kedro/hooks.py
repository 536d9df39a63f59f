"""Project hooks.

`EngineHooks` starts the run's worker pools in the background, stops them when it ends, and
makes pyarrow return freed memory to the system.

A node cannot see the command line that started it, so `ProvenanceHooks` hands it over:
before a run, every free input named `provenance` (namespaced: `cxr.provenance`) is filled
with `reporting.provenance.run_provenance(...)`: the equivalent `kedro run` command, the
parameters the run's nodes read, the git commit and the dvc.lock entry. Nodes stay pure
functions of their inputs, and a test can pass any provenance dict instead.

`RawRootHooks` stops a run whose raw_root holds none of the collection's sources before
anything is written (`stages.ingest.raw_root`). `FailureHooks` makes a failed run end with
one line naming the node, the cause and where it was raised; the full traceback goes to
info.log (conf/logging.yml), or to the console too with UNIMED_TRACEBACK=1.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from types import TracebackType
from typing import Any

import pyarrow as pa
from kedro.framework.hooks import hook_impl
from kedro.framework.project import pipelines
from kedro.io import CatalogProtocol
from kedro.pipeline import Node, Pipeline

from unimed_kedro.datasets.raw_source_dataset import RawSourceDataset
from unimed_kedro.engine import backends, lock
from unimed_kedro.engine.jobs import preload_of
from unimed_kedro.reporting.provenance import run_provenance
from unimed_kedro.stages.ingest.raw_root import check_raw_root

PROVENANCE = "provenance"


class ProvenanceHooks:
    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: CatalogProtocol
    ) -> None:
        inputs = sorted(pipeline.inputs())
        wanted = [n for n in inputs if n.rsplit(".", 1)[-1] == PROVENANCE]
        if not wanted:
            return
        parameters = {n: catalog.load(n) for n in inputs if n.startswith("params:")}
        record = run_provenance(run_params, parameters)
        for name in wanted:
            catalog[name] = record  # kept in memory for this run only


class EngineHooks:
    """Worker pools and Dask LocalClusters live for one run (every job of the run shares
    them); they are stopped when the run ends, not at interpreter exit, where Dask's
    shutdown races its own atexit handlers."""

    @hook_impl
    def before_pipeline_run(self, pipeline: Pipeline, catalog: CatalogProtocol) -> None:
        """Start the run's workers in the background while the first (single-process)
        nodes run: a pool or LocalCluster takes 1-2 s to come up; its fork server loads
        the modules the run's job planners name (`engine.jobs.worker_modules`). Tables go
        through the system allocator: pyarrow's default (mimalloc) keeps what every node's
        parquet load freed, +50 MB of peak RSS at 20,000 samples, and was no faster here."""
        pa.set_memory_pool(pa.system_memory_pool())
        if "params:executor" in catalog:
            modules = sorted({m for node in pipeline.nodes for m in preload_of(node.func)})
            backends.start_in_background(catalog.load("params:executor"), modules)

    @hook_impl
    def after_pipeline_run(self) -> None:
        backends.shutdown()

    @hook_impl
    def on_pipeline_error(self) -> None:
        backends.shutdown()


ALLOW_EMPTY = "params:allow_empty_collection"


class RawRootHooks:
    """Before anything runs (first of the project's hooks): raw_root must hold at least one
    source of the collections being run. The raw datasets are those of the whole registered
    pipelines, not of the filtered run: DVC ingests one source at a time (`--namespaces
    cxr.<source>`), and an empty folder for that source is fine while another is there."""

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], catalog: CatalogProtocol) -> None:
        names = run_params.get("pipeline_names") or ["__default__"]
        whole = sum((pipelines[name] for name in names), Pipeline([]))
        raws = [
            dataset.load()
            for dataset in map(catalog.get, sorted(whole.inputs()))
            if isinstance(dataset, RawSourceDataset)
        ]
        allow = catalog.get(ALLOW_EMPTY)
        check_raw_root(raws, allow_empty=allow is not None and _true(allow.load()))


def _true(value: Any) -> bool:
    return value is True or str(value).strip().lower() in {"true", "1", "yes"}


FULL_TRACEBACK = "UNIMED_TRACEBACK"  # =1: the console shows the full traceback as well
FAILURE_LOG = logging.getLogger("unimed_kedro.failure")  # conf/logging.yml: info.log only


class FailureHooks:
    """One clear last line for a failed `kedro run`: Python prints an uncaught exception
    through `sys.excepthook`, which this hook replaces for the run (from context creation,
    so a bad raw_root or catalog entry counts too) with `failure_line`, after logging the
    full traceback to `unimed_kedro.failure` where the logging config gives that logger a
    handler of its own (conf/logging.yml: info.log, not the console)."""

    def __init__(self) -> None:
        self.node: str | None = None
        self.error: BaseException | None = None
        self._previous = sys.excepthook

    @hook_impl
    def after_context_created(self) -> None:
        self.node, self.error = None, None
        if sys.excepthook is not self.excepthook:
            self._previous, sys.excepthook = sys.excepthook, self.excepthook

    @hook_impl
    def on_node_error(self, error: Exception, node: Node) -> None:
        if self.error is None:
            self.error, self.node = error, node.name

    @hook_impl
    def after_pipeline_run(self) -> None:
        if sys.excepthook is self.excepthook:
            sys.excepthook = self._previous

    def excepthook(
        self, kind: type[BaseException], error: BaseException, tb: TracebackType | None
    ) -> None:
        if not isinstance(error, Exception):  # KeyboardInterrupt, SystemExit
            self._previous(kind, error, tb)
            return
        line = failure_line(error, self.node if _caused_by(error, self.error) else None)
        files = [h.baseFilename for h in FAILURE_LOG.handlers if isinstance(h, logging.FileHandler)]
        if FAILURE_LOG.handlers:
            FAILURE_LOG.error(line, exc_info=(kind, error, tb))
        if os.environ.get(FULL_TRACEBACK, "") not in ("", "0"):
            self._previous(kind, error, tb)
        elif files:
            line += f" [traceback in {files[0]}]"
        else:
            line += f" [traceback: {FULL_TRACEBACK}=1]"
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


def failure_line(error: BaseException, node: str | None) -> str:
    """`kedro run failed in node <node>: <Type>: <message> (raised at <our file:line>)`,
    the message on one line; the root cause (`raise ... from`) is added when it says
    something else."""
    where = f" in node {node}" if node else ""
    text = f"kedro run failed{where}: {_described(error)}"
    root = _root_cause(error)
    if root is not error and str(root) not in str(error):
        text += f"; cause: {_described(root)}"
    raised = _raised_at(root) or _raised_at(error)
    return f"{text} (raised at {raised})" if raised else text


def _root_cause(error: BaseException) -> BaseException:
    """The last explicit cause; a worker's formatted traceback (what a process pool chains
    to the error it passes back) is not one."""
    seen = {id(error)}
    while (cause := error.__cause__) is not None and id(cause) not in seen:
        if "Traceback (most recent call last)" in str(cause):
            break
        seen.add(id(cause))
        error = cause
    return error


def _described(error: BaseException) -> str:
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _raised_at(error: BaseException) -> str | None:
    """The innermost frame of this package that the error went through."""
    marker = f"{os.sep}unimed_kedro{os.sep}"
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if marker in frame.filename:
            return f"unimed_kedro{os.sep}{frame.filename.rsplit(marker, 1)[1]}:{frame.lineno}"
    return None


def _caused_by(error: BaseException, node_error: BaseException | None) -> bool:
    """Whether `error` is the failed node's error, or was raised from or while handling it."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if current is node_error:
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


class DataLockHooks:
    """One `kedro run` at a time on the project's data folder (`engine.lock`): taken
    before anything else runs, given back when the run ends or fails (by the kernel when
    its process dies); a second run stops at once, naming the first."""

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        lock.acquire(lock.data_folder(run_params["project_path"]))

    @hook_impl(trylast=True)
    def after_pipeline_run(self, run_params: dict[str, Any]) -> None:
        lock.release(lock.data_folder(run_params["project_path"]))

    @hook_impl(trylast=True)
    def on_pipeline_error(self, run_params: dict[str, Any]) -> None:
        lock.release(lock.data_folder(run_params["project_path"]))
