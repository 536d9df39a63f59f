"""Export pipeline."""

from kedro.pipeline import Node, Pipeline

from unimed_kedro.pipelines.export.nodes import (
    build_shard_index,
    collect_rejects,
    plan_files,
    plan_webdataset,
    statistics,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        Node(build_shard_index, inputs=["samples", "params:export"],
             outputs=["shard_index", "export_rejects"], name="build_shard_index"),
        Node(plan_webdataset, inputs=["shard_index", "normalized_images", "params:export",
                                      "params:executor"],
             outputs="webdataset", name="write_webdataset"),
        Node(plan_files, inputs=["shard_index", "normalized_images", "params:export",
                                 "params:executor"],
             outputs="files", name="write_files_layout"),
        Node(collect_rejects, inputs=["ingest_rejects", "normalize_rejects", "export_rejects"],
             outputs="rejects", name="collect_rejects"),
        Node(statistics, inputs=["records", "shard_index", "rejects"], outputs="statistics",
             name="statistics"),
    ])
