"""Caption stage: a training caption and a structured caption for every record."""

from unimed_kedro.stages.caption.pipeline import create_pipeline  # noqa: F401
