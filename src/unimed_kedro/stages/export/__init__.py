"""Export pipelines."""

from unimed_kedro.stages.export.pipeline import (  # noqa: F401
    create_pipeline,
    files_layout_pipeline,
    pretraining_pipeline,
    volume_pipeline,
)
