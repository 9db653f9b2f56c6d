"""Local time in journey files: time zones, times of day, week days and cron expressions.

Checked when a journey is loaded, so a misspelt zone or a 25th hour is reported with its
line rather than discovered by the runtime at the moment it should have sent.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import time
from typing import Annotated, Any, Final, Literal

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from wayline.journeys.base import problem

#: Time zone words that are not IANA names: resolved by the runtime per workspace or customer.
ZONE_WORDS: Final = ("workspace", "customer")


def _zone(value: Any) -> str:
    if not isinstance(value, str):
        raise problem("timezone", f"not a time zone: {value!r}")
    if value in ZONE_WORDS:
        return value
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise problem(
            "timezone",
            f"not a time zone: {value!r} (use workspace, customer or an IANA name like "
            "Europe/Paris)",
        ) from None
    return value


#: ``workspace`` (the workspace's zone), ``customer`` (the customer's ``timezone`` trait,
#: falling back to the workspace's) or an IANA name such as ``Europe/Paris``.
TimeZone = Annotated[
    str,
    BeforeValidator(_zone),
    WithJsonSchema(
        {"type": "string", "examples": ["workspace", "customer", "Europe/Paris", "UTC"]}
    ),
]

_CLOCK = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


def _clock_time(value: Any) -> time:
    if isinstance(value, time):
        return value
    match = _CLOCK.fullmatch(value) if isinstance(value, str) else None
    if not match:
        raise problem("time", f'not a time of day: {value!r} (use HH:MM, like "09:00")')
    return time(int(match.group(1)), int(match.group(2)))


def _format_clock_time(value: time) -> str:
    return value.strftime("%H:%M")


#: A local time of day, ``"09:00"`` (quoted, as YAML reads some unquoted times as numbers).
ClockTime = Annotated[
    time,
    BeforeValidator(_clock_time),
    PlainSerializer(_format_clock_time, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^([01]?\d|2[0-3]):[0-5]\d$"}),
]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

# Cron: five fields, each with its range and names; day of week 0 and 7 are both Sunday.
_CRON_FIELDS: Final = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    (
        "month",
        1,
        12,
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    ),
    ("day of week", 0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")),
)
_CRON_ITEM = re.compile(r"(\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(\d+))?")
CRON_HINT: Final = "five fields: minute hour day-of-month month day-of-week, like '0 9 * * mon-fri'"


def cron_problem(expression: str) -> str | None:
    """What is wrong with a five-field cron expression, or ``None`` when it is valid.

    Standard Vixie cron syntax: ``*``, numbers, ranges ``a-b``, steps ``*/n`` and ``a-b/n``,
    lists ``a,b``, and English three-letter names of months and days. Nothing beyond it
    (no seconds field, no ``@daily``), so that any cron library can run it.
    """
    fields = expression.lower().split()
    if len(fields) != len(_CRON_FIELDS):
        return f"has {len(fields)} fields ({CRON_HINT})"
    for text, (label, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        for item in text.split(","):
            reason = _cron_item_problem(item, low, high, names)
            if reason:
                return f"{label} {text!r}: {reason}"
    return None


def _cron_item_problem(item: str, low: int, high: int, names: tuple[str, ...]) -> str | None:
    match = _CRON_ITEM.fullmatch(item)
    if not match:
        return f"cannot read {item!r}"
    span, step = match.groups()
    if step is not None and int(step) < 1:
        return "a step must be at least 1"
    if span == "*":
        return None
    bounds = []
    for part in span.split("-"):
        if part.isdigit():
            number = int(part)
        elif part in names:
            number = names.index(part) + (1 if low == 1 else 0)
        else:
            return f"{part!r} is not a number" + (
                f" or a name ({', '.join(names)})" if names else ""
            )
        if not low <= number <= high:
            return f"{number} is outside {low}-{high}"
        bounds.append(number)
    if len(bounds) == 2 and bounds[0] > bounds[1]:
        return f"the range {span!r} runs backwards"
    return None


def _cron(value: Any) -> str:
    if not isinstance(value, str):
        raise problem("cron", f"not a cron expression: {value!r} ({CRON_HINT})")
    reason = cron_problem(value)
    if reason:
        raise problem("cron", f"not a cron expression: {value!r}: {reason}")
    return " ".join(value.split())


#: A five-field cron expression, read in the schedule's time zone.
Cron = Annotated[
    str,
    BeforeValidator(_cron),
    WithJsonSchema({"type": "string", "examples": ["0 9 * * mon-fri", "30 8 1 * *"]}),
]
