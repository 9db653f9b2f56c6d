"""Funnels: how many customers go through a sequence of steps, how fast, and who drops.

An *attempt* starts at an event of the first step (in ``any_order`` mode, at an event of any
step) and runs for the conversion window: 14 days by default, the boundary included, so a
step exactly 14 days after the first still counts. Within it:

* ``ordered``: each step is the customer's next event of that name after the previous
  step; other events may come in between;
* ``strict``: each step is the customer's very next event, nothing in between;
* ``any_order``: every step, in whatever order; step *k* is reached when *k* different
  steps have been done.

In ``ordered`` funnels, as in PostHog, events at the same instant are taken in step order
whatever order they arrived in (an event at the instant of the previous step's event can
be the next step; an exclusion at a step's instant comes before the step); ``strict``
funnels keep the arrival order. Every event of the first step starts an attempt, and a
customer counts once, by their best attempt (the deepest; of those, a clean one before an
excluded one, then the earliest), so a customer who failed once and converted later has
converted.

Exclusions (``ordered``, as in PostHog): an attempt with an exclusion event after step
k-1 and before step k (or, where step k is not reached, within the window) is excluded; it
keeps step k if it follows and goes no further. A customer whose best attempt is excluded
is left out of the funnel. In ``any_order`` funnels an exclusion ends the attempt where it
happens.

The time between steps is measured on the best attempt; a breakdown labels the customer
by the first step's event (an event property or the channel), by their profile (a trait,
as last sent with ``identify``), or by the segments they are members of now (``segment``,
``segment:ID,ID``): a customer in several segments counts under each, one in none under
``(none)``. Segment memberships come from the state store (:mod:`segment_members`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from wayline.analytics.eventlog import (
    DEFAULT_CHANNEL_PATHS,
    NONE_VALUE,
    EventLog,
    InvalidAnalysis,
    count_if,
    split_path,
)
from wayline.analytics.segment_members import as_ibis, breakdown_segments
from wayline.analytics.warehouse import Warehouse

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


class FunnelMode(StrEnum):
    ORDERED = "ordered"  #: the steps in order; other events may come in between
    STRICT = "strict"  #: the steps in order, with no other event in between
    ANY_ORDER = "any_order"  #: all the steps, in any order


#: Buckets of the time between two steps: (label, from seconds, to seconds).
TIME_BUCKETS: Final = (
    ("<1m", 0, 60),
    ("1m-10m", 60, 600),
    ("10m-1h", 600, 3600),
    ("1h-6h", 3600, 6 * 3600),
    ("6h-1d", 6 * 3600, 86400),
    ("1d-3d", 86400, 3 * 86400),
    ("3d-7d", 3 * 86400, 7 * 86400),
    ("7d-14d", 7 * 86400, 14 * 86400),
    ("14d-30d", 14 * 86400, 30 * 86400),
    (">=30d", 30 * 86400, None),
)


@dataclass(frozen=True, kw_only=True)
class Exclusion:
    """An event that must not happen between two steps (1-based, default: first to last)."""

    event: str
    after_step: int = 1
    before_step: int | None = None


@dataclass(frozen=True, kw_only=True)
class Funnel:
    """What to measure. ``start``/``end`` bound when the first step happened."""

    steps: tuple[str, ...]
    mode: FunnelMode = FunnelMode.ORDERED
    window: timedelta = timedelta(days=14)
    exclusions: tuple[Exclusion, ...] = ()
    #: ``properties.NAME`` / ``context.NAME`` (of the first step's event), ``traits.NAME``
    #: (the profile), ``channel``, or ``segment`` / ``segment:ID,ID`` (memberships now).
    breakdown: str | None = None
    channel_paths: tuple[str, ...] = DEFAULT_CHANNEL_PATHS
    start: datetime | None = None
    end: datetime | None = None

    def check(self) -> None:
        """Raises :class:`InvalidAnalysis` naming the first bad parameter."""
        if len(self.steps) < 2:
            raise InvalidAnalysis("steps", "a funnel needs at least two steps")
        if not all(self.steps):
            raise InvalidAnalysis("steps", "a step needs an event name")
        if self.mode is FunnelMode.ANY_ORDER and len(set(self.steps)) != len(self.steps):
            raise InvalidAnalysis("steps", "an any_order funnel cannot repeat a step")
        if self.window <= timedelta(0):
            raise InvalidAnalysis("window", "the conversion window must be positive")
        for x in self.exclusions:
            last = len(self.steps) if x.before_step is None else x.before_step
            if not x.event:
                raise InvalidAnalysis("exclude", "an exclusion needs an event name")
            if not 1 <= x.after_step < last <= len(self.steps):
                raise InvalidAnalysis(
                    "exclude",
                    f"{x.event!r}: between steps {x.after_step} and {last} is not a range "
                    f"of this {len(self.steps)}-step funnel",
                )
            if self.mode is FunnelMode.ANY_ORDER and (x.after_step, last) != (
                1,
                len(self.steps),
            ):
                raise InvalidAnalysis(
                    "exclude", "in an any_order funnel an exclusion covers the whole funnel"
                )
        if self.breakdown not in (None, "channel") and self.segments is None:
            split_path(self.breakdown, "breakdown")
        for path in self.channel_paths:
            split_path(path, "channel")

    @property
    def segments(self) -> tuple[str, ...] | None:
        """The segments a segment breakdown names (``()``: all), else ``None``."""
        return breakdown_segments(self.breakdown)

    @property
    def reads_event(self) -> bool:
        """Whether the breakdown is read from the first step's event."""
        return self.breakdown is not None and (
            self.breakdown == "channel" or self.breakdown.startswith(("properties.", "context."))
        )

    @property
    def window_seconds(self) -> float:
        return self.window.total_seconds()

    def excluded_between(self, k: int) -> tuple[str, ...]:
        """The exclusion events that may not happen between step ``k - 1`` and ``k``."""
        return tuple(
            x.event
            for x in self.exclusions
            if x.after_step <= k - 1
            and k <= (len(self.steps) if x.before_step is None else x.before_step)
        )


