"""The journey map: stages by touchpoints, drawn from the data, with its pain points.

Every customer event is placed in the stage the customer was in when it happened (the
furthest stage of the stage model entered by then; events before the first stage are left
out). A *touchpoint* is a channel and an event name; a *cell* is a stage and a touchpoint:

* ``customers``: who had the touchpoint while in the stage (``events``: how often);
* ``conversion_rate``: of them, who went on to a later stage;
* ``median_seconds``: their median time from entering the stage to entering a later one;
* ``sentiment``: the mean of their feedback while in the stage, from -1 to 1 (see
  :class:`FeedbackRule`), with ``feedback`` the number of answers.

A stage row carries the same figures over everyone who entered the stage.

The events Wayline records itself (:mod:`wayline.analytics.internal`) are not touchpoints
unless ``include_internal``, with one exception: a message sent to the customer is a
touchpoint of its channel, shown as ``Message Received`` under the message's own
``properties.channel`` (``email · Message Received``), whatever ``channel_paths`` say.
Stage entries themselves still come from the stage model, not from ``Stage Entered``.

Pain points are flagged for cells with enough customers, comparing each cell with the rest
of its stage (the stage's customers without that touchpoint), and each flag carries the
numbers that raised it:

* ``drop_off``: conversion at least ``drop_margin`` (absolute) below the rest's;
* ``sentiment``: sentiment at least ``sentiment_margin`` below the rest's;
* ``long_wait``: median time at least ``wait_factor`` times the stage's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from wayline.analytics.eventlog import (
    DEFAULT_CHANNEL_PATHS,
    NO_CHANNEL,
    EventLog,
    InvalidAnalysis,
    count_if,
)
from wayline.analytics.internal import MESSAGE_RECEIVED, MESSAGE_SENT, behaviour
from wayline.analytics.stage_model import StageModel
from wayline.analytics.stages import stage_durations_expr, stage_entries_expr
from wayline.analytics.warehouse import Warehouse

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True, kw_only=True)
class FeedbackRule:
    """An event that carries sentiment: a score in ``[low, high]`` at ``property``, mapped
    linearly onto -1 … 1, or a fixed ``value`` (a support ticket is a complaint: -1)."""

    event: str
    property: str | None = None
    low: float = 0.0
    high: float = 10.0
    value: float | None = None


DEFAULT_FEEDBACK: Final = (
    FeedbackRule(event="NPS Submitted", property="score", low=0, high=10),
    FeedbackRule(event="CSAT Submitted", property="score", low=1, high=5),
    FeedbackRule(event="Product Reviewed", property="rating", low=1, high=5),
    FeedbackRule(event="Ticket Created", value=-1.0),
)


@dataclass(frozen=True, kw_only=True)
class PainPointRules:
    min_customers: int = 10
    min_feedback: int = 5
    drop_margin: float = 0.15
    sentiment_margin: float = 0.3
    wait_factor: float = 2.0


@dataclass(frozen=True, kw_only=True)
class JourneyMapSpec:
    model: StageModel
    as_of: datetime | None = None
    channel_paths: tuple[str, ...] = DEFAULT_CHANNEL_PATHS
    feedback: tuple[FeedbackRule, ...] = DEFAULT_FEEDBACK
    #: The touchpoints (columns) kept: those with the most customers.
    touchpoints: int = 12
    rules: PainPointRules = field(default_factory=PainPointRules)
    #: Every internal event as a touchpoint of its own, under its raw name (by default
    #: they are left out, and a message sent is the touchpoint ``Message Received``).
    include_internal: bool = False

    def check(self) -> None:
        if not 1 <= self.touchpoints <= 100:
            raise InvalidAnalysis("touchpoints", "must be between 1 and 100")
        for rule in self.feedback:
            if rule.value is None and (rule.property is None or rule.high <= rule.low):
                raise InvalidAnalysis(
                    "feedback", f"{rule.event!r}: needs a property and a range, or a value"
                )


@dataclass(frozen=True, kw_only=True)
class Figures:
    customers: int
    moved_on: int
    conversion_rate: float
    median_seconds: float | None
    sentiment: float | None
    feedback: int


@dataclass(frozen=True, kw_only=True)
class StageRow(Figures):
    stage: str


@dataclass(frozen=True, kw_only=True)
class Cell(Figures):
    stage: str
    channel: str
    event: str
    events: int


@dataclass(frozen=True, kw_only=True)
class PainPoint:
    kind: str  #: drop_off | sentiment | long_wait
    stage: str
    channel: str
    event: str
    value: float
    baseline: float
    threshold: float
    customers: int
    message: str


@dataclass(frozen=True, kw_only=True)
class JourneyMap:
    stages: list[StageRow]
    touchpoints: list[tuple[str, str]]
    cells: list[Cell]
    pain_points: list[PainPoint]

    def cell(self, stage: str, channel: str, event: str) -> Cell | None:
        return next(
            (c for c in self.cells if (c.stage, c.channel, c.event) == (stage, channel, event)),
            None,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "stages": [asdict(s) for s in self.stages],
            "touchpoints": [{"channel": c, "event": e} for c, e in self.touchpoints],
            "cells": [asdict(c) for c in self.cells],
            "pain_points": [asdict(p) for p in self.pain_points],
        }

    def to_frame(self) -> pd.DataFrame:
        """The cells as a DataFrame, for notebooks."""
        import pandas as pd

        columns = [f for f in Cell.__dataclass_fields__]
        return pd.DataFrame([asdict(c) for c in self.cells], columns=columns)


def _sentiment(log: EventLog, events: Any, rules: tuple[FeedbackRule, ...]) -> Any:
    """Each event's sentiment (-1 … 1) by the feedback rules, null for other events."""
    import ibis

    branches = []
    for rule in rules:
        if rule.value is not None:
            score: Any = ibis.literal(rule.value, "float64")
        else:
            assert rule.property is not None
            raw = log.number(events, f"properties.{rule.property}", "feedback")
            clipped = ibis.greatest(ibis.least(raw, rule.high), rule.low)
            score = (clipped - rule.low) / (rule.high - rule.low) * 2 - 1
        branches.append((events.event == rule.event, score))
    if not branches:
        return ibis.null("float64")
    return ibis.cases(*branches, else_=ibis.null("float64"))


