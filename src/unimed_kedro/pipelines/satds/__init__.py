"""The `satds` collection: SAT-DS 3D segmentation datasets."""

from unimed_kedro.pipelines.satds.pipeline import create_pipeline  # noqa: F401