@dataclass(frozen=True)
class FunnelReport:
    """``steps``: a row per (breakdown,) step; ``times``: the time-between-steps histogram."""

    steps: pd.DataFrame
    times: pd.DataFrame
    breakdown: str | None = field(default=None)


def _log(warehouse: Warehouse, workspace_id: str, spec: Funnel) -> EventLog:
    # Later steps may fall after ``end``: the window, not the range, bounds them.
    end = spec.end + spec.window if spec.end is not None else None
    return EventLog(warehouse, workspace_id, start=spec.start, end=end)


def _starts(log: EventLog, spec: Funnel, s: Any, early: Any) -> Any:
    """The attempts' first events, given the first-step events ``s`` and whether each came
    before the funnel's end (``early``), with their breakdown label ``bk`` when it is the
    event's."""
    import ibis

    if spec.end is not None:
        s = s.filter(early)
    if spec.breakdown == "channel":
        bk = log.channel(s, spec.channel_paths)
    elif spec.reads_event and spec.breakdown is not None:
        bk = log.text(s, spec.breakdown, "breakdown").coalesce(ibis.literal(NONE_VALUE))
    else:
        bk = ibis.literal(NONE_VALUE)
    return s.mutate(bk=bk, deadline=s.ts + spec.window_seconds)


def _named_starts(log: EventLog, spec: Funnel, events: Any, names: tuple[str, ...]) -> Any:
    s = events.filter(events.event.isin(names))
    return _starts(log, spec, s, s.timestamp < spec.end if spec.end is not None else None)


def _sequential(log: EventLog, spec: Funnel) -> Any:
    """Ordered and strict attempts: ``customer, start_pos, bk, pos_k, ts_k`` for each step
    (``pos_k`` null where step k was not reached; ``start_pos`` orders a customer's
    attempts)."""
    if spec.mode is FunnelMode.STRICT:
        return _strict(log, spec)
    return _ordered(log, spec)


