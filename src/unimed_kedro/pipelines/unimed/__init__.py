"""The `unimed` collection: UniMed-CLIP's image–text pretraining set."""

from unimed_kedro.pipelines.unimed.pipeline import create_pipeline  # noqa: F401
