"""A node cannot see the command line that started it, so `ProvenanceHooks` hands it over:
before a run, every free input named `provenance` (namespaced: `cxr.provenance`) is filled
with `reporting.provenance.run_provenance(...)`: the equivalent `kedro run` command, the
parameters the run's nodes read, the git commit and the dvc.lock entry. Nodes stay pure
functions of their inputs, and a test can pass any provenance dict instead."""

from __future__ import annotations

from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import CatalogProtocol
from kedro.pipeline import Pipeline

from unimed_kedro.reporting.provenance import run_provenance

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
