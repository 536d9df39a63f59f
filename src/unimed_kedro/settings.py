"""Kedro project settings."""

from kedro.config import OmegaConfigLoader

from unimed_kedro.hooks import (
    DataLockHooks,
    EngineHooks,
    FailureHooks,
    MemoHooks,
    ProvenanceHooks,
    RawRootHooks,
)

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {"base_env": "base", "default_run_env": "local"}
# Records how a build was made for the data card, starts the run's workers, refuses a
# raw_root without sources before anything runs, keeps the node memo, and ends a failed run with one clear
# line (see hooks/).
HOOKS = (
    ProvenanceHooks(),
    EngineHooks(),
    MemoHooks(),
    RawRootHooks(),
    FailureHooks(),
    DataLockHooks(),
)
