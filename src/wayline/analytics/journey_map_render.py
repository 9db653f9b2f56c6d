"""The journey map as a picture: SVG, PNG, or a standalone HTML page.

One layout (a list of boxes and texts) is drawn twice: as SVG text, and onto a Pillow image
for PNG. Pillow draws PNG without a browser or a system graphics library (its wheels carry
FreeType and its own font), so a PNG export works wherever Wayline installs.

Rows are stages, columns touchpoints (channel and event). A cell's colour goes from red
(nobody moved on) to green (everybody did); a cell with a pain point has a thick red
border and the pain points are listed under the grid.
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass
from typing import Final

from wayline.analytics.journey_map import Cell, JourneyMap, StageRow

_HEAD_W: Final = 190
_CELL_W: Final = 150
_CELL_H: Final = 84
_TOP: Final = 64
_PAD: Final = 16
_LINE: Final = 15


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int
    fill: str
    stroke: str = "#c8ccd2"
    width: int = 1


@dataclass(frozen=True)
class Text:
    x: int
    y: int
    text: str
    size: int = 11
    bold: bool = False
    colour: str = "#1d2430"


def _rate_colour(rate: float) -> str:
    """Red (0) through amber to green (1), pale enough for text on top."""
    rate = min(max(rate, 0.0), 1.0)
    red = (246, 205, 202)
    amber = (250, 231, 190)
    green = (203, 235, 207)
    a, b, t = (red, amber, rate * 2) if rate < 0.5 else (amber, green, rate * 2 - 1)
    r, g, bl = (round(a[i] + (b[i] - a[i]) * t) for i in range(3))
    return f"#{r:02x}{g:02x}{bl:02x}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min"


def _figures(f: StageRow | Cell) -> list[str]:
    sentiment = "-" if f.sentiment is None else f"{f.sentiment:+.2f} ({f.feedback})"
    return [
        f"{f.customers:,} customers",
        f"{f.conversion_rate:.0%} on · {_duration(f.median_seconds)}",
        f"sentiment {sentiment}",
    ]


def _clip(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


def layout(m: JourneyMap, title: str) -> tuple[int, int, list[Box | Text]]:
    """Width, height and what to draw."""
    items: list[Box | Text] = [Text(_PAD, 26, title, size=16, bold=True)]
    flagged = {(p.stage, p.channel, p.event) for p in m.pain_points}
    x0 = _PAD + _HEAD_W
    for i, (channel, event) in enumerate(m.touchpoints):
        x = x0 + i * _CELL_W
        items.append(Box(x, _TOP - 28, _CELL_W, 28, "#eef0f3"))
        items.append(Text(x + 6, _TOP - 16, _clip(event, 22), bold=True))
        items.append(Text(x + 6, _TOP - 4, _clip(channel, 22), size=10, colour="#5a6270"))
    for r, stage in enumerate(m.stages):
        y = _TOP + r * _CELL_H
        items.append(Box(_PAD, y, _HEAD_W, _CELL_H, _rate_colour(stage.conversion_rate)))
        items.append(Text(_PAD + 8, y + 20, _clip(stage.stage, 24), size=13, bold=True))
        for n, line in enumerate(_figures(stage)):
            items.append(Text(_PAD + 8, y + 38 + n * _LINE, line))
        for i, (channel, event) in enumerate(m.touchpoints):
            x = x0 + i * _CELL_W
            cell = m.cell(stage.stage, channel, event)
            if cell is None:
                items.append(Box(x, y, _CELL_W, _CELL_H, "#fafafa"))
                continue
            hot = (stage.stage, channel, event) in flagged
            items.append(
                Box(
                    x,
                    y,
                    _CELL_W,
                    _CELL_H,
                    _rate_colour(cell.conversion_rate),
                    stroke="#c62828" if hot else "#c8ccd2",
                    width=3 if hot else 1,
                )
            )
            for n, line in enumerate(_figures(cell)):
                items.append(Text(x + 6, y + 22 + n * _LINE, _clip(line, 24)))
    y = _TOP + len(m.stages) * _CELL_H + 28
    items.append(Text(_PAD, y, f"Pain points ({len(m.pain_points)})", size=13, bold=True))
    for p in m.pain_points:
        y += _LINE + 3
        items.append(Text(_PAD, y, f"{p.kind}: {p.message}", colour="#8e1b1b"))
    width = x0 + max(len(m.touchpoints), 1) * _CELL_W + _PAD
    return width, y + _PAD, items


def to_svg(m: JourneyMap, title: str = "Journey map") -> str:
    width, height, items = layout(m, title)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    for item in items:
        if isinstance(item, Box):
            out.append(
                f'<rect x="{item.x}" y="{item.y}" width="{item.w}" height="{item.h}" '
                f'fill="{item.fill}" stroke="{item.stroke}" stroke-width="{item.width}"/>'
            )
        else:
            weight = ' font-weight="bold"' if item.bold else ""
            out.append(
                f'<text x="{item.x}" y="{item.y}" font-size="{item.size}" '
                f'fill="{item.colour}"{weight}>{html.escape(item.text)}</text>'
            )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def to_png(m: JourneyMap, title: str = "Journey map") -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    width, height, items = layout(m, title)
    image = Image.new("RGB", (width, height), "#ffffff")
    draw = ImageDraw.Draw(image)
    fonts: dict[int, ImageFont.FreeTypeFont | ImageFont.ImageFont] = {}
    for item in items:
        if isinstance(item, Box):
            draw.rectangle(
                (item.x, item.y, item.x + item.w, item.y + item.h),
                fill=item.fill,
                outline=item.stroke,
                width=item.width,
            )
        else:
            font = fonts.setdefault(item.size, ImageFont.load_default(size=item.size))
            # SVG places text by its baseline; Pillow's "ls" anchor does the same.
            draw.text((item.x, item.y), item.text, fill=item.colour, font=font, anchor="ls")
            if item.bold:
                draw.text((item.x + 1, item.y), item.text, fill=item.colour, font=font, anchor="ls")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def to_html(m: JourneyMap, title: str = "Journey map") -> str:
    """A standalone page: the grid (inline SVG) and the pain points with their numbers."""
    rows = "\n".join(
        "<tr>"
        f"<td>{html.escape(p.kind)}</td><td>{html.escape(p.stage)}</td>"
        f"<td>{html.escape(p.channel)}</td><td>{html.escape(p.event)}</td>"
        f"<td>{p.value:.4g}</td><td>{p.baseline:.4g}</td><td>{p.threshold:.4g}</td>"
        f"<td>{p.customers}</td><td>{html.escape(p.message)}</td>"
        "</tr>"
        for p in m.pain_points
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: Helvetica, Arial, sans-serif; margin: 24px; color: #1d2430; }}
table {{ border-collapse: collapse; margin-top: 16px; }}
th, td {{ border: 1px solid #c8ccd2; padding: 4px 8px; font-size: 13px; text-align: left; }}
th {{ background: #eef0f3; }}
</style>
</head>
<body>
{to_svg(m, title)}
<h2>Pain points</h2>
<table>
<tr><th>kind</th><th>stage</th><th>channel</th><th>event</th><th>value</th>
<th>baseline</th><th>threshold</th><th>customers</th><th>why</th></tr>
{rows}
</table>
</body>
</html>
"""
