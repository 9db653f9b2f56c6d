"""What analyses are about: a customer, an event's field, a slice of a workspace's events.

A field is named by a path, as in journey specs: ``event``, ``type``, ``user_id`` (the
warehouse columns) or a dotted path into a JSON column: ``properties.country``,
``context.campaign.source``, ``traits.plan``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from wayline.analytics.warehouse import Warehouse
from wayline.errors import WaylineError
from wayline.events import within_event_range

#: Warehouse columns a field path may name directly.
PLAIN_COLUMNS: Final = frozenset(
    {"event", "type", "user_id", "anonymous_id", "message_id", "workspace_id"}
)
#: JSON columns a dotted path may reach into.
JSON_COLUMNS: Final = frozenset({"properties", "context", "traits"})


class BadParameter(WaylineError):
    """A parameter of an analysis is not usable; ``parameter`` names it."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.reason = message


class UnknownJourney(BadParameter):
    """The journey an analysis names does not exist."""

    def __init__(self, journey_id: str, parameter: str = "journey") -> None:
        super().__init__(parameter, f"no journey {journey_id!r}")


def check_field(path: str, parameter: str) -> str:
    """``path`` if it names an event field, else :class:`BadParameter`."""
    head, _, rest = path.partition(".")
    if path in PLAIN_COLUMNS or (head in JSON_COLUMNS and rest and "" not in rest.split(".")):
        return path
    raise BadParameter(
        parameter,
        f"{path!r} is not an event field: use event, type, user_id, anonymous_id or a "
        "path like properties.country or context.campaign.source",
    )


def field(warehouse: Warehouse, events: Any, path: str, parameter: str = "field") -> Any:
    """The string expression for a field path over ``events``."""
    check_field(path, parameter)
    if path in PLAIN_COLUMNS:
        return events[path]
    head, _, rest = path.partition(".")
    return warehouse.json_text(events[head], rest.split("."))


def number(warehouse: Warehouse, events: Any, path: str, parameter: str) -> Any:
    """A numeric field (null where absent or not a number)."""
    return field(warehouse, events, path, parameter).try_cast("float64")


def customer(events: Any) -> Any:
    """Who an event is about: its ``user_id``, else its ``anonymous_id``."""
    return events.user_id.coalesce(events.anonymous_id)


@dataclass(frozen=True, kw_only=True, slots=True)
class Scope:
    """Which events an analysis reads: one workspace, optionally a time range [since, until)."""

    workspace_id: str
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise BadParameter(name, "a time needs a UTC offset, like 2026-01-01T00:00:00Z")
            if value is not None:
                object.__setattr__(self, name, within_event_range(value))
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise BadParameter("until", "must be after since")

    def events(self, warehouse: Warehouse) -> Any:
        t = warehouse.table("events")
        t = t.filter(t.workspace_id == self.workspace_id)
        if self.since is not None:
            t = t.filter(t.timestamp >= self.since)
        if self.until is not None:
            t = t.filter(t.timestamp < self.until)
        return t
