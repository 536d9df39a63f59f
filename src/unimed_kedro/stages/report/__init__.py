"""Report stage: charts, a thumbnail sheet and the data card of a built collection."""

from unimed_kedro.stages.report.pipeline import create_pipeline  # noqa: F401
