"""Stages on a hand-computed log, on DuckDB and PostgreSQL; the stage model's checks."""

from __future__ import annotations

import math

import pytest

from tests.integration.analytics.conftest import WS, at, ev, identify, write
from wayline.analytics.eventlog import EventLog
from wayline.analytics.stage_model import (
    PRESETS,
    StageModelError,
    load_stage_model,
    preset,
)
from wayline.analytics.stages import current_stages, stage_entries_expr, stage_summary
from wayline.analytics.warehouse import Warehouse

MODEL = """\
stages:
  - name: awareness
    events: [Page Viewed]
  - name: consideration
    events: [Product Viewed]
  - name: purchase
    events: [Order Completed]
  - name: retention
    events:
      - event: Order Completed
        occurrence: 2
  - name: advocacy
    traits: {nps_group: promoter}
"""
DAY = 86400.0


def five_customers(warehouse: Warehouse) -> None:
    write(
        warehouse,
        ev("a", None, at(days=0), type="page"),
        ev("a", "Product Viewed", at(days=1)),
        ev("a", "Order Completed", at(days=3)),
        ev("a", "Order Completed", at(days=10)),
        ev("b", None, at(days=0), type="page"),
        ev("b", "Product Viewed", at(days=2)),
        ev("c", None, at(days=0), type="page"),
        ev("c", "Product Viewed", at(days=0, hours=12)),
        ev("c", "Order Completed", at(days=1)),
        ev("d", None, at(days=0), type="page"),
        ev("e", None, at(days=4), type="page"),
        identify("e", at(days=5), nps_group="promoter"),
        identify("d", at(days=5), nps_group="detractor"),
    )


def test_entries_current_stage_and_stalled(warehouse: Warehouse) -> None:
    five_customers(warehouse)
    model = load_stage_model(MODEL)
    entries = warehouse.execute(stage_entries_expr(EventLog(warehouse, WS), model)).to_pylist()
    got = {(r["customer"], r["stage"]): r["entered_at"] for r in entries}
    assert got[("a", "retention")] == at(days=10)
    assert got[("e", "advocacy")] == at(days=5)
    assert ("d", "advocacy") not in got
    assert len(got) == 12

    now = current_stages(warehouse, WS, model, as_of=at(days=20))
    rows = {r.customer: (r.stage, r.seconds_in_stage / DAY, r.stalled) for r in now.itertuples()}
    assert rows == {
        "a": ("retention", 10.0, False),  # nobody has left retention: no typical time
        "b": ("consideration", 18.0, True),  # typical 1.25 days, x3
        "c": ("purchase", 19.0, False),  # typical 7 days, x3 = 21
        "d": ("awareness", 20.0, True),  # typical 1 day
        "e": ("advocacy", 15.0, False),
    }
    stalled = current_stages(warehouse, WS, model, as_of=at(days=20), stalled_only=True)
    assert list(stalled["customer"]) == ["b", "d"]


def test_stage_summary(warehouse: Warehouse) -> None:
    five_customers(warehouse)
    summary = stage_summary(warehouse, WS, load_stage_model(MODEL), as_of=at(days=20))
    records = [
        {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in r.items()}
        for r in summary.to_dict("records")
    ]
    assert records == [
        {
            "stage": "awareness",
            "entered": 5,
            "current": 1,
            "moved_on": 4,
            "conversion_rate": 0.8,
            "typical_seconds": 1 * DAY,  # a 1, b 2, c 0.5, e 1
            "stalled": 1,
        },
        {
            "stage": "consideration",
            "entered": 3,
            "current": 1,
            "moved_on": 2,
            "conversion_rate": pytest.approx(2 / 3),
            "typical_seconds": 1.25 * DAY,  # a 2, c 0.5
            "stalled": 1,
        },
        {
            "stage": "purchase",
            "entered": 2,
            "current": 1,
            "moved_on": 1,
            "conversion_rate": 0.5,
            "typical_seconds": 7 * DAY,
            "stalled": 0,
        },
        {
            "stage": "retention",
            "entered": 1,
            "current": 1,
            "moved_on": 0,
            "conversion_rate": 0.0,
            "typical_seconds": None,
            "stalled": 0,
        },
        {
            "stage": "advocacy",
            "entered": 1,
            "current": 1,
            "moved_on": 0,
            "conversion_rate": 0.0,
            "typical_seconds": None,
            "stalled": 0,
        },
    ]


