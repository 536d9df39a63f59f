"""Project hooks, one module per job: provenance for the report nodes, the run's worker
pool, the node memo, the guards that stop a run before it writes, and the one-line failure."""

from unimed_kedro.hooks.engine import EngineHooks
from unimed_kedro.hooks.failures import FailureHooks, failure_line
from unimed_kedro.hooks.guards import DataLockHooks, RawRootHooks
from unimed_kedro.hooks.memo import MemoHooks
from unimed_kedro.hooks.provenance import ProvenanceHooks

__all__ = [
    "DataLockHooks",
    "EngineHooks",
    "FailureHooks",
    "MemoHooks",
    "ProvenanceHooks",
    "RawRootHooks",
    "failure_line",
]
