"""Attribution: which channels (campaigns, journeys…) the conversions and revenue are due to.

A *touch* is any event of the customer with a value for the dimension (by default the
UTM source, ``context.campaign.source``); a *conversion* is an event named
``conversion_event``, worth ``revenue`` (a numeric field). A conversion's path is the
customer's touches since their previous conversion (within ``lookback_days`` of it, when
given), in time order, events of the same moment in the order they arrived. A conversion
event that carries the dimension is a touch too, the last of its own path. Touches after a
customer's last conversion form a path that did not convert.

Models:

* ``first_touch``, ``last_touch``, ``linear``;
* ``time_decay``: weight ``2^(-age / half_life)``, age = time from touch to conversion;
* ``position_based``: 40 % first, 40 % last, 20 % shared by the touches between (a path
  of two: 50/50; of one: 100 %);
* ``markov``: removal effects of an absorbing Markov chain of order 1 to 3, solved
  exactly (:mod:`wayline.analytics.markov`); revenue by the removal effects of expected
  revenue;
* ``shapley``: Shapley values of the game in which a set of channels earns the
  conversions of the paths that use only channels of the set; these are the path's
  conversions shared equally by its distinct channels (Zhao et al., 2018).

The per-touch models are computed in the warehouse; ``markov`` and ``shapley`` work on
the distinct paths, grouped in the warehouse. Conversions with no touch are reported on a
row whose channel is null, so that every model's column adds up to all conversions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Final

import ibis
import pandas as pd

from wayline.analytics.cases import SEPARATOR, split_path
from wayline.analytics.fields import BadParameter, Scope, check_field, customer, field, number
from wayline.analytics.markov import Chain, PathCount, shares
from wayline.analytics.warehouse import Warehouse

#: Every model, in the order reports show them.
MODELS: Final = (
    "first_touch",
    "last_touch",
    "linear",
    "time_decay",
    "position_based",
    "markov",
    "shapley",
)
#: The models computed per touch, in the warehouse.
TOUCH_MODELS: Final = MODELS[:5]
#: Names for the usual dimensions; any event field path works too.
DIMENSIONS: Final = {
    "channel": "context.campaign.source",
    "campaign": "context.campaign.name",
    "journey": "properties.journey_id",
}


def dimension_path(by: str) -> str:
    """The field path of a dimension name (``channel``, ``campaign``, ``journey``) or path."""
    return check_field(DIMENSIONS.get(by, by), "by")


def check_models(models: Sequence[str]) -> list[str]:
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        raise BadParameter(
            "models", f"unknown model {unknown[0] if unknown else ''!r}; use {', '.join(MODELS)}"
        )
    return [m for m in MODELS if m in models]


def journey_rows(
    warehouse: Warehouse,
    scope: Scope,
    *,
    by: str,
    conversion_event: str,
    revenue: str,
) -> Any:
    """Every touch (``kind`` 0, with its ``channel``) and every conversion (``kind`` 1,
    with its ``value``) of a customer (``case``), numbered by the path it belongs to
    (``journey``: the customer's conversions before it)."""
    t = scope.events(warehouse)
    base = t.select(
        case=customer(t),
        ts=t.timestamp,
        seq=t.seq,
        channel=field(warehouse, t, dimension_path(by), "by"),
        converts=t.event == conversion_event,
        # read only on conversions: parsing every event's properties is most of the scan
        value=ibis.ifelse(
            t.event == conversion_event,
            number(warehouse, t, check_field(revenue, "revenue"), "revenue").fill_null(_real(0)),
            _real(0),
        ),
    )
    base = base.filter(base.case.notnull())
    touch = base.filter(base.channel.notnull()).select(
        "case", "ts", "seq", "channel", kind=ibis.literal(0), value=_real(0)
    )
    conv = base.filter(base.converts).select(
        "case", "ts", "seq", channel=ibis.null().cast("string"), kind=ibis.literal(1), value="value"
    )
    rows = touch.union(conv)
    # an event that is both a touch and a conversion: the touch first, in its own path
    order = ibis.cumulative_window(group_by=rows.case, order_by=[rows.ts, rows.seq, rows.kind])
    # The path a row belongs to: the number of conversions before it.
    return rows.mutate(journey=rows.kind.sum().over(order) - rows.kind)


def _lookback(lookback_days: float | None) -> int | None:
    """The lookback in whole seconds, checked."""
    if lookback_days is None:
        return None
    if lookback_days <= 0:
        raise BadParameter("lookback_days", "must be more than 0")
    return int(lookback_days * 86400)


def touches_expr(
    warehouse: Warehouse,
    scope: Scope,
    *,
    by: str,
    conversion_event: str,
    revenue: str,
    lookback_days: float | None,
) -> Any:
    """Every touch with its path (``case``, ``journey``), its place in the path and, for a
    converting path, the conversion's time and revenue."""
    seconds = _lookback(lookback_days)
    rows = journey_rows(warehouse, scope, by=by, conversion_event=conversion_event, revenue=revenue)
    conversions = rows.filter(rows.kind == 1).select(
        c_case="case", c_journey="journey", conv_ts="ts", conv_value="value"
    )
    touches = rows.filter(rows.kind == 0)
    joined = touches.left_join(
        conversions,
        [touches.case == conversions.c_case, touches.journey == conversions.c_journey],
    ).select("case", "journey", "ts", "seq", "channel", "conv_ts", "conv_value")
    if seconds is not None:
        joined = joined.filter(
            joined.conv_ts.isnull() | (joined.ts >= joined.conv_ts - ibis.interval(seconds=seconds))
        )
    return joined


def _real(value: float) -> Any:
    """A float literal that stays a double on PostgreSQL (where ``1.0`` is ``numeric``)."""
    return ibis.literal(repr(float(value))).cast("float64")


def _touch_credit(touches: Any, half_life_days: float) -> Any:
    conv = touches.filter(touches.conv_ts.notnull())
    path = ibis.window(group_by=[conv.case, conv.journey])
    ordered = ibis.window(group_by=[conv.case, conv.journey], order_by=[conv.ts, conv.seq])
    age = conv.conv_ts.epoch_seconds() - conv.ts.epoch_seconds()
    conv = conv.mutate(
        n=conv.count().over(path),
        i=ibis.row_number().over(ordered),
        decay=_real(2.0).pow(-age.cast("float64") / _real(half_life_days * 86400.0)),
    )
    conv = conv.mutate(decay_total=conv.decay.sum().over(path))
    first, last = conv.i == 0, conv.i == conv.n - 1
    weights = {
        "first_touch": ibis.ifelse(first, _real(1), _real(0)),
        "last_touch": ibis.ifelse(last, _real(1), _real(0)),
        "linear": _real(1) / conv.n.cast("float64"),
        "time_decay": conv.decay / conv.decay_total,
        "position_based": ibis.cases(
            (conv.n == 1, _real(1)),
            (conv.n == 2, _real(0.5)),
            (first | last, _real(0.4)),
            else_=_real(0.2) / (conv.n - 2).cast("float64"),
        ),
    }
    return conv.group_by(conv.channel).aggregate(
        **{f"{m}_conversions": w.sum().cast("float64") for m, w in weights.items()},
        **{f"{m}_revenue": (w * conv.conv_value).sum().cast("float64") for m, w in weights.items()},
    )


def paths_expr(rows: Any, lookback_days: float | None = None) -> Any:
    """The distinct paths (:func:`journey_rows`), each with its ``conversions``, ``nulls``
    (paths that did not convert) and ``revenue``. Conversions with no touch (within the
    lookback) are the row whose ``path`` is null, so the column sums are every conversion
    and all revenue."""
    seconds = _lookback(lookback_days)
    if seconds is not None:
        path = ibis.window(group_by=[rows.case, rows.journey])
        conv_ts = ibis.ifelse(rows.kind == 1, rows.ts, ibis.null("timestamp")).max().over(path)
        rows = rows.mutate(conv_ts=conv_ts)
        rows = rows.filter(
            (rows.kind == 1)
            | rows.conv_ts.isnull()
            | (rows.ts >= rows.conv_ts - ibis.interval(seconds=seconds))
        )
    per_path = rows.group_by([rows.case, rows.journey]).aggregate(
        # conversions carry no channel, and the ordered concatenation skips them
        path=rows.channel.group_concat(SEPARATOR, order_by=[rows.ts, rows.seq]),
        converted=rows.kind.max(),
        value=ibis.ifelse(rows.kind == 1, rows.value, ibis.null("float64")).max(),
    )
    return per_path.group_by(per_path.path).aggregate(
        conversions=per_path.converted.sum(),
        nulls=(1 - per_path.converted).sum(),
        revenue=per_path.value.fill_null(_real(0)).sum().cast("float64"),
    )


def _totals_expr(warehouse: Warehouse, scope: Scope, conversion_event: str, revenue: str) -> Any:
    t = scope.events(warehouse)
    t = t.filter((t.event == conversion_event) & customer(t).notnull())
    value = number(warehouse, t, revenue, "revenue").fill_null(_real(0))
    return t.aggregate(conversions=t.count(), revenue=value.sum().cast("float64"))


def attribution(
    warehouse: Warehouse,
    scope: Scope,
    *,
    by: str = "channel",
    conversion_event: str = "Order Completed",
    revenue: str = "properties.revenue",
    models: Sequence[str] = MODELS,
    half_life_days: float = 7.0,
    markov_order: int = 1,
    lookback_days: float | None = None,
) -> pd.DataFrame:
    """Conversions and revenue per channel under each model: columns ``model``,
    ``channel`` (null: conversions with no touch), ``conversions``, ``revenue``."""
    chosen = check_models(models)
    if not half_life_days > 0:
        raise BadParameter("half_life_days", "must be more than 0")
    if markov_order not in (1, 2, 3):
        raise BadParameter("markov_order", "is 1, 2 or 3")
    _lookback(lookback_days)  # checked before any query runs
    rows: list[dict[str, Any]] = []
    all_conversions, all_revenue = 0, 0.0
    if "markov" in chosen or "shapley" in chosen:
        journeys = journey_rows(
            warehouse, scope, by=by, conversion_event=conversion_event, revenue=revenue
        )
        grouped = warehouse.execute(paths_expr(journeys, lookback_days)).to_pylist()
        # every conversion is on one path (the touchless ones on the null path)
        all_conversions = sum(int(r["conversions"]) for r in grouped)
        all_revenue = sum(float(r["revenue"]) for r in grouped)
        paths = [
            PathCount(
                split_path(r["path"]),
                int(r["conversions"]),
                int(r["nulls"]),
                float(r["revenue"]),
            )
            for r in grouped
            if r["path"] is not None
        ]
        converted = sum(p.conversions for p in paths)
        earned = sum(p.revenue for p in paths)
        if "markov" in chosen:
            chain = Chain(paths, markov_order)
            by_conversions = shares(chain.removal_effects())
            by_revenue = shares(chain.removal_effects(value=True))
            rows += [
                {
                    "model": "markov",
                    "channel": c,
                    "conversions": by_conversions[c] * converted,
                    "revenue": by_revenue[c] * earned,
                }
                for c in chain.channels
            ]
        if "shapley" in chosen:
            rows += [
                {"model": "shapley", "channel": c, "conversions": n, "revenue": v}
                for c, (n, v) in shapley(paths).items()
            ]
    else:
        totals = warehouse.execute(_totals_expr(warehouse, scope, conversion_event, revenue))
        all_conversions = int(totals["conversions"][0].as_py() or 0)
        all_revenue = float(totals["revenue"][0].as_py() or 0.0)
    if any(m in TOUCH_MODELS for m in chosen):
        touches = touches_expr(
            warehouse,
            scope,
            by=by,
            conversion_event=conversion_event,
            revenue=revenue,
            lookback_days=lookback_days,
        )
        credit = warehouse.execute(_touch_credit(touches, half_life_days)).to_pylist()
        for m in (m for m in chosen if m in TOUCH_MODELS):
            rows += [
                {
                    "model": m,
                    "channel": r["channel"],
                    "conversions": float(r[f"{m}_conversions"] or 0.0),
                    "revenue": float(r[f"{m}_revenue"] or 0.0),
                }
                for r in credit
            ]
    frame = pd.DataFrame(rows, columns=["model", "channel", "conversions", "revenue"])
    # What no touch explains, so that each model adds up to every conversion.
    unexplained = []
    for m in chosen:
        mine = frame[frame["model"] == m]
        left = all_conversions - mine["conversions"].sum()
        if round(left, 9) > 0:
            unexplained.append(
                {
                    "model": m,
                    "channel": None,
                    "conversions": float(left),
                    "revenue": all_revenue - float(mine["revenue"].sum()),
                }
            )
    if unexplained:
        frame = pd.concat([frame, pd.DataFrame(unexplained)], ignore_index=True)
    frame["_order"] = frame["model"].map(MODELS.index)
    frame["_none"] = frame["channel"].isna()
    frame = frame.sort_values(
        ["_order", "_none", "conversions", "channel"], ascending=[True, True, False, True]
    )
    return frame.drop(columns=["_order", "_none"]).reset_index(drop=True)


def shapley(paths: Sequence[PathCount]) -> dict[str, tuple[float, float]]:
    """Channel → (conversions, revenue): each path's shared equally by its distinct
    channels, which is the Shapley value of the coalition game above."""
    credit: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for p in paths:
        distinct = set(p.path)
        if not distinct or not p.conversions:
            continue
        for channel in distinct:
            credit[channel][0] += p.conversions / len(distinct)
            credit[channel][1] += p.revenue / len(distinct)
    return {c: (v[0], v[1]) for c, v in sorted(credit.items())}