def _placed(log: EventLog, spec: JourneyMapSpec) -> tuple[Any, Any]:
    """The events placed in stages (``customer, stage_index, channel, event, sentiment,
    entered_ts, left_ts``) and the stage durations they came from."""
    import ibis

    events = log.named()
    events = events.mutate(
        channel=log.channel(events, spec.channel_paths),
        sentiment=_sentiment(log, events, spec.feedback),
    )
    if not spec.include_internal:
        events = behaviour(events, keep=[MESSAGE_SENT])
        received = events.event == MESSAGE_SENT
        own_channel = log.text(events, "properties.channel", "channel").coalesce(NO_CHANNEL)
        events = events.mutate(
            channel=ibis.ifelse(received, own_channel, events.channel),
            event=ibis.ifelse(received, MESSAGE_RECEIVED, events.event),
        )
    durations = stage_durations_expr(stage_entries_expr(log, spec.model))
    # Interleave each customer's stage entries with their events, in time order (an entry
    # before an event at the same instant): the furthest stage entered so far is a running
    # maximum, one sort instead of a join of every event with every entry.
    marks = durations.select(
        "customer",
        ts=durations.entered_ts,
        kind=ibis.literal(0),
        channel=ibis.null("string"),
        event=ibis.null("string"),
        sentiment=ibis.null("float64"),
        entry=durations.stage_index.cast("int64"),
    )
    acts = events.select(
        "customer",
        "ts",
        "channel",
        "event",
        "sentiment",
        kind=ibis.literal(1),
        entry=ibis.null("int64"),
    ).select(*marks.columns)
    both = ibis.union(marks, acts, distinct=False)
    both = both.mutate(
        stage_index=both.entry.max().over(
            ibis.cumulative_window(group_by=both.customer, order_by=[both.ts, both.kind])
        )
    )
    placed = both.filter((both.kind == 1) & both.stage_index.notnull())
    k = placed.join(
        durations,
        (placed.customer == durations.customer) & (placed.stage_index == durations.stage_index),
    )
    return (
        k.select(
            "customer",
            "channel",
            "event",
            "sentiment",
            stage_index=placed.stage_index,
            entered_ts=durations.entered_ts,
            left_ts=durations.left_ts,
        ),
        durations,
    )


