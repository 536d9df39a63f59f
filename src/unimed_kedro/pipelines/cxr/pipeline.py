"""`kedro run --pipelines cxr`: the chest X-ray collection, composed of the stage pipelines
under the `cxr` namespace. The one place that chooses cxr's sources and stages.

Each source's ingest runs in its own namespace (`cxr.chexpert`, ...); from caption on, the
sources travel together. Settings are `params:cxr.*` (`conf/base/cxr/`); the executor and
raw_root are shared by every collection and stay global.
"""

from kedro.pipeline import Pipeline

from unimed_kedro.captions.cxr.records import caption_records
from unimed_kedro.stages import caption, export, ingest, normalize, report, split

SOURCES = ["chexpert", "nih", "mimic", "openi"]
SHARED_PARAMETERS = {"params:executor": "params:executor", "params:raw_root": "params:raw_root"}


def create_pipeline(**kwargs) -> Pipeline:
    stages = (
        ingest.create_pipeline(SOURCES)
        + caption.create_pipeline(caption_records)
        + normalize.create_pipeline()
        + split.create_pipeline()
        + export.create_pipeline()
        + export.files_layout_pipeline()
        + report.create_pipeline()
    )
    return Pipeline(stages, namespace="cxr", parameters=SHARED_PARAMETERS)
