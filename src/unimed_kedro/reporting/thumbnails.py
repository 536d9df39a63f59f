"""The thumbnail sheet: a few exported samples per source, each with its caption."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from unimed_kedro.schema import seeded_keys

PAD = 8
LINE = 15
BACKGROUND, INK, MUTED = (255, 255, 255), (20, 20, 20), (95, 95, 95)


@dataclass(frozen=True)
class Tile:
    image: bytes
    title: str  # sample id
    subtitle: str  # source · split
    caption: str


def pick_samples(frame: pd.DataFrame, per_source: int, seed: int) -> pd.DataFrame:
    """`per_source` samples of each source, ordered by a seeded hash of the sample id, so
    the pick does not move when other samples are added or rows are reordered."""
    order = ["_order", "_order_tail"]
    ranked = frame.assign(**dict(zip(order, seeded_keys(frame["sample_id"], seed).T)))
    ranked = ranked.sort_values(["source", *order], kind="stable")
    picked = ranked.groupby("source", sort=True).head(per_source)
    return picked.drop(columns=order).reset_index(drop=True)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # Pillow's bundled font: no system fonts, so the sheet looks the same everywhere.
    return ImageFont.load_default(size=size)


def _wrap(text: str, font, width: int, lines: int) -> list[str]:
    """Greedy word wrap to `width` pixels; the last kept line ends with an ellipsis when
    text is left over."""
    out, current = [], ""
    for word in " ".join(text.split()).split(" "):
        trial = f"{current} {word}".strip()
        if font.getlength(trial) <= width or not current:
            current = trial
        else:
            out.append(current)
            current = word
    out.append(current)
    if len(out) > lines:
        out = out[:lines]
        while out[-1] and font.getlength(out[-1] + " …") > width:
            out[-1] = out[-1][:-1]
        out[-1] = out[-1].rstrip() + " …"
    return [_fit(line, font, width) for line in out]


def _fit(line: str, font, width: int) -> str:
    while len(line) > 1 and font.getlength(line) > width:
        line = line[:-2] + "…"
    return line


def _thumbnail(data: bytes, side: int) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        image.draft("L", (side, side))  # JPEG: decode at a reduced scale
        tile = image.convert("L")
    tile.thumbnail((side, side), Image.Resampling.LANCZOS)
    return tile


def _draw_tile(
    sheet: Image.Image, tile: Tile, x: int, y: int, side: int, caption_lines: int
) -> None:
    draw = ImageDraw.Draw(sheet)
    draw.rectangle((x, y, x + side - 1, y + side - 1), fill=(0, 0, 0))
    image = _thumbnail(tile.image, side)
    sheet.paste(image, (x + (side - image.width) // 2, y + (side - image.height) // 2))
    bold, small = _font(12), _font(11)
    text_y = y + side + 4
    draw.text((x, text_y), _fit(tile.title, bold, side), font=bold, fill=INK)
    draw.text((x, text_y + LINE), _fit(tile.subtitle, small, side), font=small, fill=MUTED)
    for i, line in enumerate(_wrap(tile.caption, small, side, caption_lines)):
        draw.text((x, text_y + (i + 2) * LINE), line, font=small, fill=INK)


def thumbnail_sheet(rows: list[list[Tile]], *, side: int = 200, caption_lines: int = 4) -> bytes:
    """PNG of a grid with one row per list in `rows`; under each image its sample id,
    source and split, and the first `caption_lines` lines of its caption."""
    columns = max([len(r) for r in rows] or [1])
    cell_w, cell_h = side + PAD, side + 8 + (caption_lines + 2) * LINE + PAD
    sheet = Image.new("RGB", (PAD + columns * cell_w, PAD + max(1, len(rows)) * cell_h), BACKGROUND)
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            _draw_tile(sheet, tile, PAD + c * cell_w, PAD + r * cell_h, side, caption_lines)
    buffer = io.BytesIO()
    # no metadata: same pixels, same bytes. zlib's default level: `optimize` (level 9)
    # took 5x longer (0.2 s) for a sheet 12% smaller
    sheet.save(buffer, format="PNG")
    return buffer.getvalue()
