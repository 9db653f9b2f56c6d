from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from wayline.engine.timing import next_window, zone_for

BERLIN = ZoneInfo("Europe/Berlin")
WORKDAYS = ["mon", "tue", "wed", "thu", "fri"]


def test_inside_the_window_goes_on_now() -> None:
    now = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)  # Wed 11:00 in Berlin
    assert next_window(now, WORKDAYS, time(9), time(18), BERLIN) == now


def test_after_hours_waits_for_the_next_morning_local_time() -> None:
    now = datetime(2026, 3, 4, 19, 0, tzinfo=UTC)  # Wed 20:00 in Berlin
    assert next_window(now, WORKDAYS, time(9), time(18), BERLIN) == datetime(
        2026, 3, 5, 8, 0, tzinfo=UTC
    )


def test_friday_evening_waits_for_monday() -> None:
    now = datetime(2026, 3, 6, 18, 30, tzinfo=UTC)  # Fri 19:30 in Berlin
    assert next_window(now, WORKDAYS, time(9), time(18), BERLIN) == datetime(
        2026, 3, 9, 8, 0, tzinfo=UTC
    )


def test_a_window_past_midnight_belongs_to_the_day_it_starts() -> None:
    # Fri 22:00 to Sat 02:00; Saturday 01:00 is inside Friday's window
    now = datetime(2026, 3, 7, 0, 0, tzinfo=UTC)  # Sat 01:00 in Berlin
    assert next_window(now, ["fri"], time(22), time(2), BERLIN) == now


def test_daylight_saving_moves_the_utc_time_not_the_local_one() -> None:
    before = datetime(2026, 3, 27, 20, 0, tzinfo=UTC)  # Fri, winter time (UTC+1)
    after = datetime(2026, 3, 30, 20, 0, tzinfo=UTC)  # Mon, summer time (UTC+2)
    assert next_window(before, ["sat"], time(9), None, BERLIN).hour == 8
    assert next_window(after, ["tue"], time(9), None, BERLIN).hour == 7


def test_zone_of_the_customer_then_the_workspace() -> None:
    assert zone_for("customer", {"timezone": "Asia/Tokyo"}, "UTC").key == "Asia/Tokyo"
    assert zone_for("customer", {"timezone": "Mars/Olympus"}, "Europe/Oslo").key == "Europe/Oslo"
    assert zone_for("workspace", {"timezone": "Asia/Tokyo"}, "Europe/Oslo").key == "Europe/Oslo"
    assert zone_for("America/Chicago", {}, "UTC").key == "America/Chicago"
