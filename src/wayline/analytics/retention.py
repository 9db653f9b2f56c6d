"""Retention: cohorts of customers by when they did an event, and how many come back.

* ``first_time``: a customer's cohort is the period (day, week or month, UTC; weeks start
  on Monday) of their first ``start_event``; each customer is in one cohort.
* ``recurring``: a customer is in the cohort of every period in which they did the
  ``start_event``, so a cohort counts who was active then and came back after.

A cohort's customers are *retained* in period N (0, 1, 2, … after the cohort's) when they
did the ``return_event`` in that period. Without a ``start_event`` or ``return_event``, any
event counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from wayline.analytics.eventlog import EventLog, InvalidAnalysis
from wayline.analytics.warehouse import Warehouse

if TYPE_CHECKING:
    import pandas as pd


class Period(StrEnum):
    DAY = "day"  #: UTC calendar days
    WEEK = "week"  #: ISO weeks, Monday to Sunday (UTC)
    MONTH = "month"  #: calendar months (UTC)


class CohortKind(StrEnum):
    FIRST_TIME = "first_time"  #: the cohort of the customer's first start event
    RECURRING = "recurring"  #: a cohort for every period with a start event


_UNIT = {Period.DAY: "D", Period.WEEK: "W", Period.MONTH: "M"}


@dataclass(frozen=True, kw_only=True)
class Retention:
    start_event: str | None = None
    return_event: str | None = None
    period: Period = Period.WEEK
    kind: CohortKind = CohortKind.FIRST_TIME
    #: How many periods after the cohort's to report (0 … periods).
    periods: int = 12
    start: datetime | None = None
    end: datetime | None = None

    def check(self) -> None:
        if not 0 <= self.periods <= 400:
            raise InvalidAnalysis("periods", "must be between 0 and 400")


def _numbered(warehouse: Warehouse, workspace_id: str, spec: Retention) -> Any:
    """The events with ``cohort`` (their period's first day) and ``number``: a running
    number of the period, consecutive periods differing by one."""
    from wayline.analytics.eventlog import epoch_seconds

    events = EventLog(warehouse, workspace_id, spec.start, spec.end).named()
    day = events.timestamp.truncate(_UNIT[spec.period])
    if spec.period is Period.MONTH:
        number = day.year() * 12 + day.month()
    else:
        length = 86400 if spec.period is Period.DAY else 7 * 86400
        # Consecutive period starts are exactly ``length`` apart, so the rounded quotient
        # numbers them consecutively (the epoch being a Thursday only shifts every week).
        number = (epoch_seconds(day) / length).round().cast("int64")
    return events.mutate(cohort=day.cast("date"), number=number)


def retention_expr(warehouse: Warehouse, workspace_id: str, spec: Retention) -> Any:
    """An Ibis expression: ``cohort`` (the period's first day), ``number`` (the cohort
    period's running number), ``cohort_size``, ``period`` (0, 1, …) and ``customers``
    retained in it. Periods in which nobody came back have no row."""
    spec.check()
    t = _numbered(warehouse, workspace_id, spec)
    starts = t if spec.start_event is None else t.filter(t.event == spec.start_event)
    returns = t if spec.return_event is None else t.filter(t.event == spec.return_event)
    if spec.kind is CohortKind.FIRST_TIME:
        first = starts.group_by("customer").aggregate(c_number=starts.number.min())
        days = starts.select(d_number=starts.number, cohort=starts.cohort).distinct()
        cohorts = first.join(days, first.c_number == days.d_number).select(
            "customer", "c_number", "cohort"
        )
    else:
        cohorts = starts.select("customer", "cohort", c_number=starts.number).distinct()
    active = returns.select(r_customer=returns.customer, r_number=returns.number).distinct()
    sizes = cohorts.group_by(["cohort", "c_number"]).aggregate(cohort_size=cohorts.count())
    j = cohorts.join(
        active,
        (cohorts.customer == active.r_customer)
        & (active.r_number >= cohorts.c_number)
        & (active.r_number <= cohorts.c_number + spec.periods),
    )
    kept = j.group_by(["cohort", "c_number", (j.r_number - j.c_number).name("period")]).aggregate(
        customers=j.customer.nunique()
    )
    out = sizes.join(kept, ["cohort", "c_number"])
    return out.select("cohort", "cohort_size", "period", "customers", number=out.c_number).order_by(
        ["cohort", "period"]
    )


def retention(warehouse: Warehouse, workspace_id: str, spec: Retention) -> pd.DataFrame:
    """A row per cohort and period: ``cohort, cohort_size, period, customers, rate``.

    Every period from 0 to ``spec.periods`` has a row (0 customers when nobody came back),
    except periods after the last one in the data, which nobody could have reached yet."""
    import pandas as pd

    columns = ["cohort", "cohort_size", "period", "customers", "rate"]
    rows = warehouse.execute(retention_expr(warehouse, workspace_id, spec)).to_pylist()
    if not rows:
        return pd.DataFrame(columns=columns)
    t = _numbered(warehouse, workspace_id, spec)
    last = int(warehouse.execute(t.aggregate(last=t.number.max())).to_pylist()[0]["last"])
    cohorts = {r["cohort"]: (int(r["number"]), int(r["cohort_size"])) for r in rows}
    seen = {(r["cohort"], int(r["period"])): int(r["customers"]) for r in rows}
    out = []
    for cohort, (number, size) in sorted(cohorts.items()):
        for p in range(min(spec.periods, last - number) + 1):
            customers = seen.get((cohort, p), 0)
            out.append(
                {
                    "cohort": cohort,
                    "cohort_size": size,
                    "period": p,
                    "customers": customers,
                    "rate": customers / size,
                }
            )
    return pd.DataFrame(out, columns=columns)
