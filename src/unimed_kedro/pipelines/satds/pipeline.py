"""`kedro run --pipelines satds`: SAT-DS's 3D segmentation collection, composed of the
stage pipelines under the `satds` namespace. The one place that chooses its sources and
stages.

Its sources are every entry of the segmentation family's registry (one per dataset, and
`unlisted` for MSD / nnU-Net folders no entry names); an absent folder is skipped. The
caption stage makes each sample's class list (its text prompts); normalize writes the
arrays; export writes SAT-DS's JSONL and split files. Settings: `params:satds.*`.
"""

from kedro.pipeline import Pipeline

from unimed_kedro.captions.segmentation import label_records
from unimed_kedro.sources.registry import entries
from unimed_kedro.stages import caption, export, ingest, normalize, report, split

FAMILY = "unimed_kedro.sources.segmentation."
SOURCES = [name for name, e in entries().items() if e.reader.startswith(FAMILY)]
SHARED_PARAMETERS = {"params:executor": "params:executor", "params:raw_root": "params:raw_root"}


def create_pipeline(**kwargs) -> Pipeline:
    stages = (
        ingest.create_pipeline(SOURCES)
        + caption.create_pipeline(label_records)
        + normalize.volume_pipeline()
        + split.create_pipeline()
        + export.volume_pipeline()
        + report.volume_pipeline()
    )
    return Pipeline(stages, namespace="satds", parameters=SHARED_PARAMETERS)
