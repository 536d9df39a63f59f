"""Runs that must not start: `RawRootHooks` stops a run whose raw_root holds none of the
collection's sources (`stages.ingest.raw_root`), `DataLockHooks` a second run on the same
data folder (`engine.lock`), both before anything is written."""

from __future__ import annotations

from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.framework.project import pipelines
from kedro.io import CatalogProtocol
from kedro.pipeline import Pipeline

from unimed_kedro.datasets.raw_source_dataset import RawSourceDataset
from unimed_kedro.engine import lock
from unimed_kedro.stages.ingest.raw_root import check_raw_root

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
