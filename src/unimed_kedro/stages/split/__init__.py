"""Split stage: patient-level train/val/test assignment and its report."""

from unimed_kedro.stages.split.pipeline import create_pipeline  # noqa: F401
