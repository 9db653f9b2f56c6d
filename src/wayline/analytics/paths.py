"""Paths: what customers do after a start event, or before an end event, as Sankey links.

Each customer's events are cut into sessions after 30 minutes without an event (the gap is
configurable). In each session the path starts at the first occurrence of the start event
(or at the session's first event when there is none) and follows up to ``depth`` steps; with
an end event instead, the path is the ``depth`` steps leading to its first occurrence.

A link is (step, source event, target event) with the number of sessions and of customers
that took it. Steps count from the anchor: 0 is the start event, 1 the next…; before an end
event they count down to it: -2, -1, 0 (the end event).

Internal events (``Segment Entered``, ``Message Sent``…: see :mod:`wayline.analytics.internal`)
are left out, before sessions are cut, unless ``include_internal``; a start or end event
named by the caller is kept even when it is one of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from wayline.analytics.eventlog import EventLog, InvalidAnalysis, count_if
from wayline.analytics.internal import behaviour
from wayline.analytics.warehouse import Warehouse

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True, kw_only=True)
class Paths:
    start_event: str | None = None
    end_event: str | None = None
    depth: int = 5
    session_gap: timedelta = timedelta(minutes=30)
    #: Keep the ``top`` links of each step (by sessions); None keeps every link.
    top: int | None = 20
    start: datetime | None = None
    end: datetime | None = None
    #: Keep the events Wayline records itself (left out by default).
    include_internal: bool = False

    def check(self) -> None:
        if self.start_event and self.end_event:
            raise InvalidAnalysis("end_event", "give a start event or an end event, not both")
        if not 1 <= self.depth <= 20:
            raise InvalidAnalysis("depth", "must be between 1 and 20")
        if self.session_gap <= timedelta(0):
            raise InvalidAnalysis("session_gap", "must be positive")
        if self.top is not None and self.top < 1:
            raise InvalidAnalysis("top", "must be at least 1")


def sessions_expr(log: EventLog, gap: timedelta, events: Any = None) -> Any:
    """The log's events (or ``events``, some of them) with ``session`` (1, 2, … per
    customer) and ``idx`` (0, 1, … within the session): a new session starts after more
    than ``gap`` without an event.

    Events are ordered by time, then arrival (``ts``, ``seq``), as ``pos`` orders them,
    without numbering every event first."""
    import ibis

    if events is None:
        events = log.named()
    order = [events.ts, events.seq]
    previous = events.ts.lag().over(group_by=events.customer, order_by=order)
    t = events.mutate(
        new=count_if(previous.isnull() | (events.ts - previous > gap.total_seconds()))
    )
    t = t.mutate(
        session=t.new.sum().over(
            ibis.cumulative_window(group_by=t.customer, order_by=[t.ts, t.seq])
        )
    )
    return t.mutate(
        idx=ibis.row_number().over(group_by=[t.customer, t.session], order_by=[t.ts, t.seq])
    ).select("customer", "session", "idx", "event", "ts", "seq")


def paths_expr(warehouse: Warehouse, workspace_id: str, spec: Paths) -> Any:
    """An Ibis expression of the links: ``step, source, target, sessions, customers``."""
    import ibis

    spec.check()
    log = EventLog(warehouse, workspace_id, spec.start, spec.end)
    anchor_event = spec.start_event or spec.end_event
    events = log.named()
    if not spec.include_internal:
        events = behaviour(events, keep=[anchor_event])
    s = sessions_expr(log, spec.session_gap, events)
    if anchor_event is None:
        anchors = s.group_by(["customer", "session"]).aggregate(anchor=ibis.literal(0))
    else:
        hits = s.filter(s.event == anchor_event)
        anchors = hits.group_by(["customer", "session"]).aggregate(anchor=hits.idx.min())
    j = s.join(anchors, ["customer", "session"])
    j = j.mutate(step=j.idx - j.anchor)
    if spec.end_event is not None:
        j = j.filter((j.step <= 0) & (j.step >= -spec.depth))
    else:
        j = j.filter((j.step >= 0) & (j.step <= spec.depth))
    j = j.mutate(
        target=j.event.lead().over(group_by=[j.customer, j.session], order_by=j.idx),
    )
    j = j.filter(j.target.notnull())
    links = j.group_by([j.step, j.event.name("source"), j.target]).aggregate(
        sessions=j.count(), customers=j.customer.nunique()
    )
    if spec.top is not None:
        links = links.mutate(
            rank=ibis.row_number().over(
                group_by=links.step,
                order_by=[links.sessions.desc(), links.source, links.target],
            )
        )
        links = links.filter(links.rank < spec.top).drop("rank")
    return links.order_by(["step", ibis.desc("sessions"), "source", "target"])


def paths(warehouse: Warehouse, workspace_id: str, spec: Paths) -> pd.DataFrame:
    """The Sankey links (see :func:`paths_expr`) as a DataFrame, for notebooks."""
    frame: pd.DataFrame = warehouse.execute(paths_expr(warehouse, workspace_id, spec)).to_pandas()
    return frame


def sankey(links: pd.DataFrame) -> dict[str, Any]:
    """Links as Sankey data: ``nodes`` (``"step:event"`` names) and ``links`` by index."""
    names: dict[str, int] = {}

    def node(step: int, event: str) -> int:
        return names.setdefault(f"{step}:{event}", len(names))

    out = [
        {
            "source": node(int(r.step), str(r.source)),
            "target": node(int(r.step) + 1, str(r.target)),
            "value": int(r.sessions),
            "customers": int(r.customers),
        }
        for r in links.itertuples()
    ]
    return {"nodes": [{"name": n} for n in names], "links": out}
