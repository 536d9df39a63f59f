"""Report stage: charts, a thumbnail sheet and the data card of a built collection."""

from unimed_kedro.stages.report.pipeline import create_pipeline, volume_pipeline  # noqa: F401
