"""Export stage: WebDataset shards, the downloader's folder layout, and the reports."""
from unimed_kedro.pipelines.export.pipeline import create_pipeline  # noqa: F401
