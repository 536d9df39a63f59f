"""A JSON file (source facts, statistics) described without an absolute local path."""

from __future__ import annotations

from typing import Any

from kedro_datasets.json import JSONDataset

from unimed_kedro.datasets.previews import published_path


class JSONFileDataset(JSONDataset):
    """`json.JSONDataset` whose description, which kedro-viz publishes, gives the path
    relative to the project (`previews`); everything else is unchanged."""

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "filepath": published_path(str(self._filepath))}