def test_stall_after_overrides_the_typical_time(warehouse: Warehouse) -> None:
    five_customers(warehouse)
    model = load_stage_model(
        MODEL.replace(
            "events: [Order Completed]\n", "events: [Order Completed]\n    stall_after: 10d\n", 1
        )
    )
    now = current_stages(warehouse, WS, model, as_of=at(days=20), stage="purchase")
    assert [(r.customer, r.stalled) for r in now.itertuples()] == [("c", True)]


def test_where_conditions(warehouse: Warehouse) -> None:
    write(
        warehouse,
        ev("cheap", "Product Viewed", at(0), properties={"price": 5, "tag": "x"}),
        ev("dear", "Product Viewed", at(0), properties={"price": 50.5, "tag": "y"}),
        ev("free", "Product Viewed", at(0), properties={"gift": True}),
    )
    model = load_stage_model(
        """
stages:
  - name: looked
    events: [Product Viewed]
  - name: dear
    events:
      - event: Product Viewed
        where: {price: {gte: 10}}
  - name: exact
    events:
      - event: Product Viewed
        where: {price: 5, tag: x}
  - name: gift
    events:
      - event: Product Viewed
        where: {gift: true, tag: {ne: x}}
"""
    )
    entries = warehouse.execute(stage_entries_expr(EventLog(warehouse, WS), model)).to_pylist()
    assert sorted((r["stage"], r["customer"]) for r in entries) == [
        ("dear", "dear"),
        ("exact", "cheap"),
        ("gift", "free"),
        ("looked", "cheap"),
        ("looked", "dear"),
        ("looked", "free"),
    ]


def test_distinct_counts_values_not_events(warehouse: Warehouse) -> None:
    line = "Product Purchased"
    write(
        warehouse,
        ev("one", line, at(0), properties={"order_id": "1"}),
        ev("one", line, at(0), properties={"order_id": "1"}),  # the same order's next line
        ev("two", line, at(0), properties={"order_id": "7"}),
        ev("two", line, at(1)),  # no order id: not counted
        ev("two", line, at(2), properties={"order_id": "7"}),
        ev("two", line, at(3), properties={"order_id": "8"}),
    )
    model = load_stage_model(
        """
stages:
  - name: bought
    events: [Product Purchased]
  - name: again
    events:
      - event: Product Purchased
        occurrence: 2
        distinct: order_id
"""
    )
    entries = warehouse.execute(stage_entries_expr(EventLog(warehouse, WS), model)).to_pylist()
    assert sorted((r["customer"], r["stage"], r["entered_at"]) for r in entries) == [
        ("one", "bought", at(0)),
        ("two", "again", at(3)),
        ("two", "bought", at(0)),
    ]


# -- the model -------------------------------------------------------------------------------


def test_presets_load() -> None:
    for name in PRESETS:
        model = preset(name)
        assert model.names[0] == "awareness"
        assert model.names[-1] == "advocacy"
    with pytest.raises(StageModelError, match="no preset 'b2c'"):
        preset("b2c")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("stages: [", "stages.yaml:1:10: not valid YAML"),
        ("- a", "stages.yaml:1:1: expected a mapping"),
        (
            "stages:\n  - name: a\n    events: [X]\n    colour: red\n",
            "stages.yaml:4:13: stages[0].colour: Extra inputs are not permitted",
        ),
        (
            "stages:\n  - name: a\n    events:\n      - event: X\n        occurrence: 0\n",
            "stages.yaml:5:21: stages[0].events[0].occurrence: Input should be greater than",
        ),
        (
            "stages:\n  - name: a\n    events: [X]\n    stall_after: soon\n",
            "stages.yaml:4:18: stages[0].stall_after: Value error, 'soon' is not a duration",
        ),
        (
            "stages:\n  - name: a\n    events: [X]\n  - name: a\n    events: [Y]\n",
            "stages.yaml:2:3: stages: Value error, stage 'a' is listed twice",
        ),
    ],
)
def test_model_errors_point_at_the_line(text: str, message: str) -> None:
    with pytest.raises(StageModelError) as bad:
        load_stage_model(text, "stages.yaml")
    assert str(bad.value).startswith(message), str(bad.value)
