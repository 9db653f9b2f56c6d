"""Local time windows ("09:00 to 18:00, Mon to Fri, in the customer's time zone")."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def zone_for(name: str, traits: dict[str, Any], workspace_zone: str) -> ZoneInfo:
    """``customer`` (their ``timezone`` trait, else the workspace's), ``workspace``, or a
    zone name."""
    candidates = [workspace_zone, "UTC"]
    if name == "customer":
        candidates.insert(0, str(traits.get("timezone") or ""))
    elif name != "workspace":
        candidates.insert(0, name)
    for candidate in candidates:
        try:
            return ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return ZoneInfo("UTC")


def next_window(
    now: datetime, days: Sequence[str], start: time | None, end: time | None, zone: ZoneInfo
) -> datetime:
    """``now`` when it lies inside an allowed window, else the start of the next one (UTC).

    A window whose end is not after its start runs past midnight; it belongs to the day it
    starts on.
    """
    local = now.astimezone(zone)
    allowed = {WEEKDAYS.index(d) for d in days}
    for offset in range(-1, 8):  # yesterday's window may run past midnight into today
        day = local.date() + timedelta(days=offset)
        if day.weekday() not in allowed:
            continue
        opens = datetime.combine(day, start or time(0), tzinfo=zone)
        closes_day = day + timedelta(days=1) if end is None or (start and end <= start) else day
        closes = datetime.combine(closes_day, end or time(0), tzinfo=zone)
        if opens <= local < closes:
            return now
        if local < opens:
            return opens.astimezone(UTC)
    raise ValueError("no allowed window in the coming week")
