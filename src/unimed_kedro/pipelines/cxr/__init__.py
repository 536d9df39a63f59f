"""The chest X-ray collection: CheXpert, NIH ChestX-ray14, MIMIC-CXR-JPG and OpenI."""

from unimed_kedro.pipelines.cxr.pipeline import create_pipeline  # noqa: F401
