"""Local time in journey files: time zones, times of day, week days and cron expressions.

Checked when a journey is loaded, so a misspelt zone or a 25th hour is reported with its
line rather than discovered by the runtime at the moment it should have sent.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import datetime, time
from typing import Annotated, Any, Final, Literal

from cronsim import CronSim, CronSimError
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

# Cron is read by cronsim (Vixie cron semantics); this module only keeps expressions to the
# Vixie syntax, so that cronsim's own extensions (a seconds field, ``L``, ``W``, ``#``) stay out
# of journey files, and says which field is wrong.
_CRON_FIELDS: Final = (
    ("minute", "0-59", ()),
    ("hour", "0-23", ()),
    ("day of month", "1-31", ()),
    (
        "month",
        "1-12 or jan-dec",
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    ),
    (
        "day of week",
        "0-7 (0 and 7 are Sunday) or sun-sat",
        ("sun", "mon", "tue", "wed", "thu", "fri", "sat"),
    ),
)
#: The shorthands of Vixie cron, as the five fields they stand for (``@reboot`` has no time).
CRON_ALIASES: Final = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_CRON_WORD = re.compile(r"[a-z]+")
_CRON_CHARACTERS = re.compile(r"[0-9a-z*/,-]+")
CRON_HINT: Final = (
    "five fields: minute hour day-of-month month day-of-week, like '0 9 * * mon-fri', "
    "or one of " + ", ".join(CRON_ALIASES)
)
_NEVER = datetime(2000, 1, 1)  # any moment: cronsim parses when it is given a start


def cron_fields(expression: str) -> str:
    """The five fields of an expression (a shorthand such as ``@daily`` spelt out)."""
    text = " ".join(expression.lower().split())
    return CRON_ALIASES.get(text, text)


def _cron_reads(fields: list[str]) -> bool:
    try:
        CronSim(" ".join(fields), _NEVER)
    except CronSimError:
        return False
    return True


def cron_problem(expression: str) -> str | None:
    """What is wrong with a cron expression, or ``None`` when it is valid.

    Standard Vixie cron syntax: ``*``, numbers, ranges ``a-b``, steps ``*/n``, ``a-b/n`` and
    ``a/n``, lists ``a,b``, English three-letter names of months and days, and the shorthands
    ``@daily`` and its kin. An expression accepted here is one that cronsim reads.
    """
    fields = cron_fields(expression).split()
    if len(fields) != len(_CRON_FIELDS):
        if len(fields) == 1 and fields[0].startswith("@"):
            return f"{fields[0]!r} is not a shorthand (use one of {', '.join(CRON_ALIASES)})"
        return f"has {len(fields)} fields ({CRON_HINT})"
    for n, (text, (label, allowed, names)) in enumerate(zip(fields, _CRON_FIELDS, strict=True)):
        for item in text.split(","):
            # each item on its own, the other fields left open: cronsim names no item
            alone = ["*"] * len(fields)
            alone[n] = item
            words = _CRON_WORD.findall(item)
            if (
                not _CRON_CHARACTERS.fullmatch(item)
                or any(w not in names for w in words)
                or not _cron_reads(alone)
            ):
                return (
                    f"{label} {text!r}: cannot read {item!r} (use * or {allowed}, a range a-b, "
                    "a step */n or a-b/n, or a list a,b)"
                )
    if not _cron_reads(fields):
        return f"day of month {fields[2]!r} never comes in month {fields[3]!r}"
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