def _step_events(log: EventLog, spec: Funnel, code: dict[str, int]) -> Any:
    """The log's events of these names only (an ordered funnel needs no other event), as
    narrow as the sort that follows allows: the name as its number in ``code`` (``name``),
    and instead of the time, whether the event came before the funnel's end (``early``).
    The JSON columns come along only when the breakdown reads them."""
    import ibis

    t = log.named(tuple(code))
    columns: dict[str, Any] = {
        "customer": t.customer,
        "name": ibis.cases(*((t.event == n, i) for n, i in code.items())),
        "ts": t.ts,
        "seq": t.seq,
    }
    if spec.end is not None:
        columns["early"] = t.timestamp < spec.end
    if spec.reads_event:
        columns |= {"properties": t.properties, "context": t.context}
    return t.select(**columns)


def _ordered(log: EventLog, spec: Funnel) -> Any:
    """Each step is the customer's next event of that name after the previous step.

    One sort of the step events, by time, then (for events at the same instant) exclusion
    events first and the steps in funnel order, then arrival: events at the same instant
    are taken in step order whatever order they arrived in, and an exclusion at the
    instant of a step comes before it. Along that order: running counts, per customer, of
    each step name (``c_i``) and of each step's exclusion events (``x_j``). The next event
    named N after an event is the one whose count of N is that event's count of N plus
    one, so an attempt follows its steps with one equality join per step (reading the
    step's time). An exclusion came between two steps when its count differs between
    them, or, where the later step was not reached, when the next exclusion event after
    the earlier one (found the same way, one more join) is within the window. (A window
    over the following rows would do too, but PostgreSQL computes a minimum over such a
    frame again for every row.)
    An excluded attempt keeps the step reached just after the exclusion (its depth) and
    goes no further; ``excluded`` marks it.
    """
    import ibis

    n = len(spec.steps)
    excluded = {k: spec.excluded_between(k) for k in range(2, n + 1)}
    names = tuple(dict.fromkeys([*spec.steps, *(e for x in excluded.values() for e in x)]))
    step_names = list(dict.fromkeys(spec.steps))
    sets = list(dict.fromkeys(x for x in excluded.values() if x))
    # a step name's number is the index of its first step; an exclusion-only name's is
    # negative, so that at the same instant exclusion events come first, then the steps
    # in funnel order, then by arrival
    code = {name: i for i, name in enumerate(step_names)}
    code |= {name: -1 - i for i, name in enumerate(names[len(step_names) :])}
    events = _step_events(log, spec, code)
    order = [events.ts, events.name, events.seq]
    so_far = ibis.cumulative_window(group_by=events.customer, order_by=order)
    marks = {
        f"c_{i}": count_if(events.name == code[name]).sum().over(so_far)
        for i, name in enumerate(step_names)
    }
    marks |= {
        f"x_{j}": count_if(events.name.isin([code[e] for e in which])).sum().over(so_far)
        for j, which in enumerate(sets)
    }
    counted = events.mutate(**marks)
    mark_names = list(marks)
    first = counted.filter(counted.name == code[spec.steps[0]])
    s = _starts(log, spec, first, first.early if spec.end is not None else None)
    att = s.select(
        "customer",
        "bk",
        "deadline",
        start_pos=s[f"c_{step_names.index(spec.steps[0])}"],
        excluded=ibis.literal(0, "int64"),
        pos_1=ibis.literal(1, "int64"),
        ts_1=s.ts,
        **{f"m_{m}": s[m] for m in mark_names},
    )
    for k in range(2, n + 1):
        i = step_names.index(spec.steps[k - 1])
        row = counted.filter(counted.name == code[spec.steps[k - 1]])
        row = row.select(
            r_customer=row.customer,
            r_ord=row[f"c_{i}"],
            r_ts=row.ts,
            **{f"r_{m}": row[m] for m in mark_names},
        )
        j = att.left_join(
            row, (att.customer == row.r_customer) & (att[f"m_c_{i}"] + 1 == row.r_ord)
        )
        att = j.select(*att.columns, "r_ts", *(f"r_{m}" for m in mark_names))
        hit: Any = ibis.literal(False)
        if excluded[k]:
            x = sets.index(excluded[k])
            # the next exclusion event after the previous step: the one whose count is the
            # previous step's plus one
            nx = counted.filter(counted.name.isin([code[e] for e in excluded[k]]))
            nx = nx.select(n_customer=nx.customer, n_ord=nx[f"x_{x}"], n_ts=nx.ts)
            j = att.left_join(
                nx, (att.customer == nx.n_customer) & (att[f"m_x_{x}"] + 1 == nx.n_ord)
            )
            att = j.select(*att.columns, "n_ts")
            reached = (att.r_ts <= att.deadline).fill_null(False)
            # exclusion events after the previous step and before this one (this step's
            # own event is not between them); where this step was not reached, the next
            # one after the previous step, if within the window
            own = 1 if spec.steps[k - 1] in excluded[k] else 0
            between = att[f"r_x_{x}"] - att[f"m_x_{x}"] - own > 0
            pending = att.n_ts <= att.deadline
            att = att.mutate(hit=ibis.ifelse(reached, between, pending).fill_null(False))
            att = att.drop("n_ts")
            hit = att.hit
        reached = (att.r_ts <= att.deadline).fill_null(False)
        att = att.mutate(
            **{
                f"pos_{k}": ibis.ifelse(reached, ibis.literal(k, "int64"), ibis.null("int64")),
                f"ts_{k}": ibis.ifelse(reached, att.r_ts, ibis.null("float64")),
            },
            excluded=ibis.ifelse(hit, ibis.literal(1, "int64"), att.excluded),
            # an excluded attempt goes no further than this step
            **{
                f"m_{m}": ibis.ifelse(
                    reached & ~hit, att[f"r_{m}"], ibis.null(att[f"r_{m}"].type())
                )
                for m in mark_names
            },
        ).drop("r_ts", *(f"r_{m}" for m in mark_names), *(["hit"] if excluded[k] else []))
    att = att.select(
        "customer",
        "bk",
        "start_pos",
        "excluded",
        *(f"pos_{k}" for k in range(1, n + 1)),
        *(f"ts_{k}" for k in range(1, n + 1)),
    )
    return att.mutate(depth=sum(count_if(att[f"pos_{k}"].notnull()) for k in range(1, n + 1)))