def _figures_aggregates(t: Any) -> dict[str, Any]:
    import ibis

    gap = ibis.ifelse(t.left_ts.notnull(), t.left_ts - t.entered_ts, ibis.null("float64"))
    return {
        "customers": t.count(),
        "moved_on": count_if(t.left_ts.notnull()).sum(),
        "median_seconds": gap.median(),
    }


def journey_map(warehouse: Warehouse, workspace_id: str, spec: JourneyMapSpec) -> JourneyMap:
    """Compute the map; only per-cell aggregates leave the warehouse."""
    spec.check()
    log = EventLog(warehouse, workspace_id, None, spec.as_of)
    placed, durations = _placed(log, spec)
    names = spec.model.names

    # Feedback per customer and stage, and per stage.
    fb = placed.filter(placed.sentiment.notnull())
    fb = fb.group_by(["customer", "stage_index"]).aggregate(
        s_sum=fb.sentiment.sum(), s_n=fb.count()
    )
    stage_rows = warehouse.execute(
        durations.group_by("stage_index").aggregate(**_figures_aggregates(durations))
    ).to_pylist()
    stage_fb_expr = fb.group_by("stage_index").aggregate(s_sum=fb.s_sum.sum(), s_n=fb.s_n.sum())

    # The touchpoints with the most customers.
    tp = placed.group_by(["channel", "event"]).aggregate(n=placed.customer.nunique())
    tp = tp.order_by([tp.n.desc(), tp.channel, tp.event]).limit(spec.touchpoints)

    # Cells: distinct customers per stage and touchpoint, with their feedback in the stage.
    mine = placed.join(tp.select("channel", "event"), ["channel", "event"])
    per = mine.group_by(
        ["stage_index", "channel", "event", "customer", "entered_ts", "left_ts"]
    ).aggregate(events=mine.count())
    per = per.left_join(
        fb, (per.customer == fb.customer) & (per.stage_index == fb.stage_index)
    ).select(
        "channel",
        "event",
        "entered_ts",
        "left_ts",
        "events",
        "s_sum",
        "s_n",
        stage_index=per.stage_index,
    )
    cells_expr = per.group_by(["stage_index", "channel", "event"]).aggregate(
        **_figures_aggregates(per),
        events=per.events.sum(),
        s_sum=per.s_sum.sum(),
        s_n=per.s_n.sum(),
    )
    # One query for the three, so that the events are placed once (a shared subquery).
    parts = warehouse.execute(_one_query(stage_fb_expr, tp, cells_expr)).to_pylist()
    stage_fb = {
        r["stage_index"]: (float(r["s_sum"] or 0), int(r["s_n"] or 0))
        for r in parts
        if r["part"] == 0
    }
    tp_rows = sorted(
        (r for r in parts if r["part"] == 1),
        key=lambda r: (-int(r["n"]), r["channel"], r["event"]),
    )
    touchpoints = [(r["channel"], r["event"]) for r in tp_rows]
    cell_rows = [r for r in parts if r["part"] == 2]

    stages = []
    by_stage: dict[int, StageRow] = {}
    for r in sorted(stage_rows, key=lambda r: int(r["stage_index"])):
        s_sum, s_n = stage_fb.get(r["stage_index"], (0.0, 0))
        row = StageRow(stage=names[r["stage_index"]], **_figures(r, s_sum, s_n))
        stages.append(row)
        by_stage[int(r["stage_index"])] = row
    order = {t: i for i, t in enumerate(touchpoints)}
    cells = []
    pains = []
    for r in sorted(
        cell_rows, key=lambda r: (int(r["stage_index"]), order[(r["channel"], r["event"])])
    ):
        s_sum, s_n = float(r["s_sum"] or 0), int(r["s_n"] or 0)
        cell = Cell(
            stage=names[r["stage_index"]],
            channel=r["channel"],
            event=r["event"],
            events=int(r["events"]),
            **_figures(r, s_sum, s_n),
        )
        cells.append(cell)
        stage = by_stage[int(r["stage_index"])]
        stage_sum, stage_n = stage_fb.get(r["stage_index"], (0.0, 0))
        pains.extend(_pain_points(cell, stage, stage_sum - s_sum, stage_n - s_n, spec.rules))
    return JourneyMap(stages=stages, touchpoints=touchpoints, cells=cells, pain_points=pains)


