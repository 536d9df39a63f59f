"""Ingest pipeline: one namespaced node per source, then the merges."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from unimed_kedro.stages import per_source_names
from unimed_kedro.stages.ingest.nodes import ingest_source, merge_sources, merge_tables


def create_pipeline(sources: list[str], **kwargs) -> Pipeline:
    per_source = [
        Pipeline(
            [
                Node(
                    ingest_source,
                    inputs=["raw", "params:vocabulary", "params:ingest"],
                    outputs=["manifest", "ingest_rejects", "source_info", "ingest_corrections"],
                    name="ingest",
                )
            ],
            namespace=source,
            # the collection's sections, not one per source
            parameters={"params:vocabulary": "params:vocabulary", "params:ingest": "params:ingest"},
        )
        for source in sources
    ]
    with per_source_names():
        merge = _merge(sources)
    return sum(per_source, Pipeline([])) + merge


def _merge(sources: list[str]) -> Pipeline:
    return Pipeline(
        [
            Node(
                merge_tables,
                inputs=[f"{s}.manifest" for s in sources],
                outputs="records",
                name="merge_manifests",
            ),
            Node(
                merge_tables,
                inputs=[f"{s}.ingest_rejects" for s in sources],
                outputs="ingest_rejects",
                name="merge_ingest_rejects",
            ),
            Node(
                merge_sources,
                inputs=[f"{s}.source_info" for s in sources],
                outputs="sources",
                name="merge_sources",
            ),
            Node(
                merge_tables,
                inputs=[f"{s}.ingest_corrections" for s in sources],
                outputs="corrections",
                name="merge_ingest_corrections",
            ),
        ]
    )
