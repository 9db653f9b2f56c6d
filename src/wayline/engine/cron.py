"""Five-field cron expressions (as validated by ``journeys.timing``), in local wall time.

Days are scanned, not minutes, so a sparse schedule (``0 9 1 1 *``) costs as little as a
dense one. Day of month and day of week follow Vixie cron: when both are restricted, a day
matching either counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

#: How far a search looks for the next or previous occurrence (Feb 29 fits in it).
HORIZON_DAYS = 366 * 5
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _number(part: str, names: tuple[str, ...], offset: int) -> int:
    return int(part) if part.isdigit() else names.index(part) + offset


def _field(text: str, low: int, high: int, names: tuple[str, ...] = ()) -> frozenset[int]:
    offset = 1 if low == 1 else 0
    found: set[int] = set()
    for item in text.split(","):
        span, _, step = item.partition("/")
        if span == "*":
            start, end = low, high
        elif "-" in span:
            a, b = span.split("-")
            start, end = _number(a, names, offset), _number(b, names, offset)
        else:
            start = _number(span, names, offset)
            end = high if step else start
        found.update(range(start, end + 1, int(step) if step else 1))
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class CronSchedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, expression: str) -> CronSchedule:
        minute, hour, dom, month, dow = expression.lower().split()
        weekdays = {d % 7 for d in _field(dow, 0, 7, _DAYS)}
        return cls(
            minutes=_field(minute, 0, 59),
            hours=_field(hour, 0, 23),
            days=_field(dom, 1, 31),
            months=_field(month, 1, 12, _MONTHS),
            weekdays=frozenset(weekdays),
            any_day=dom == "*",
            any_weekday=dow == "*",
        )

    def _day_matches(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        by_day = day.day in self.days
        by_weekday = (day.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return by_day and by_weekday
        return by_day or by_weekday

    def _times(self) -> list[time]:
        return [time(h, m) for h in sorted(self.hours) for m in sorted(self.minutes)]

    def next_after(self, after: datetime) -> datetime | None:
        """The first occurrence strictly after ``after`` (naive local wall time)."""
        times = self._times()
        for n in range(HORIZON_DAYS):
            day = after.date() + timedelta(days=n)
            if self._day_matches(day):
                for t in times:
                    at = datetime.combine(day, t)
                    if at > after:
                        return at
        return None

    def latest_at_or_before(self, at: datetime) -> datetime | None:
        """The last occurrence at or before ``at`` (naive local wall time)."""
        times = self._times()[::-1]
        for n in range(HORIZON_DAYS):
            day = at.date() - timedelta(days=n)
            if self._day_matches(day):
                for t in times:
                    moment = datetime.combine(day, t)
                    if moment <= at:
                        return moment
        return None
