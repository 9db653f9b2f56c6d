"""The event log of process mining: one case per customer, an activity per event.

Built as an Ibis expression over the warehouse, never in Python: a case is a customer
(``user_id``, else ``anonymous_id``), an activity is the value of a field of the event
(the event name unless told otherwise), ordered by time and then by arrival. The events
Wayline records itself (:mod:`wayline.analytics.internal`) are not activities of a customer,
and are left out unless asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from wayline.analytics.fields import Scope, customer, field
from wayline.analytics.internal import behaviour
from wayline.analytics.warehouse import Warehouse

#: Separates activities inside a variant's path string (built in SQL). A control character,
#: so no event name is split by it.
SEPARATOR: Final = "\x1f"


def event_log(
    warehouse: Warehouse,
    scope: Scope,
    activity: str = "event",
    only: Sequence[str] | None = None,
    *,
    include_internal: bool = False,
    named: Sequence[str] = (),
) -> Any:
    """Columns ``case``, ``activity``, ``ts``, ``seq``: events with an activity, of one scope.

    ``only`` keeps the events whose activity is one of these (a log projected on a model).
    Internal events are left out unless ``include_internal``; those in ``named`` (events
    the caller asked for by name, such as the steps of a designed journey) are kept.
    """
    t = scope.events(warehouse)
    if not include_internal:
        t = behaviour(t, keep=named)
    log = t.select(
        case=customer(t),
        activity=field(warehouse, t, activity, "activity"),
        ts=t.timestamp,
        seq=t.seq,
    )
    log = log.filter(log.case.notnull(), log.activity.notnull())
    if only is not None:
        log = log.filter(log.activity.isin(list(only)))
    return log


def traces(log: Any) -> Any:
    """Columns ``path`` (the case's activities joined by :data:`SEPARATOR`), ``cases``,
    ``median_seconds`` (median time from a case's first to its last event)."""
    per_case = log.group_by(log.case).aggregate(
        path=log.activity.group_concat(SEPARATOR, order_by=[log.ts, log.seq]),
        seconds=log.ts.epoch_seconds().max() - log.ts.epoch_seconds().min(),
    )
    return per_case.group_by(per_case.path).aggregate(
        cases=per_case.count(), median_seconds=per_case.seconds.median()
    )


def split_path(path: str) -> list[str]:
    return path.split(SEPARATOR) if path else []
