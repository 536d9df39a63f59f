"""Normalize stage: decode, validate, resize and re-encode every image, in parallel."""

from unimed_kedro.stages.normalize.pipeline import create_pipeline  # noqa: F401
