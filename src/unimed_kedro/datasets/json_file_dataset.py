"""A JSON file (source facts, statistics), written atomically and described without an
absolute local path."""

from __future__ import annotations

import json
from typing import Any

from kedro.io.core import get_filepath_str
from kedro_datasets.json import JSONDataset

from unimed_kedro.datasets.previews import published_path
from unimed_kedro.engine import memo
from unimed_kedro.io.atomic import atomic_path


class JSONFileDataset(JSONDataset):
    """`json.JSONDataset` that writes a local file under a temporary name renamed into
    place (kedro-datasets' writes in place: a run killed while writing left half a
    `statistics.json`, which a reader could take for a whole one), the same bytes through
    the same `fs_args`; its description, which kedro-viz publishes, gives the path relative
    to the project (`previews`). Other filesystems (an object store replaces an object
    whole) and loading are unchanged."""

    def save(self, data: Any | memo.Deferred) -> None:
        memo.save(
            get_filepath_str(self._get_save_path(), self._protocol),
            data,
            self._write,
            repr(self._describe()),
        )

    def _write(self, data: Any) -> None:
        if self._protocol != "file":
            super().save(data)
            return
        path = get_filepath_str(self._get_save_path(), self._protocol)
        with atomic_path(path) as tmp, self._fs.open(tmp, **self._fs_open_args_save) as handle:
            json.dump(data, handle, **self._save_args)
        self._invalidate_cache()

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "filepath": published_path(str(self._filepath))}
