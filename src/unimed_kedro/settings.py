"""Kedro project settings."""

from kedro.config import OmegaConfigLoader

from unimed_kedro.hooks import EngineHooks, ProvenanceHooks

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {"base_env": "base", "default_run_env": "local"}
# Records how a build was made for the data card (see hooks.py).
HOOKS = (ProvenanceHooks(), EngineHooks())