def _strict(log: EventLog, spec: Funnel) -> Any:
    """Each step is the customer's very next event: the steps are read off the events that
    follow the first one, in one window pass (an exclusion cannot come between two steps
    with nothing between them)."""
    import ibis

    n = len(spec.steps)
    events = log.events()
    w = ibis.window(group_by=events.customer, order_by=events.pos)
    ahead = events.mutate(
        **{f"ne_{k}": events.event.lead(k - 1).over(w) for k in range(2, n + 1)},
        **{f"nt_{k}": events.ts.lead(k - 1).over(w) for k in range(2, n + 1)},
    )
    s = _named_starts(log, spec, ahead, spec.steps[:1])
    att = s.mutate(start_pos=s.pos, pos_1=s.pos, ts_1=s.ts)
    reached: Any = ibis.literal(True)
    for k in range(2, n + 1):
        reached = reached & (att[f"ne_{k}"] == spec.steps[k - 1]).fill_null(False)
        reached = reached & (att[f"nt_{k}"] <= att.deadline).fill_null(False)
        att = att.mutate(
            **{
                f"pos_{k}": ibis.ifelse(reached, att.pos + (k - 1), ibis.null("int64")),
                f"ts_{k}": ibis.ifelse(reached, att[f"nt_{k}"], ibis.null("float64")),
            }
        )
    att = att.select(
        "customer",
        "bk",
        "start_pos",
        *(f"pos_{k}" for k in range(1, n + 1)),
        *(f"ts_{k}" for k in range(1, n + 1)),
        excluded=ibis.literal(0, "int64"),
    )
    return att.mutate(depth=sum(count_if(att[f"pos_{k}"].notnull()) for k in range(1, n + 1)))


