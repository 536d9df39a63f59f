"""Ingest stage: raw source folders -> one manifest and one rejects table per source."""

from unimed_kedro.stages.ingest.pipeline import create_pipeline  # noqa: F401
