"""Properties over generated cron expressions: every occurrence agrees with a brute-force scan
of the minutes around a moment, read from the parts the expression was written from (not
from its text), and the validator accepts exactly what the schedule can run."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from wayline.engine.cron import CronSchedule
from wayline.journeys.timing import cron_problem

EXAMPLES = settings(max_examples=200, deadline=None)
#: How far the reference scan looks (a yearly schedule falls in it; 29 February may not).
WINDOW_DAYS = 800
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


@dataclass(frozen=True)
class Field:
    low: int
    high: int
    names: tuple[str, ...] = ()
    first_name: int = 0  # the number of names[0]

    def word(self, number: int, draw: st.DrawFn) -> str:
        index = number - self.first_name
        if self.names and 0 <= index < len(self.names) and draw(st.booleans()):
            return draw(st.sampled_from([self.names[index], self.names[index].upper()]))
        return str(number)


MINUTE, HOUR, DAY = Field(0, 59), Field(0, 23), Field(1, 31)
MONTH, WEEKDAY = Field(1, 12, _MONTHS, 1), Field(0, 7, _DAYS, 0)


@st.composite
def items(draw: st.DrawFn, field: Field) -> tuple[str, set[int]]:
    """One item of a list, as written and as the numbers it stands for."""
    number = st.integers(field.low, field.high)
    step = draw(st.none() | st.integers(1, field.high - field.low + 2))
    kind = draw(st.sampled_from(["star", "single", "range"]))
    if kind == "star":
        text, start, end = "*", field.low, field.high
    elif kind == "single":
        start = draw(number)
        text, end = field.word(start, draw), field.high if step else start
    else:
        start = draw(number)
        end = draw(st.integers(start, field.high))
        text = f"{field.word(start, draw)}-{field.word(end, draw)}"
    if step is None:
        return text, set(range(start, end + 1))
    return f"{text}/{step}", set(range(start, end + 1, step))


@st.composite
def fields(draw: st.DrawFn, field: Field) -> tuple[str, frozenset[int]]:
    chosen = draw(st.lists(items(field), min_size=1, max_size=3))
    values: set[int] = set().union(*(v for _, v in chosen))
    return ",".join(t for t, _ in chosen), frozenset(values)


@dataclass(frozen=True)
class Reference:
    """A schedule read from its parts, scanned minute by minute."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    both_days: bool  # Vixie cron: either day field starting with * makes the two an AND

    def day_matches(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        by_day = day.day in self.days
        weekday = day.isoweekday() % 7  # 0 = Sunday, and 7 is Sunday too
        by_weekday = weekday in self.weekdays or (weekday == 0 and 7 in self.weekdays)
        return (by_day and by_weekday) if self.both_days else (by_day or by_weekday)

    def minutes_of(self, day: date, step: int) -> Iterator[datetime]:
        """Every matching minute of ``day``, forwards (``step`` 1) or backwards (-1)."""
        if not self.day_matches(day):
            return
        start = datetime.combine(day, datetime.min.time())
        for n in range(0, 24 * 60)[::step]:
            moment = start + timedelta(minutes=n)
            if moment.hour in self.hours and moment.minute in self.minutes:
                yield moment

    def next_after(self, after: datetime) -> datetime | None:
        for n in range(WINDOW_DAYS):
            for moment in self.minutes_of(after.date() + timedelta(days=n), 1):
                if moment > after:
                    return moment
        return None

    def latest_at_or_before(self, at: datetime) -> datetime | None:
        for n in range(WINDOW_DAYS):
            for moment in self.minutes_of(at.date() - timedelta(days=n), -1):
                if moment <= at:
                    return moment
        return None


@st.composite
def schedules(draw: st.DrawFn) -> Reference:
    minute, hour, day = draw(fields(MINUTE)), draw(fields(HOUR)), draw(fields(DAY))
    month, weekday = draw(fields(MONTH)), draw(fields(WEEKDAY))
    if min(day[1]) > 29 and (day[0].startswith("*") or weekday[0].startswith("*")):
        # refused, rightly, when no chosen month is long enough: see the next test
        month = ("*", frozenset(range(1, 13)))
    text = " ".join(f[0] for f in (minute, hour, day, month, weekday))
    return Reference(
        text,
        minute[1],
        hour[1],
        day[1],
        month[1],
        weekday[1],
        both_days=day[0].startswith("*") or weekday[0].startswith("*"),
    )


MOMENTS = st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2049, 12, 31))


@EXAMPLES
@given(schedule=schedules(), after=MOMENTS)
def test_next_after_is_the_first_matching_minute(schedule: Reference, after: datetime) -> None:
    assert cron_problem(schedule.text) is None
    found = CronSchedule.parse(schedule.text).next_after(after)
    expected = schedule.next_after(after)
    if expected is None:  # none in the window: any answer is past it
        assert found is None or found >= after + timedelta(days=WINDOW_DAYS - 1)
    else:
        assert found == expected


@EXAMPLES
@given(schedule=schedules(), at=MOMENTS)
def test_latest_at_or_before_is_the_last_matching_minute(schedule: Reference, at: datetime) -> None:
    found = CronSchedule.parse(schedule.text).latest_at_or_before(at)
    expected = schedule.latest_at_or_before(at)
    if expected is None:
        assert found is None or found <= at - timedelta(days=WINDOW_DAYS - 1)
    else:
        assert found == expected


@EXAMPLES
@given(schedule=schedules(), moment=MOMENTS)
def test_occurrences_are_consistent(schedule: Reference, moment: datetime) -> None:
    cron = CronSchedule.parse(schedule.text)
    following = cron.next_after(moment)
    if following is not None:
        assert following > moment
        assert following.second == following.microsecond == 0
        assert cron.latest_at_or_before(following) == following
    latest = cron.latest_at_or_before(moment)
    if latest is not None:
        assert latest <= moment
        assert cron.next_after(latest) == following  # nothing in between is skipped


# text of the kind people write, and of the kind they mistype
_FIELD_TEXT = st.text("0123456789*/,-lw#?@abcdefghijmnorstuyADFMJ ", min_size=1, max_size=7)


@EXAMPLES
@given(
    text=st.lists(_FIELD_TEXT, min_size=1, max_size=6).map(" ".join)
    | st.sampled_from(["@daily", "@weekly", "@reboot", "@DAILY", "@ hourly"])
)
def test_what_is_accepted_runs_and_what_is_refused_is_named(text: str) -> None:
    reason = cron_problem(text)
    if reason is None:
        cron = CronSchedule.parse(text)
        cron.next_after(datetime(2026, 6, 1))
        cron.latest_at_or_before(datetime(2026, 6, 1))
    else:
        assert reason.startswith(
            ("minute ", "hour ", "day of month ", "month ", "day of week ", "has ", "'@")
        )
