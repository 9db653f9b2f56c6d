"""Durations (``30s``, ``7d``, ``PT1H``) and rates (``100/m``) in journey files.

Two spellings, because marketers write ``7d`` and machines write ISO 8601. Both are read
into :class:`datetime.timedelta`. Only fixed lengths are accepted: a month or a year has
no fixed length, so ``P1M`` is refused rather than guessed. Whole seconds only: nothing in
a journey is timed more finely, and a fraction would not survive a round trip as ``7d``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Final

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from wayline.journeys.base import problem

_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SHORT = re.compile(r"([+-]?)(\d+)([smhdw])")
_ISO = re.compile(
    r"([+-]?)P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
    r"(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:[.,]\d+)?)S)?)?"
)
_RATE = re.compile(r"(\d+)/([smhd])")
HINT: Final = "use 30s, 15m, 1h, 7d or ISO 8601 like PT1H"
_BODY: Final = r"(\d+[smhdw]|P(?!$)(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?)$"
DURATION_PATTERN: Final = "^" + _BODY
OFFSET_PATTERN: Final = "^[+-]?" + _BODY


def parse_duration(value: object, *, signed: bool = False) -> timedelta:
    """Read ``30s``, ``15m``, ``1h``, ``7d``, ``2w`` or ISO 8601 (``PT1H``, ``P1DT2H``).

    ``signed`` allows a leading ``-`` or ``+`` (an offset such as ``-1d``). Raises
    :class:`ValueError` with a message that says what to write instead.
    """
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str) or isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r} ({HINT})")
    text = value.strip()
    sign, seconds = _seconds(text, value)
    if sign and not signed:
        raise ValueError(f"not a duration: {value!r} (a duration has no sign; {HINT})")
    try:
        result = timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"not a duration: {value!r} (too long)") from None
    return -result if sign == "-" else result


def _seconds(text: str, value: str) -> tuple[str, int]:
    short = _SHORT.fullmatch(text)
    if short:
        sign, number, unit = short.groups()
        return sign, int(number) * _UNITS[unit]
    iso = _ISO.fullmatch(text)
    if not iso or not any(iso.groups()[1:]):
        raise ValueError(f"not a duration: {value!r} ({HINT})")
    sign, years, months, weeks, days, hours, minutes, secs = iso.groups()
    if years or months:
        raise ValueError(
            f"not a duration: {value!r} (years and months have no fixed length; use days "
            "or weeks, like P30D)"
        )
    if secs and not secs.isdigit():
        raise ValueError(f"not a duration: {value!r} (whole seconds only)")
    parts = (weeks, days, hours, minutes, secs)
    factors = (_UNITS["w"], _UNITS["d"], _UNITS["h"], _UNITS["m"], 1)
    return sign, sum(int(p) * f for p, f in zip(parts, factors, strict=True) if p)


def format_duration(value: timedelta) -> str:
    """The short spelling of a duration, in the largest unit that divides it: ``7d``, ``90m``.

    Days rather than weeks, so ``7d`` written in a file is dumped back as ``7d``.
    """
    sign = "-" if value < timedelta(0) else ""
    seconds = abs(value)
    if seconds.microseconds:
        return f"{sign}PT{seconds.total_seconds()}S"
    whole = int(seconds.total_seconds())
    for unit in ("d", "h", "m"):
        if whole and whole % _UNITS[unit] == 0:
            return f"{sign}{whole // _UNITS[unit]}{unit}"
    return f"{sign}{whole}s"


def _positive(value: Any) -> timedelta:
    try:
        result = parse_duration(value)
    except ValueError as exc:
        raise problem("duration", str(exc)) from None
    if result <= timedelta(0):
        raise problem("duration", f"must be longer than zero, not {value!r}")
    return result


def _signed(value: Any) -> timedelta:
    try:
        return parse_duration(value, signed=True)
    except ValueError as exc:
        raise problem("duration", str(exc)) from None


_DURATION_SCHEMA: Final = {
    "type": "string",
    "pattern": DURATION_PATTERN,
    "examples": ["30s", "15m", "1h", "7d", "2w", "PT1H", "P1DT2H"],
}
_OFFSET_SCHEMA: Final = {
    "type": "string",
    "pattern": OFFSET_PATTERN,
    "examples": ["-1d", "+2h", "-PT30M"],
}

#: A length of time longer than zero, written ``7d`` or ``P7D``.
Duration = Annotated[
    timedelta,
    BeforeValidator(_positive),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema(_DURATION_SCHEMA),
]
#: A length of time that may be negative or zero, written ``-1d`` or ``+2h``.
Offset = Annotated[
    timedelta,
    BeforeValidator(_signed),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema(_OFFSET_SCHEMA),
]


def parse_rate(value: str) -> tuple[int, timedelta]:
    """``100/m`` as (100, one minute): at most that many in each such period."""
    match = _RATE.fullmatch(value.strip())
    if not match or int(match.group(1)) < 1:
        raise ValueError(
            f"not a rate: {value!r} (a count per second, minute, hour or day, like 100/m)"
        )
    return int(match.group(1)), timedelta(seconds=_UNITS[match.group(2)])


def _rate(value: Any) -> str:
    if not isinstance(value, str):
        raise problem("rate", f"not a rate: {value!r} (like 100/m, in quotes)")
    try:
        parse_rate(value)
    except ValueError as exc:
        raise problem("rate", str(exc)) from None
    return value.strip()


#: How many per second, minute, hour or day: ``10/s``, ``100/m``, ``5000/h``, ``1000/d``.
Rate = Annotated[
    str,
    BeforeValidator(_rate),
    WithJsonSchema({"type": "string", "pattern": r"^\d+/[smhd]$", "examples": ["100/m"]}),
]
