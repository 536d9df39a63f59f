"""Export pipelines: the shard index, WebDataset shards, the rejects and the statistics
every collection has (`create_pipeline`), and the chest X-ray downloader's files layout
for the collections that want it (`files_layout_pipeline`)."""

from collections.abc import Callable

from kedro.pipeline import Node, Pipeline

from unimed_kedro.stages.export.mixture import mixture, statistics_with_holdout
from unimed_kedro.stages.export.nodes import (
    build_shard_index,
    collect_rejects,
    plan_files,
    plan_webdataset,
    statistics,
)
from unimed_kedro.stages.export.volumes import export_volumes, satds_files

# the shard index (licence filter included) and the WebDataset shards it plans
SHARDS = [
    Node(
        build_shard_index,
        inputs=["samples", "sources", "params:export"],
        outputs=["shard_index", "export_rejects"],
        name="build_shard_index",
    ),
    Node(
        plan_webdataset,
        inputs=["shard_index", "normalized_images", "params:export", "params:executor"],
        outputs="webdataset",
        name="write_webdataset",
    ),
]


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            *SHARDS,
        ]
    ) + _accounting("shard_index")


def files_layout_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                plan_files,
                inputs=["shard_index", "normalized_images", "params:export", "params:executor"],
                outputs="files",
                name="write_files_layout",
            ),
        ]
    )


def volume_pipeline(**kwargs) -> Pipeline:
    """SAT-DS's JSONL and split files, the rejects and the statistics of a volume
    collection (its arrays are written by normalize)."""
    return Pipeline(
        [
            Node(
                export_volumes,
                inputs=["samples", "sources", "params:export"],
                outputs=["exported", "export_rejects"],
                name="export_volumes",
            ),
            Node(
                satds_files,
                inputs="exported",
                outputs=[
                    "jsonl",
                    "split_json",
                    "trainset_jsonl",
                    "testset_jsonl",
                    "train_jsonl",
                    "test_jsonl",
                ],
                name="write_satds_files",
            ),
        ]
    ) + _accounting("exported")


def pretraining_pipeline(**kwargs) -> Pipeline:
    """One shard folder per source and open_clip's `mixture.json`, the rejects (those of
    the selection included) and statistics with held-out records counted apart."""
    return Pipeline(
        [
            *SHARDS,
            Node(
                mixture,
                inputs=["shard_index", "webdataset", "params:export"],
                outputs="mixture",
                name="write_mixture",
            ),
        ]
    ) + _accounting("shard_index", ["select_rejects"], statistics_with_holdout)


def _accounting(
    exported: str, more_rejects: list[str] | None = None, count: Callable = statistics
) -> Pipeline:
    """Every collection's rejects table and statistics (conservation per source), from
    the table of what it exported; `more_rejects`: a collection's own reject tables."""
    return Pipeline(
        [
            Node(
                collect_rejects,
                inputs=["ingest_rejects", "normalize_rejects", "export_rejects"]
                + (more_rejects or []),
                outputs="rejects",
                name="collect_rejects",
            ),
            Node(
                count,
                inputs=["records", exported, "rejects"],
                outputs="statistics",
                name="statistics",
            ),
        ]
    )
