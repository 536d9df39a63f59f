"""Static bar charts as inline SVG, for the data card.

Plotly can only export images through kaleido (a headless browser), which we neither need
nor want: these horizontal bar charts are drawn here as plain SVG text, with the same
colours as the plotly figures. Numbers are printed with fixed precision so the same data
give the same bytes. Hovering a bar in a browser shows its exact value (`<title>`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from xml.sax.saxutils import escape

FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif"
ROW_LABEL_WIDTH = 170
PANEL_GAP = 18
HEADER = 58  # chart title + legend
PANEL_HEADER = 20
AXIS = 22


@dataclass(frozen=True)
class Series:
    name: str
    color: str
    values: list[float]  # one per row; NaN draws nothing


@dataclass(frozen=True)
class Panel:
    """One block of horizontal bars over `rows`; stacked series or grouped side by side."""

    title: str
    rows: list[str]
    series: list[Series]
    stacked: bool = True
    max_value: float | None = None  # default: the largest bar
    value_format: str = "{:.0f}"
    width: int = 180
    row_labels: bool = True

    @property
    def row_height(self) -> int:
        return 16 if self.stacked else 4 + 5 * len(self.series)

    def scale_max(self) -> float:
        if self.max_value is not None:
            return self.max_value
        values = [[v for v in s.values if not _nan(v)] for s in self.series]
        totals = [sum(col) for col in zip(*values)] if self.stacked else sum(values, [])
        return max([*totals, 0]) or 1


def _nan(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _num(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _text(
    x: float,
    y: float,
    body: str,
    size: int = 11,
    anchor: str = "start",
    weight: str = "normal",
    fill: str = "#222",
) -> str:
    return (
        f'<text x="{_num(x)}" y="{_num(y)}" font-size="{size}" text-anchor="{anchor}" '
        f'font-weight="{weight}" fill="{fill}">{escape(body)}</text>'
    )


def _rect(x: float, y: float, width: float, height: float, color: str, tip: str) -> str:
    return (
        f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(width)}" '
        f'height="{_num(height)}" fill="{color}"><title>{escape(tip)}</title></rect>'
    )


def _bars(panel: Panel, x0: float, y0: float) -> list[str]:
    top, scale = y0 + PANEL_HEADER, panel.width / panel.scale_max()
    out = [_text(x0, y0 + 13, panel.title, 12, weight="bold")]
    for i, row in enumerate(panel.rows):
        y, offset, total = top + i * panel.row_height, 0.0, 0.0
        if panel.row_labels:
            out.append(_text(x0 - 6, y + panel.row_height / 2 + 4, row, anchor="end"))
        for j, series in enumerate(panel.series):
            value = series.values[i]
            if _nan(value) or value <= 0:
                continue
            tip = f"{row} · {series.name}: {panel.value_format.format(value)}"
            if panel.stacked:
                out.append(
                    _rect(
                        x0 + offset * scale,
                        y + 2,
                        value * scale,
                        panel.row_height - 4,
                        series.color,
                        tip,
                    )
                )
                offset, total = offset + value, total + value
            else:
                out.append(_rect(x0, y + 2 + 5 * j, value * scale, 4, series.color, tip))
        if panel.stacked and total:
            out.append(
                _text(
                    x0 + offset * scale + 3,
                    y + panel.row_height / 2 + 4,
                    panel.value_format.format(total),
                    10,
                    fill="#555",
                )
            )
    return out + _axis(panel, x0, top + len(panel.rows) * panel.row_height)


def _axis(panel: Panel, x0: float, y: float) -> list[str]:
    maximum = panel.scale_max()
    line = (
        f'<line x1="{_num(x0)}" y1="{_num(y)}" x2="{_num(x0 + panel.width)}" '
        f'y2="{_num(y)}" stroke="#999" stroke-width="1"/>'
    )
    return [
        line,
        _text(x0, y + 13, panel.value_format.format(0), 10, fill="#555"),
        _text(
            x0 + panel.width,
            y + 13,
            panel.value_format.format(maximum),
            10,
            anchor="end",
            fill="#555",
        ),
    ]


def _legend(items: list[Series], y: float) -> list[str]:
    out, x = [], 10.0
    for item in items:
        out.append(
            f'<rect x="{_num(x)}" y="{_num(y - 9)}" width="10" height="10" fill="{item.color}"/>'
        )
        out.append(_text(x + 14, y, item.name))
        x += 24 + 7 * len(item.name)
    return out


def bar_chart_svg(title: str, panels: list[Panel], legend: list[Series]) -> str:
    """Panels side by side under one title and legend; returns a standalone SVG document."""
    parts, x = [], 10.0
    for panel in panels:
        x += ROW_LABEL_WIDTH if panel.row_labels else 0
        parts += _bars(panel, x, HEADER)
        x += panel.width + PANEL_GAP + 30  # room for the stacked totals
    height = HEADER + max([PANEL_HEADER + len(p.rows) * p.row_height for p in panels] or [0])
    width, height = int(x), int(height + AXIS)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        f'style="{FONT}">'
    )
    body = [
        head,
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
        _text(10, 20, title, 14, weight="bold"),
        *_legend(legend, 44),
        *parts,
        "</svg>",
    ]
    return "\n".join(body) + "\n"


def inline_svg(document: str) -> str:
    """The SVG element for embedding in HTML5, where the namespace is implicit."""
    return document.replace(' xmlns="http://www.w3.org/2000/svg"', "", 1)