def _any_order(log: EventLog, spec: Funnel) -> Any:
    """Any-order attempts: ``ts_k`` is when the k-th different step was first done."""
    import ibis

    events = log.events()
    n = len(spec.steps)
    s = _named_starts(log, spec, events, spec.steps)
    s = s.select("customer", "bk", "deadline", start_pos=s.pos)
    if spec.exclusions:
        x = events.filter(events.event.isin([e.event for e in spec.exclusions]))
        x = x.select(x_customer=x.customer, x_pos=x.pos)
        j = s.left_join(x, (s.customer == x.x_customer) & (x.x_pos > s.start_pos))
        s = j.group_by(list(s.columns)).aggregate(stop_pos=j.x_pos.min())
    else:
        s = s.mutate(stop_pos=ibis.null("int64"))
    c = events.filter(events.event.isin(spec.steps))
    c = c.select(c_customer=c.customer, c_pos=c.pos, c_ts=c.ts, c_event=c.event)
    j = s.join(
        c,
        (s.customer == c.c_customer)
        & (c.c_pos >= s.start_pos)
        & (c.c_ts <= s.deadline)
        & (s.stop_pos.isnull() | (c.c_pos < s.stop_pos)),
    )
    first = j.group_by(["customer", "bk", "start_pos", "c_event"]).aggregate(
        f_pos=j.c_pos.min(), f_ts=j.c_ts.min()
    )
    first = first.mutate(
        k=ibis.row_number().over(group_by=[first.customer, first.start_pos], order_by=first.f_pos)
        + 1
    )
    att = first.group_by(["customer", "bk", "start_pos"]).aggregate(
        depth=first.count(),
        **{
            f"ts_{i}": ibis.ifelse(first.k == i, first.f_ts, ibis.null("float64")).max()
            for i in range(1, n + 1)
        },
    )
    return att.mutate(excluded=ibis.literal(0, "int64"))


def best_attempts(
    warehouse: Warehouse, workspace_id: str, spec: Funnel, members: pa.Table | None = None
) -> Any:
    """Per customer, their best attempt, as an Ibis expression: ``customer``, ``bk`` (the
    breakdown label), ``depth`` (steps reached) and ``ts_1`` … ``ts_n`` (epoch seconds).

    A segment breakdown needs ``members`` (:func:`segment_members`): a customer then has a
    row per segment they are in."""
    import ibis

    spec.check()
    log = _log(warehouse, workspace_id, spec)
    att = _any_order(log, spec) if spec.mode is FunnelMode.ANY_ORDER else _sequential(log, spec)
    att = att.mutate(
        r=ibis.row_number().over(
            group_by=att.customer, order_by=[att.depth.desc(), att.excluded, att.start_pos]
        )
    )
    n = len(spec.steps)
    # a customer whose best attempt was excluded is left out of the funnel
    best = att.filter((att.r == 0) & (att.excluded == 0)).select(
        "customer", "bk", "depth", *(f"ts_{k}" for k in range(1, n + 1))
    )
    if spec.breakdown is not None and spec.breakdown.startswith("traits."):
        traits = log.traits(spec.breakdown, "breakdown")
        j = best.left_join(traits, best.customer == traits.customer)
        best = j.select(
            "customer",
            "depth",
            *(f"ts_{k}" for k in range(1, n + 1)),
            bk=j.value.coalesce(ibis.literal(NONE_VALUE)),
        )
    if spec.segments is not None:
        if members is None:
            raise InvalidAnalysis(
                "breakdown", "a segment breakdown needs the segments' members (segment_members)"
            )
        m = as_ibis(members)
        m = m.select(m_customer=m.customer, m_segment=m.segment)
        j = best.left_join(m, best.customer == m.m_customer)
        best = j.select(
            "customer",
            "depth",
            *(f"ts_{k}" for k in range(1, n + 1)),
            bk=j.m_segment.coalesce(ibis.literal(NONE_VALUE)),
        )
    return best