def _one_query(stage_fb: Any, tp: Any, cells: Any) -> Any:
    """The three results as rows of one table, told apart by ``part`` (0, 1, 2)."""
    import ibis

    columns = {
        "stage_index": "int64",
        "channel": "string",
        "event": "string",
        "n": "int64",
        "customers": "int64",
        "moved_on": "int64",
        "median_seconds": "float64",
        "events": "int64",
        "s_sum": "float64",
        "s_n": "int64",
    }

    def padded(t: Any, part: int) -> Any:
        values = {
            c: (t[c] if c in t.columns else ibis.null()).cast(kind) for c, kind in columns.items()
        }
        return t.select(part=ibis.literal(part, "int64"), **values)

    return ibis.union(padded(stage_fb, 0), padded(tp, 1), padded(cells, 2), distinct=False)


def _figures(r: dict[str, Any], s_sum: float, s_n: int) -> dict[str, Any]:
    customers = int(r["customers"])
    moved = int(r["moved_on"] or 0)
    median = r["median_seconds"]
    return {
        "customers": customers,
        "moved_on": moved,
        "conversion_rate": moved / customers if customers else 0.0,
        "median_seconds": None if median is None else float(median),
        "sentiment": s_sum / s_n if s_n else None,
        "feedback": s_n,
    }


def _pain_points(
    cell: Cell, stage: StageRow, rest_sum: float, rest_n: int, rules: PainPointRules
) -> list[PainPoint]:
    found: list[PainPoint] = []
    if cell.customers < rules.min_customers:
        return found
    where = f"{cell.stage} · {cell.channel} · {cell.event}"

    def flag(kind: str, value: float, baseline: float, threshold: float, message: str) -> None:
        found.append(
            PainPoint(
                kind=kind,
                stage=cell.stage,
                channel=cell.channel,
                event=cell.event,
                value=value,
                baseline=baseline,
                threshold=threshold,
                customers=cell.customers,
                message=f"{where}: {message}",
            )
        )

    rest = stage.customers - cell.customers
    if rest >= rules.min_customers:
        rest_rate = (stage.moved_on - cell.moved_on) / rest
        threshold = rest_rate - rules.drop_margin
        if cell.conversion_rate <= threshold:
            flag(
                "drop_off",
                cell.conversion_rate,
                rest_rate,
                threshold,
                f"{cell.conversion_rate:.0%} moved on, against {rest_rate:.0%} of the "
                f"stage's other {rest} customers",
            )
    if (
        cell.sentiment is not None
        and cell.feedback >= rules.min_feedback
        and rest_n >= rules.min_feedback
    ):
        rest_sentiment = rest_sum / rest_n
        threshold = rest_sentiment - rules.sentiment_margin
        if cell.sentiment <= threshold:
            flag(
                "sentiment",
                cell.sentiment,
                rest_sentiment,
                threshold,
                f"sentiment {cell.sentiment:+.2f} from {cell.feedback} answers, against "
                f"{rest_sentiment:+.2f} from the stage's other {rest_n}",
            )
    if (
        cell.median_seconds is not None
        and stage.median_seconds is not None
        and cell.moved_on >= rules.min_customers
    ):
        threshold = stage.median_seconds * rules.wait_factor
        if cell.median_seconds >= threshold:
            flag(
                "long_wait",
                cell.median_seconds,
                stage.median_seconds,
                threshold,
                f"median {_duration(cell.median_seconds)} to the next stage, against "
                f"{_duration(stage.median_seconds)} for the whole stage",
            )
    return found


def _duration(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 60:.0f} minutes"
