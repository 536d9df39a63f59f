"""What the datasets let kedro-viz publish (`kedro viz build --include-previews` makes a
static site of it, meant to be shared).

Licence: a preview draws only samples whose source is redistributable. Which sources are
is read from the collection's sources table (`<collection>.sources`, the `sources.json`
ingest writes), found from the dataset's own path by the data-layer layout
`data/<layer>/<collection>/...`: the first `data/*/<collection>/sources.json`, or the
path a dataset is given as `preview_sources`. The normalised-image store's contact sheet
draws only such samples (a sample's source is the prefix of its id); an image of a whole
collection (the thumbnail sheet) is shown only when every source of the collection is
redistributable, else a notice stands in for it; a table with a `source` column shows only
such rows. In a collection's folder without a readable sources table, no source counts as
redistributable (fail closed); a dataset outside any collection's data folder has no
licence to go by and previews unchanged.

Paths: a dataset describes its path relative to the project (the folder kedro runs in),
never as an absolute local path; one outside the project shows as `<outside>/` and its
last two parts (a raw folder as `<raw_root>/<folder>`).
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import pandas as pd
from PIL import Image, ImageDraw

SOURCES_TABLE = "sources.json"
_LAYER = re.compile(r"[0-9]{2}_\w+")
OUTSIDE = "<outside>"


def published_path(path: str | os.PathLike, outside: str = OUTSIDE, parts: int = 2) -> str:
    """`path` relative to the project folder, or `outside` + its last `parts` parts."""
    absolute = Path(os.path.abspath(path))
    project = Path.cwd()
    if absolute.is_relative_to(project):
        return absolute.relative_to(project).as_posix()
    return "/".join([outside, *absolute.parts[-parts:]])


def sources_table(path: str | os.PathLike, given: str | None = None) -> dict | None:
    """The sources table of the collection the dataset at `path` belongs to, as a dict;
    None when `path` is in no collection's data folder (no licence rule applies); empty
    when the table is missing or unreadable (then no source counts as redistributable)."""
    if given:
        table: Path | None = Path(given)
    else:
        folder = next(
            (f for f in Path(os.path.abspath(path)).parents if _LAYER.fullmatch(f.parent.name)),
            None,
        )
        if folder is None:
            return None
        found = sorted(folder.parent.parent.glob(f"*/{folder.name}/{SOURCES_TABLE}"))
        table = found[0] if found else None
    try:
        infos = json.loads(table.read_text()) if table else {}
    except (OSError, ValueError):
        return {}
    return infos if isinstance(infos, dict) else {}


def redistributable_sources(infos: dict | None) -> set[str] | None:
    """Names of the sources whose licence allows redistribution (None: any source)."""
    if infos is None:
        return None
    return {name for name, info in infos.items() if _redistributable(info)}


def all_sources_redistributable(infos: dict | None) -> bool:
    """Whether an image that may show any sample of the collection may be published."""
    return infos is None or (bool(infos) and all(map(_redistributable, infos.values())))


def _redistributable(info: object) -> bool:
    return isinstance(info, dict) and info.get("redistributable") is True


def shown_ids(sample_ids: list[str], allowed: set[str] | None) -> list[bool]:
    """Which samples a preview may draw: those whose id (`<source>-<stable id>`) names
    an allowed source (all of them when any source is)."""
    if allowed is None:
        return [True] * len(sample_ids)
    prefixes = tuple(f"{name}-" for name in allowed)
    return [bool(prefixes) and s.startswith(prefixes) for s in sample_ids]


def withheld_image(reason: str, width: int = 512, height: int = 96) -> bytes:
    """A PNG notice shown instead of an image that may not be published."""
    image = Image.new("L", (width, height), color=235)
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, width - 1, height - 1], outline=120)
    draw.multiline_text((12, 12), "preview withheld\n" + reason, fill=30, spacing=6)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def redistributable_rows(frame: pd.DataFrame, infos: dict | None) -> pd.DataFrame:
    """The rows of `frame` a preview may show: those of redistributable sources when it
    has a `source` column, else all of them."""
    allowed = redistributable_sources(infos)
    if allowed is None or "source" not in frame.columns:
        return frame
    return frame[frame["source"].isin(allowed)]
