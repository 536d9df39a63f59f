"""Report pipeline. `provenance` is filled before each run by `ProvenanceHooks`."""

from kedro.pipeline import Node, Pipeline

from unimed_kedro.stages.report.nodes import (
    build_datacard,
    draw_thumbnails,
    plot_label_distribution,
    plot_split_balance,
    render_datacard,
)
from unimed_kedro.stages.report.volumes import build_volume_datacard, draw_overlays

# the card as HTML and Markdown, whatever the collection put in it
RENDER = Node(
    render_datacard,
    inputs="datacard",
    outputs=["datacard_html", "datacard_md"],
    name="render_datacard",
)


def create_pipeline(balance: str = "params:split", **kwargs) -> Pipeline:
    """`balance`: the section whose `balance_columns` the card's balance table shows (a
    collection without splits passes its report section)."""
    return Pipeline(
        [
            Node(
                plot_label_distribution,
                inputs=["shard_index", "params:vocabulary", "params:report"],
                outputs=["label_distribution", "label_distribution_svg"],
                name="plot_label_distribution",
            ),
            Node(
                plot_split_balance,
                inputs=["shard_index", "params:vocabulary", "params:report"],
                outputs=["split_balance", "split_balance_svg"],
                name="plot_split_balance",
            ),
            Node(
                draw_thumbnails,
                inputs=["shard_index", "normalized_images", "params:report"],
                outputs=["thumbnails", "thumbnail_samples"],
                name="draw_thumbnails",
            ),
            Node(
                build_datacard,
                inputs=[
                    "statistics",
                    "rejects",
                    "corrections",
                    "shard_index",
                    "thumbnail_samples",
                    "thumbnails",
                    "label_distribution_svg",
                    "split_balance_svg",
                    "provenance",
                    "sources",
                    "params:vocabulary",
                    "params:normalize",
                    balance,
                    "params:report",
                ],
                outputs="datacard",
                name="build_datacard",
            ),
            RENDER,
        ]
    )


def volume_pipeline(**kwargs) -> Pipeline:
    """Overlays of a few samples per dataset and the data card of a volume collection."""
    return Pipeline(
        [
            Node(
                draw_overlays,
                inputs=["exported", "normalized_volumes", "params:report"],
                outputs=["overlays", "thumbnail_samples", "thumbnails"],
                name="draw_overlays",
            ),
            Node(
                build_volume_datacard,
                inputs=[
                    "statistics",
                    "rejects",
                    "corrections",
                    "exported",
                    "thumbnail_samples",
                    "thumbnails",
                    "provenance",
                    "sources",
                    "params:normalize",
                    "params:split",
                    "params:report",
                ],
                outputs="datacard",
                name="build_datacard",
            ),
            RENDER,
        ]
    )
