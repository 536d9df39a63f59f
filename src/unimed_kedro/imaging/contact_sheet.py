"""A grid of thumbnails as PNG bytes (kedro-viz previews, data cards)."""

from __future__ import annotations

import io
import math

from PIL import Image


def contact_sheet(images: list[bytes], *, thumb: int = 128, columns: int = 4) -> bytes:
    rows = max(1, math.ceil(len(images) / columns))
    sheet = Image.new("L", (columns * thumb, rows * thumb), color=0)
    for i, data in enumerate(images):
        with Image.open(io.BytesIO(data)) as image:
            image.draft("L", (thumb, thumb))
            tile = image.convert("L")
            tile.thumbnail((thumb, thumb))
        sheet.paste(tile, ((i % columns) * thumb, (i // columns) * thumb))
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    return buffer.getvalue()
