"""The journey map's SVG, PNG and HTML exports, from a map built by hand."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from typing import TypedDict

from PIL import Image

from wayline.analytics.journey_map import Cell, JourneyMap, PainPoint, StageRow
from wayline.analytics.journey_map_render import layout, to_html, to_png, to_svg


class Rest(TypedDict):
    """The figures every row and cell here has in common."""

    moved_on: int
    median_seconds: float | None
    sentiment: float | None
    feedback: int


FIG: Rest = {"moved_on": 1, "median_seconds": 86400.0, "sentiment": None, "feedback": 0}
STOPPED: Rest = {**FIG, "moved_on": 0}
MAP = JourneyMap(
    stages=[
        StageRow(stage="visit", customers=10, conversion_rate=0.1, **FIG),
        StageRow(stage="buy", customers=1, conversion_rate=0.0, **STOPPED),
    ],
    touchpoints=[("email", "Page Viewed"), ("direct", "Order <Completed>")],
    cells=[
        Cell(stage="visit", channel="email", event="Page Viewed", events=12, customers=10,
             conversion_rate=0.1, **FIG),
        Cell(stage="buy", channel="direct", event="Order <Completed>", events=1, customers=1,
             conversion_rate=0.0, **STOPPED),
    ],
    pain_points=[
        PainPoint(kind="drop_off", stage="visit", channel="email", event="Page Viewed",
                  value=0.1, baseline=0.6, threshold=0.45, customers=10,
                  message="visit · email · Page Viewed: 10% moved on, against 60%"),
    ],
)  # fmt: skip


def test_svg_is_well_formed_and_escapes_names() -> None:
    svg = to_svg(MAP, "Shop")
    root = ET.fromstring(svg)
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "Shop" in texts
    assert "Order <Completed>" in texts
    assert "10 customers" in texts
    assert "drop_off: visit · email · Page Viewed: 10% moved on, against 60%" in texts
    # The flagged cell has the thick red border; the empty cells are grey.
    rects = [r.attrib for r in root.iter("{http://www.w3.org/2000/svg}rect")]
    assert sum(r.get("stroke") == "#c62828" for r in rects) == 1
    assert sum(r["fill"] == "#fafafa" for r in rects) == 2


def test_png_has_the_layout_size() -> None:
    width, height, _ = layout(MAP, "Shop")
    image = Image.open(io.BytesIO(to_png(MAP, "Shop")))
    assert image.format == "PNG"
    assert image.size == (width, height)
    # Not blank: the red border of the flagged cell is drawn.
    assert (198, 40, 40) in {c for _, c in image.getcolors(maxcolors=100_000) or []}


def test_html_is_standalone_and_lists_the_pain_points() -> None:
    page = to_html(MAP, "Shop")
    assert page.startswith("<!doctype html>")
    assert "<svg" in page
    assert "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<td>drop_off</td>" in page
    assert "<td>0.45</td>" in page
