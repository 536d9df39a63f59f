"""Normalize stage: every record's raw image (2D: decode, validate, resize, re-encode) or
volume (3D: orient, resample, normalize intensities, write arrays), in parallel."""

from unimed_kedro.stages.normalize.pipeline import create_pipeline, volume_pipeline  # noqa: F401
