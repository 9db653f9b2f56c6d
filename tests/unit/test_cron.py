"""Cron occurrences in local wall time."""

from __future__ import annotations

from datetime import datetime

import pytest

from wayline.engine.cron import CronSchedule


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
    ],
)
def test_next_after(expression: str, after: datetime, expected: datetime) -> None:
    assert CronSchedule.parse(expression).next_after(after) == expected


def test_latest_at_or_before() -> None:
    cron = CronSchedule.parse("0 9 * * mon-fri")
    assert cron.latest_at_or_before(datetime(2026, 6, 1, 9, 0)) == datetime(2026, 6, 1, 9, 0)
    assert cron.latest_at_or_before(datetime(2026, 6, 7, 12)) == datetime(2026, 6, 5, 9, 0)
