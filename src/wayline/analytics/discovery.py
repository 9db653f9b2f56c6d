"""The discovered journey: what customers really do, mined from the events.

* :func:`directly_follows`: the directly-follows graph (DFG) — how often one activity is
  followed directly by another within a customer's events, and the median time between
  them; rows with no ``source`` count the cases that start with an activity, rows with no
  ``target`` the cases that end with one.
* :func:`variants`: the most common sequences of activities, one per customer.

Both aggregate in the warehouse; only the graph and the top variants reach Python. The
counts are those of pm4py's ``discover_dfg`` and ``get_variants`` on the same log.
"""

from __future__ import annotations

from typing import Any

import ibis
import pandas as pd

from wayline.analytics.cases import event_log, split_path, traces
from wayline.analytics.eventlog import count_if, epoch_seconds
from wayline.analytics.fields import BadParameter, Scope
from wayline.analytics.warehouse import Warehouse


def directly_follows_expr(
    warehouse: Warehouse, scope: Scope, activity: str = "event", *, include_internal: bool = False
) -> Any:
    log = event_log(warehouse, scope, activity, include_internal=include_internal)
    # The sort carries only what the graph needs: the case, the activity and the time as
    # a number (ordered as the timestamp is), with the arrival order for ties.
    log = log.select("case", "activity", "seq", seconds=epoch_seconds(log.ts))
    w = ibis.window(group_by=log.case, order_by=[log.seconds, log.seq])
    # One sort of each case's events gives the next activity, the gap to it and whether
    # the event is the case's first; aggregations then give the edges, and the start
    # and end counts come out of their (small) result.
    steps = log.mutate(
        target=log.activity.lead().over(w),
        gap=log.seconds.lead().over(w) - log.seconds,
        first=count_if(log.activity.lag().over(w).isnull()),
    )
    pairs = _edge_figures(steps, ["activity", "target"], "gap").rename(source="activity")
    null_text = ibis.null().cast("string")
    null_seconds = ibis.null().cast("float64")
    follows = pairs.filter(pairs.target.notnull())
    edges = follows.select(
        "source", "target", "frequency", median_seconds=follows.median_seconds.cast("float64")
    )
    begun = pairs.group_by(target=pairs.source).aggregate(frequency=pairs.starts.sum())
    starts = begun.filter(begun.frequency > 0).select(
        source=null_text,
        target=begun.target,
        frequency=begun.frequency.cast("int64"),
        median_seconds=null_seconds,
    )
    last = pairs.filter(pairs.target.isnull())
    ends = last.select(
        source=last.source,
        target=null_text,
        frequency=last.frequency,
        median_seconds=null_seconds,
    )
    return edges.union(starts).union(ends)


def _edge_figures(rows: Any, keys: list[str], value: str) -> Any:
    """Per group of ``keys``: ``frequency`` (rows), ``starts`` (the sum of ``first``) and
    ``median_seconds``, the exact median of ``value`` (as ``median()`` gives it: the mean
    of the two middle values of an even count).

    The median is read off the count of each distinct value, in order, rather than by
    holding every value of a group at once: DuckDB's median over a hundred million rows
    spills without bound, while counts aggregate in a bounded hash table."""
    counted = rows.group_by([*keys, value]).aggregate(n=rows.count(), starts=rows.first.sum())
    below = ibis.cumulative_window(group_by=[counted[k] for k in keys], order_by=counted[value])
    counted = counted.mutate(
        below=counted.n.sum().over(below),
        total=counted.n.sum().over(group_by=[counted[k] for k in keys]),
    )
    at = counted[value]
    low = at.min(where=counted.below >= (counted.total + 1) // 2)
    high = at.min(where=counted.below >= counted.total // 2 + 1)
    return counted.group_by(keys).aggregate(
        frequency=counted.n.sum(),
        starts=counted.starts.sum(),
        median_seconds=(low + high) / 2,
    )


def directly_follows(
    warehouse: Warehouse, scope: Scope, activity: str = "event", *, include_internal: bool = False
) -> pd.DataFrame:
    """The directly-follows graph: columns ``source``, ``target``, ``frequency``,
    ``median_seconds``; most frequent first. ``source`` is null on the rows that count how
    many cases start at ``target``; ``target`` null on those that count cases ending at
    ``source``."""
    table = warehouse.execute(
        directly_follows_expr(warehouse, scope, activity, include_internal=include_internal)
    )
    frame = table.to_pandas()
    frame["frequency"] = frame["frequency"].astype("int64")
    return frame.sort_values(
        ["frequency", "source", "target"], ascending=[False, True, True], na_position="first"
    ).reset_index(drop=True)


def variants(
    warehouse: Warehouse,
    scope: Scope,
    activity: str = "event",
    top: int = 10,
    *,
    include_internal: bool = False,
) -> pd.DataFrame:
    """The ``top`` most common variants: ``variant`` (list of activities), ``cases``,
    ``share`` of all cases, ``median_seconds`` from first to last event."""
    if top < 1:
        raise BadParameter("top", "must be at least 1")
    paths = traces(event_log(warehouse, scope, activity, include_internal=include_internal))
    total = warehouse.execute(paths.aggregate(all=paths.cases.sum())).to_pylist()[0]["all"]
    ranked = paths.order_by([paths.cases.desc(), paths.path]).limit(top)
    rows = warehouse.execute(ranked).to_pylist()
    return pd.DataFrame(
        {
            "variant": [split_path(r["path"]) for r in rows],
            "cases": pd.Series([int(r["cases"]) for r in rows], dtype="int64"),
            "share": [int(r["cases"]) / int(total) for r in rows],
            "median_seconds": pd.Series([r["median_seconds"] for r in rows], dtype="float64"),
        }
    )
