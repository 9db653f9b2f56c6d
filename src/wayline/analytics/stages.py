"""Stages over the warehouse: when each customer entered each stage, where they are now,
how long stages take, and who is stalled.

* :func:`stage_entries_expr`: ``customer, stage, stage_index, entered_ts, entered_at``,
  a row per stage a customer has entered. This is what a ``Stage Entered`` event stream
  and a "customer is in stage X" segment condition are built from.
* :func:`current_stages_expr`: per customer, the furthest stage entered, the time in it
  and whether they are stalled there.
* :func:`stage_summary`: per stage, how many entered it, are in it now, moved on, the
  typical time in it and how many are stalled.

The *typical* time in a stage is the median time from entering it to entering any later
stage, over the customers who did. A customer is stalled when they have been in their
current stage longer than the stage's ``stall_after``, or else ``stall_factor`` times its
typical time. A stage nobody has left yet has no typical time and nobody stalled in it
(unless ``stall_after`` says otherwise).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from wayline.analytics.eventlog import EventLog, count_if, epoch_seconds
from wayline.analytics.stage_model import Condition, Stage, StageModel
from wayline.analytics.warehouse import Warehouse

if TYPE_CHECKING:
    import pandas as pd


def _matches(log: EventLog, table: Any, column: str, conditions: dict[str, Condition]) -> Any:
    """A boolean expression: every condition holds on ``column`` (properties or traits)."""
    import ibis

    from wayline.analytics.stage_model import Comparison

    test: Any = ibis.literal(True)
    for key, condition in conditions.items():
        path = f"{column}.{key}"
        if isinstance(condition, Comparison):
            number = log.number(table, path, "where")
            for op, bound in (
                ("gt", condition.gt),
                ("gte", condition.gte),
                ("lt", condition.lt),
                ("lte", condition.lte),
            ):
                if bound is not None:
                    test &= {
                        "gt": number > bound,
                        "gte": number >= bound,
                        "lt": number < bound,
                        "lte": number <= bound,
                    }[op].fill_null(False)
            if condition.ne is not None:
                text = log.text(table, path, "where")
                test &= text.isnull() | (text != _as_text(condition.ne))
        elif isinstance(condition, bool):
            test &= (log.text(table, path, "where") == _as_text(condition)).fill_null(False)
        elif isinstance(condition, int | float):
            test &= (log.number(table, path, "where") == float(condition)).fill_null(False)
        else:
            test &= (log.text(table, path, "where") == condition).fill_null(False)
    return test


def _as_text(value: Condition) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _stage_hits(log: EventLog, events: Any, stage: Stage) -> list[Any]:
    """For each rule of a stage, the events that enter it: ``customer, ts, timestamp``."""
    import ibis

    hits = []
    for rule in stage.rules():
        e = events.filter(events.event == rule.event)
        if rule.where:
            e = e.filter(_matches(log, e, "properties", rule.where))
        if rule.distinct is not None:
            # The first event of each value; events without the property do not count.
            e = e.mutate(value=log.text(e, f"properties.{rule.distinct}", "distinct"))
            e = e.filter(e.value.notnull())
            e = e.mutate(
                first=ibis.row_number().over(group_by=[e.customer, e.value], order_by=[e.ts, e.seq])
            )
            e = e.filter(e.first == 0)
        if rule.occurrence > 1:
            e = e.mutate(n=ibis.row_number().over(group_by=e.customer, order_by=[e.ts, e.seq]))
            e = e.filter(e.n == rule.occurrence - 1)
        hits.append(e.select("customer", "ts", "timestamp"))
    if stage.traits:
        t = log.raw()
        t = t.filter((t["type"] == "identify") & t.traits.notnull())
        if log.start is not None:
            t = t.filter(t.timestamp >= log.start)
        if log.end is not None:
            t = t.filter(t.timestamp < log.end)
        t = t.filter(_matches(log, t, "traits", stage.traits))
        hits.append(t.select("customer", "timestamp", ts=epoch_seconds(t.timestamp)))
    return hits


def stage_entries_expr(log: EventLog, model: StageModel) -> Any:
    """``customer, stage, stage_index, entered_ts, entered_at``: when each customer first
    matched each stage (``entered_ts`` in epoch seconds)."""
    import ibis

    names = {r.event for stage in model.stages for r in stage.rules()}
    events = log.named(sorted(names))
    per_stage = []
    for index, stage in enumerate(model.stages):
        hits = _stage_hits(log, events, stage)
        union = hits[0] if len(hits) == 1 else ibis.union(*hits, distinct=False)
        first = union.group_by("customer").aggregate(
            entered_ts=union.ts.min(), entered_at=union.timestamp.min()
        )
        per_stage.append(
            first.mutate(stage=ibis.literal(stage.name), stage_index=ibis.literal(index))
        )
    every = per_stage[0] if len(per_stage) == 1 else ibis.union(*per_stage, distinct=False)
    return every.select("customer", "stage", "stage_index", "entered_ts", "entered_at")


def stage_durations_expr(entries: Any) -> Any:
    """Per entry, ``left_ts``: when the customer next entered a later stage (null if never).
    Later means further in the model and not before this stage was entered."""
    later = entries.select(
        l_customer=entries.customer, l_index=entries.stage_index, l_ts=entries.entered_ts
    )
    j = entries.left_join(
        later,
        (entries.customer == later.l_customer)
        & (later.l_index > entries.stage_index)
        & (later.l_ts >= entries.entered_ts),
    )
    return j.group_by(list(entries.columns)).aggregate(left_ts=j.l_ts.min())


def _typical(durations: Any) -> Any:
    moved = durations.filter(durations.left_ts.notnull())
    return moved.group_by("stage_index").aggregate(
        typical_seconds=(moved.left_ts - moved.entered_ts).median()
    )


def current_stages_expr(
    warehouse: Warehouse,
    workspace_id: str,
    model: StageModel,
    *,
    as_of: datetime | None = None,
    start: datetime | None = None,
) -> Any:
    """Per customer: ``customer, stage, stage_index, entered_at, seconds_in_stage,
    typical_seconds, stalled``, as of ``as_of`` (default: now)."""
    import ibis

    when = (as_of or datetime.now(UTC)).timestamp()
    log = EventLog(warehouse, workspace_id, start, as_of)
    entries = stage_entries_expr(log, model)
    durations = stage_durations_expr(entries)
    typical = _typical(durations)
    latest = entries.mutate(
        r=ibis.row_number().over(group_by=entries.customer, order_by=entries.stage_index.desc())
    )
    now = latest.filter(latest.r == 0).drop("r")
    j = now.left_join(typical, now.stage_index == typical.stage_index)
    stall_after = j.typical_seconds * model.stall_factor
    fixed = [(i, s.stall_seconds()) for i, s in enumerate(model.stages) if s.stall_after]
    if fixed:
        stall_after = ibis.cases(
            *((j.stage_index == i, ibis.literal(after, "float64")) for i, after in fixed),
            else_=stall_after,
        )
    seconds = ibis.literal(when) - j.entered_ts
    return j.select(
        "customer",
        "stage",
        stage_index=j.stage_index,
        entered_at=j.entered_at,
        seconds_in_stage=seconds,
        typical_seconds=j.typical_seconds,
        stalled=(seconds > stall_after).fill_null(False),
    )


def stage_customers_expr(
    warehouse: Warehouse,
    workspace_id: str,
    model: StageModel,
    *,
    as_of: datetime | None = None,
    stage: str | None = None,
    stalled_only: bool = False,
) -> Any:
    """:func:`current_stages_expr`, optionally only one stage or the stalled, by customer."""
    expr = current_stages_expr(warehouse, workspace_id, model, as_of=as_of)
    if stage is not None:
        expr = expr.filter(expr.stage == stage)
    if stalled_only:
        expr = expr.filter(expr.stalled)
    return expr.order_by("customer")


def current_stages(
    warehouse: Warehouse,
    workspace_id: str,
    model: StageModel,
    *,
    as_of: datetime | None = None,
    stage: str | None = None,
    stalled_only: bool = False,
    limit: int | None = None,
) -> pd.DataFrame:
    """Customers with their current stage (see :func:`current_stages_expr`), for notebooks."""
    expr = stage_customers_expr(
        warehouse, workspace_id, model, as_of=as_of, stage=stage, stalled_only=stalled_only
    )
    if limit is not None:
        expr = expr.limit(limit)
    frame: pd.DataFrame = warehouse.execute(expr).to_pandas()
    return frame


def stage_summary(
    warehouse: Warehouse,
    workspace_id: str,
    model: StageModel,
    *,
    as_of: datetime | None = None,
) -> pd.DataFrame:
    """A row per stage: ``stage, entered, current, moved_on, conversion_rate,
    typical_seconds, stalled``; ``conversion_rate`` is moved_on / entered."""
    import pandas as pd

    log = EventLog(warehouse, workspace_id, None, as_of)
    durations = stage_durations_expr(stage_entries_expr(log, model))
    entered = durations.group_by("stage_index").aggregate(
        entered=durations.count(),
        moved_on=count_if(durations.left_ts.notnull()).sum(),
        typical_seconds=ibis_median_moved(durations),
    )
    now = current_stages_expr(warehouse, workspace_id, model, as_of=as_of)
    current = now.group_by("stage_index").aggregate(
        current=now.count(), stalled=count_if(now.stalled).sum()
    )
    # One query, so that the stage entries are worked out once (a shared subquery); every
    # stage someone is in now is a stage someone entered.
    both = entered.left_join(current, entered.stage_index == current.stage_index).select(
        "entered",
        "moved_on",
        "typical_seconds",
        "current",
        "stalled",
        stage_index=entered.stage_index,
    )
    by_stage = {r["stage_index"]: r for r in warehouse.execute(both).to_pylist()}
    by_now = by_stage
    rows = []
    for i, stage in enumerate(model.stages):
        e = by_stage.get(i, {})
        c = by_now.get(i, {})
        n = int(e.get("entered") or 0)
        moved = int(e.get("moved_on") or 0)
        typical = e.get("typical_seconds")
        rows.append(
            {
                "stage": stage.name,
                "entered": n,
                "current": int(c.get("current") or 0),
                "moved_on": moved,
                "conversion_rate": moved / n if n else 0.0,
                "typical_seconds": None if typical is None else float(typical),
                "stalled": int(c.get("stalled") or 0),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "stage",
            "entered",
            "current",
            "moved_on",
            "conversion_rate",
            "typical_seconds",
            "stalled",
        ],
    )


def ibis_median_moved(durations: Any) -> Any:
    """The median time to the next stage, over the entries that moved on."""
    import ibis

    gap = ibis.ifelse(
        durations.left_ts.notnull(),
        durations.left_ts - durations.entered_ts,
        ibis.null("float64"),
    )
    return gap.median()