def funnel_report(
    warehouse: Warehouse, workspace_id: str, spec: Funnel, members: pa.Table | None = None
) -> FunnelReport:
    """Per step: customers, conversion, drop-off and the time from the previous step
    (``members``: for a segment breakdown, see :func:`best_attempts`)."""
    import pandas as pd

    best = best_attempts(warehouse, workspace_id, spec, members)
    n = len(spec.steps)
    agg: dict[str, Any] = {}
    for k in range(1, n + 1):
        agg[f"c{k}"] = count_if(best.depth >= k).sum()
        if k > 1:
            gap = best[f"ts_{k}"] - best[f"ts_{k - 1}"]
            agg[f"m{k}"] = gap.median()
            for b, (_, low, high) in enumerate(TIME_BUCKETS):
                inside = gap >= low if high is None else (gap >= low) & (gap < high)
                agg[f"h{k}_{b}"] = count_if(inside).sum()
    rows = warehouse.execute(best.group_by("bk").aggregate(**agg)).to_pylist()
    rows.sort(key=lambda r: (-int(r["c1"] or 0), str(r["bk"])))
    steps: list[dict[str, Any]] = []
    times: list[dict[str, Any]] = []
    for r in rows:
        first = int(r["c1"] or 0)
        for k in range(1, n + 1):
            here = int(r[f"c{k}"] or 0)
            before = int(r[f"c{k - 1}"] or 0) if k > 1 else here
            median = r.get(f"m{k}")
            steps.append(
                {
                    "breakdown": r["bk"],
                    "step": k,
                    "event": spec.steps[k - 1],
                    "customers": here,
                    "conversion_rate": here / first if first else 0.0,
                    "step_conversion_rate": here / before if before else 0.0,
                    "dropped": before - here,
                    "median_seconds_from_previous": None if median is None else float(median),
                }
            )
            if k > 1:
                for b, (label, _, _) in enumerate(TIME_BUCKETS):
                    times.append(
                        {
                            "breakdown": r["bk"],
                            "step": k,
                            "bucket": label,
                            "customers": int(r[f"h{k}_{b}"] or 0),
                        }
                    )
    step_columns = [
        "breakdown",
        "step",
        "event",
        "customers",
        "conversion_rate",
        "step_conversion_rate",
        "dropped",
        "median_seconds_from_previous",
    ]
    steps_df = pd.DataFrame(steps, columns=step_columns)
    times_df = pd.DataFrame(times, columns=["breakdown", "step", "bucket", "customers"])
    if spec.breakdown is None:
        steps_df = steps_df.drop(columns="breakdown")
        times_df = times_df.drop(columns="breakdown")
    return FunnelReport(steps=steps_df, times=times_df, breakdown=spec.breakdown)


def funnel(
    warehouse: Warehouse, workspace_id: str, spec: Funnel, members: pa.Table | None = None
) -> pd.DataFrame:
    """The funnel's steps as a DataFrame (see :func:`funnel_report`), for notebooks."""
    return funnel_report(warehouse, workspace_id, spec, members).steps


def dropped_customers_expr(
    warehouse: Warehouse,
    workspace_id: str,
    spec: Funnel,
    step: int,
    members: pa.Table | None = None,
) -> Any:
    """An Ibis expression of the customers who reached step ``step - 1`` but not ``step``:
    ``customer`` (and ``breakdown`` when the funnel has one; by segment, a row per segment).
    :func:`wayline.segments.static.save_dropped` saves them as a static segment."""
    if not 2 <= step <= len(spec.steps):
        raise InvalidAnalysis("step", f"must be between 2 and {len(spec.steps)}")
    best = best_attempts(warehouse, workspace_id, spec, members)
    dropped = best.filter(best.depth == step - 1)
    if spec.breakdown is None:
        return dropped.select("customer").order_by("customer")
    return dropped.select("customer", breakdown=dropped.bk).order_by("customer")


def dropped_customers(
    warehouse: Warehouse,
    workspace_id: str,
    spec: Funnel,
    step: int,
    *,
    limit: int | None = None,
    members: pa.Table | None = None,
) -> pd.DataFrame:
    """The customers who dropped before ``step`` (see :func:`dropped_customers_expr`)."""
    expr = dropped_customers_expr(warehouse, workspace_id, spec, step, members)
    if limit is not None:
        expr = expr.limit(limit)
    frame: pd.DataFrame = warehouse.execute(expr).to_pandas()
    return frame
