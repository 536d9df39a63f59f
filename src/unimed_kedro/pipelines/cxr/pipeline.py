"""`kedro run --pipelines cxr`: the stage pipelines composed under the `cxr` namespace.

Each source's ingest runs in its own namespace (`cxr.chexpert`, ...); from caption on, the
sources travel together. Collection settings are `params:cxr.*`; the label vocabulary and
the executor are shared by every collection and stay global.
"""

from kedro.pipeline import Pipeline

from unimed_kedro.pipelines import caption, export, ingest, normalize, report, split

SOURCES = ["chexpert", "nih", "mimic", "openi"]
SHARED_PARAMETERS = {"params:vocabulary": "params:vocabulary",
                     "params:executor": "params:executor"}


def create_pipeline(**kwargs) -> Pipeline:
    stages = (ingest.create_pipeline(SOURCES) + caption.create_pipeline()
              + normalize.create_pipeline(SOURCES) + split.create_pipeline()
              + export.create_pipeline() + report.create_pipeline())
    return Pipeline(stages, namespace="cxr", parameters=SHARED_PARAMETERS)
