"""Cron occurrences in local wall time."""

from __future__ import annotations

from datetime import datetime

import pytest

from wayline.engine.cron import CronSchedule
from wayline.journeys.timing import cron_problem


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("0 9 * * mon", datetime(2026, 6, 1, 9, 0), datetime(2026, 6, 8, 9, 0)),  # a Monday
        ("0 9 * * mon", datetime(2026, 6, 1, 8, 59), datetime(2026, 6, 1, 9, 0)),
        ("*/15 * * * *", datetime(2026, 6, 1, 9, 7), datetime(2026, 6, 1, 9, 15)),
        ("30 8 1 * *", datetime(2026, 6, 2), datetime(2026, 7, 1, 8, 30)),
        ("0 0 29 feb *", datetime(2026, 3, 1), datetime(2028, 2, 29)),
        ("0 12 13 * fri", datetime(2026, 6, 1), datetime(2026, 6, 5, 12)),  # day OR weekday
        ("0 9 * jan-mar/2 sun", datetime(2026, 1, 1), datetime(2026, 1, 4, 9)),
        ("0 22 * * 7", datetime(2026, 6, 1), datetime(2026, 6, 7, 22)),  # 7 is Sunday
        # both days restricted: either matches (June 3 is a Wednesday)
        ("0 9 3,30 * mon", datetime(2026, 6, 1, 10), datetime(2026, 6, 3, 9)),
        ("0 9 3,30 * mon", datetime(2026, 6, 3, 10), datetime(2026, 6, 8, 9)),
        # a field that starts with * counts as unrestricted (Vixie cron), so */2 in day of
        # month with a week day means both: an odd day that is a Monday
        ("0 9 */2 * mon", datetime(2026, 6, 1, 10), datetime(2026, 6, 15, 9)),
        ("0 9 13 * */2", datetime(2026, 6, 14), datetime(2026, 8, 13, 9)),  # a Thursday
        ("0 9 */2 * *", datetime(2026, 6, 1, 10), datetime(2026, 6, 3, 9)),
        ("@daily", datetime(2026, 6, 1, 9), datetime(2026, 6, 2)),
        ("@midnight", datetime(2026, 6, 1, 9), datetime(2026, 6, 2)),
        ("@hourly", datetime(2026, 6, 1, 9, 30), datetime(2026, 6, 1, 10)),
        ("@weekly", datetime(2026, 6, 1), datetime(2026, 6, 7)),
        ("@monthly", datetime(2026, 6, 1), datetime(2026, 7, 1)),
        ("@yearly", datetime(2026, 6, 1), datetime(2027, 1, 1)),
        ("@ANNUALLY", datetime(2026, 6, 1), datetime(2027, 1, 1)),
        ("0 9 * * MON-FRI", datetime(2026, 6, 5, 9, 0, 0, 1), datetime(2026, 6, 8, 9)),
    ],
)
def test_next_after(expression: str, after: datetime, expected: datetime) -> None:
    assert CronSchedule.parse(expression).next_after(after) == expected


def test_latest_at_or_before() -> None:
    cron = CronSchedule.parse("0 9 * * mon-fri")
    assert cron.latest_at_or_before(datetime(2026, 6, 1, 9, 0)) == datetime(2026, 6, 1, 9, 0)
    assert cron.latest_at_or_before(datetime(2026, 6, 7, 12)) == datetime(2026, 6, 5, 9, 0)


def test_latest_at_or_before_counts_the_moment_itself_to_the_second() -> None:
    cron = CronSchedule.parse("*/15 * * * *")
    assert cron.latest_at_or_before(datetime(2026, 6, 1, 9, 15)) == datetime(2026, 6, 1, 9, 15)
    assert cron.latest_at_or_before(datetime(2026, 6, 1, 9, 15, 0, 999)) == datetime(
        2026, 6, 1, 9, 15
    )
    assert cron.latest_at_or_before(datetime(2026, 6, 1, 9, 14, 59, 999999)) == datetime(
        2026, 6, 1, 9, 0
    )


def test_latest_at_or_before_with_star_step_day_of_month() -> None:
    # 2026-06-15 is the first Monday on an odd day after 2026-06-01
    cron = CronSchedule.parse("0 9 */2 * mon")
    assert cron.latest_at_or_before(datetime(2026, 6, 14)) == datetime(2026, 6, 1, 9)


def test_a_sparse_schedule_is_found_decades_away() -> None:
    # 29 February on a Sunday: 2004, 2032, 2060
    cron = CronSchedule.parse("0 0 29 feb */7")
    assert cron.next_after(datetime(2026, 1, 1)) == datetime(2032, 2, 29)
    assert cron.next_after(datetime(2033, 1, 1)) == datetime(2060, 2, 29)
    assert cron.latest_at_or_before(datetime(2031, 12, 31)) == datetime(2004, 2, 29)


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("0 9 * *", "has 4 fields"),
        ("0 0 9 * * *", "has 6 fields"),  # no seconds field
        ("@reboot", "'@reboot' is not a shorthand"),
        ("0 25 * * *", "hour '25': cannot read '25'"),
        ("0 9 L * *", "day of month 'l': cannot read 'l'"),  # cronsim's extensions stay out
        ("0 9 * * mon#2", "day of week 'mon#2': cannot read 'mon#2'"),
        ("0 9 * * 5l", "day of week '5l': cannot read '5l'"),
        ("0 9 1,,2 * *", "day of month '1,,2': cannot read ''"),
        ("0 9 5-1 * *", "day of month '5-1': cannot read '5-1'"),
        ("*/0 9 * * *", "minute '*/0': cannot read '*/0'"),
        ("0 9 * jan-foo *", "month 'jan-foo': cannot read 'jan-foo'"),
        ("0 9 * mon *", "month 'mon': cannot read 'mon'"),
        ("0 9 31 feb,apr *", "day of month '31' never comes in month 'feb,apr'"),
    ],
)
def test_refused(expression: str, reason: str) -> None:
    found = cron_problem(expression)
    assert found is not None
    assert found.startswith(reason)
    with pytest.raises(ValueError, match="not a cron expression"):
        CronSchedule.parse(expression)


@pytest.mark.parametrize(
    "expression",
    ["0 9 * * mon-fri/2", "5/10 * * * *", "0 0 31 jan,feb *", "0 0 31 feb mon", "@daily"],
)
def test_accepted(expression: str) -> None:
    assert cron_problem(expression) is None
    assert CronSchedule.parse(expression).next_after(datetime(2026, 1, 1)) is not None
