"""The event log every journey analysis starts from: one workspace's customer events.

A row per ``track``, ``page`` and ``screen`` call (``identify`` and ``group`` calls describe
a customer rather than something they did), with:

* ``customer``: the ``user_id``, or the ``anonymous_id`` of a visitor who has none;
* ``event``: the event name; page and screen calls are named ``Page Viewed`` and
  ``Screen Viewed``;
* ``ts``: the event's time in seconds since the epoch (a float), which every analysis
  compares and subtracts, and ``pos``: the event's place in the customer's own history
  (1, 2, …, ordered by time, then by arrival), so that events at the same instant still
  have an order.

Everything here builds Ibis expressions: nothing is read until an analysis executes one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from wayline.analytics.warehouse import Warehouse
from wayline.errors import WaylineError

#: The event name given to page and screen calls.
PAGE_VIEWED: Final = "Page Viewed"
SCREEN_VIEWED: Final = "Screen Viewed"

#: Where a touchpoint's channel is read from when the caller does not say: the first of
#: these that the event carries (``properties.channel``, then the UTM medium and source).
DEFAULT_CHANNEL_PATHS: Final = (
    "properties.channel",
    "context.campaign.medium",
    "context.campaign.source",
)
#: The channel of an event that carries none of them.
NO_CHANNEL: Final = "direct"
#: The breakdown value of a customer or event without the property.
NONE_VALUE: Final = "(none)"

_JSON_COLUMNS: Final = ("properties", "context", "traits")


class InvalidAnalysis(WaylineError):
    """An analysis was asked for with a parameter it cannot use."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


def _date_part(part: Any, value: Any) -> Any: ...


def epoch_seconds(timestamp: Any) -> Any:
    """Seconds since the epoch, with their fraction (``date_part('epoch', …)`` on both)."""
    import ibis

    function = ibis.udf.scalar.builtin(
        _date_part, name="date_part", signature=(("string", "timestamp"), "float64")
    )
    return function("epoch", timestamp)


def count_if(condition: Any) -> Any:
    """1 where ``condition`` holds, else 0 (PostgreSQL cannot cast a boolean to a number)."""
    import ibis

    return ibis.ifelse(condition, 1, 0)


#: Characters a key of a property path may not hold: they would break out of a JSON path.
_UNSAFE_KEY = re.compile(r'["\\\x00-\x1f]')


def split_path(path: str, field: str) -> tuple[str, tuple[str, ...]]:
    """``properties.plan`` -> (``properties``, (``plan``,)); checked, naming ``field``."""
    column, _, rest = path.partition(".")
    keys = tuple(rest.split(".")) if rest else ()
    if (
        column not in _JSON_COLUMNS
        or not keys
        or not all(keys)
        or len(keys) > 3
        or _UNSAFE_KEY.search(rest)
    ):
        raise InvalidAnalysis(
            field,
            f"{path!r} is not a property path; expected properties.NAME, traits.NAME or "
            "context.NAME (up to three keys deep, without quotes, backslashes or control "
            "characters)",
        )
    return column, keys


@dataclass(frozen=True)
class EventLog:
    """One workspace's events in a warehouse, optionally limited to a time range."""

    warehouse: Warehouse
    workspace_id: str
    start: datetime | None = None
    end: datetime | None = None

    def raw(self) -> Any:
        """The workspace's rows of every call type, with ``customer``."""
        t = self.warehouse.table("events")
        t = t.filter(t.workspace_id == self.workspace_id)
        return t.mutate(customer=t.user_id.coalesce(t.anonymous_id))

    def named(self, names: Sequence[str] | None = None) -> Any:
        """The customer events without ``pos``: ``customer``, ``event``, ``timestamp``,
        ``ts``, ``seq``, ``properties``, ``context``; only those named ``names`` if given.

        Ordering by ``[ts, seq]`` orders them as ``pos`` does, without numbering every
        event of every customer (a sort of the whole log) when no position is compared.
        """
        import ibis

        t = self.raw()
        t = t.filter(t["type"].isin(("track", "page", "screen")))
        if self.start is not None:
            t = t.filter(t.timestamp >= self.start)
        if self.end is not None:
            t = t.filter(t.timestamp < self.end)
        name = ibis.cases(
            (t["type"] == "page", PAGE_VIEWED),
            (t["type"] == "screen", SCREEN_VIEWED),
            else_=t.event,
        )
        t = t.mutate(event=name)
        t = t.filter(t.event.notnull() if names is None else t.event.isin(list(names)))
        t = t.mutate(ts=epoch_seconds(t.timestamp))
        return t.select("customer", "event", "timestamp", "ts", "seq", "properties", "context")

    def events(self) -> Any:
        """The customer events, with ``customer``, ``event``, ``ts`` and ``pos``.

        ``pos`` counts from the customer's first event in the range, so analyses that
        compare positions (strict funnels, paths) see the range as the whole history.
        """
        import ibis

        t = self.named()
        return t.mutate(
            pos=ibis.row_number().over(group_by=t.customer, order_by=[t.ts, t.seq]) + 1
        ).select(
            "customer",
            "event",
            "timestamp",
            "ts",
            "pos",
            "seq",
            "properties",
            "context",
        )

    def text(self, table: Any, path: str, field: str) -> Any:
        """The text at a property path (``properties.plan``) of each row of ``table``."""
        column, keys = split_path(path, field)
        if column not in table.columns:
            raise InvalidAnalysis(field, f"{column} is not available here")
        return self.warehouse.json_text(table[column], keys)

    def number(self, table: Any, path: str, field: str) -> Any:
        """The number at a property path, or null where the value is not a number."""
        import ibis

        text = self.text(table, path, field)
        numeric = text.re_search(r"^-?[0-9]+(\.[0-9]+)?$")
        return ibis.ifelse(numeric, text.cast("float64"), ibis.null("float64"))

    def channel(self, table: Any, paths: Sequence[str] = DEFAULT_CHANNEL_PATHS) -> Any:
        """Each event's channel: the first of ``paths`` it carries, else ``direct``."""
        import ibis

        values = [self.text(table, p, "channel") for p in paths]
        return ibis.coalesce(*values, ibis.literal(NO_CHANNEL)) if values else NO_CHANNEL

    def traits(self, path: str, field: str) -> Any:
        """Per customer, the latest value of a trait sent with ``identify``:
        columns ``customer`` and ``value``."""
        import ibis

        column, keys = split_path(path, field)
        if column != "traits":
            raise InvalidAnalysis(field, f"{path!r} is not a trait; expected traits.NAME")
        t = self.raw()
        t = t.filter((t["type"] == "identify") & t.traits.notnull())
        t = t.mutate(value=self.warehouse.json_text(t.traits, keys))
        t = t.filter(t.value.notnull())
        t = t.mutate(
            latest=ibis.row_number().over(
                group_by=t.customer, order_by=[t.timestamp.desc(), t.seq.desc()]
            )
        )
        return t.filter(t.latest == 0).select("customer", "value")
