"""Export pipelines."""

from unimed_kedro.stages.export.pipeline import create_pipeline, files_layout_pipeline  # noqa: F401
