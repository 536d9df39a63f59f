"""`kedro run --pipelines unimed`: UniMed-CLIP's pretraining set, one WebDataset folder per
source, composed of the stage pipelines under the `unimed` namespace. The one place that
chooses its sources and stages.

Its sources are the four chest X-ray ones (read, and captioned from reports and labels,
as `cxr` does) and UniMed's image–text sources (`sources/imagetext/`). From caption on
they travel together: the shared normalize stage, then the selection that holds
evaluation data out and keeps one copy of each image, then one shard folder per source
and open_clip's `mixture.json`. Settings: `params:unimed.*` (`conf/base/unimed/`).
"""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline

from unimed_kedro.captions.cxr.records import caption_records
from unimed_kedro.captions.imagetext import mixed_captions
from unimed_kedro.sources.registry import entries
from unimed_kedro.stages import caption, export, ingest, normalize, report, split


def family(module: str) -> list[str]:
    """The registry's sources read by a family's modules, in registry order."""
    return [name for name, e in entries().items() if e.reader.startswith(f"{module}.")]


CHEST_SOURCES = family("unimed_kedro.sources.cxr")
SOURCES = [*CHEST_SOURCES, *family("unimed_kedro.sources.imagetext")]
SHARED_PARAMETERS = {"params:executor": "params:executor", "params:raw_root": "params:raw_root"}

# chest films are captioned as `cxr` captions them (params: `caption.others`)
captions = update_wrapper(
    partial(mixed_captions, others=caption_records, other_sources=CHEST_SOURCES),
    mixed_captions,
)


def create_pipeline(**kwargs) -> Pipeline:
    stages = (
        ingest.create_pipeline(SOURCES)
        + caption.create_pipeline(captions)
        + normalize.create_pipeline()
        + split.pretraining_pipeline()
        + export.pretraining_pipeline()
        + report.create_pipeline(balance="params:report")
    )
    return Pipeline(stages, namespace="unimed", parameters=SHARED_PARAMETERS)
