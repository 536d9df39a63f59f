"""Split stage: patient-level train/val/test assignment and its report; for a pretraining
collection, evaluation hold-out and one copy per image instead."""

from unimed_kedro.stages.split.pipeline import create_pipeline, pretraining_pipeline  # noqa: F401
