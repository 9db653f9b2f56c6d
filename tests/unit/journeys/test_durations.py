from __future__ import annotations

from datetime import timedelta

import pytest

from tests.unit.journeys.example import HEAD, one_problem
from wayline.journeys.durations import format_duration, parse_duration, parse_rate

GOOD = [
    ("30s", timedelta(seconds=30)),
    ("15m", timedelta(minutes=15)),
    ("1h", timedelta(hours=1)),
    ("7d", timedelta(days=7)),
    ("2w", timedelta(weeks=2)),
    ("90m", timedelta(minutes=90)),
    (" 1h ", timedelta(hours=1)),
    ("PT1H", timedelta(hours=1)),
    ("PT30M", timedelta(minutes=30)),
    ("PT45S", timedelta(seconds=45)),
    ("P1D", timedelta(days=1)),
    ("P1DT2H", timedelta(days=1, hours=2)),
    ("P2W", timedelta(weeks=2)),
    ("P1DT2H3M4S", timedelta(days=1, hours=2, minutes=3, seconds=4)),
    ("0s", timedelta(0)),
]

BAD = [
    ("1 hour", "not a duration: '1 hour' (use 30s, 15m, 1h, 7d or ISO 8601 like PT1H)"),
    ("1H", "not a duration: '1H'"),
    ("1.5h", "not a duration: '1.5h'"),
    ("1h30m", "not a duration: '1h30m'"),
    ("h", "not a duration: 'h'"),
    ("", "not a duration: ''"),
    ("P", "not a duration: 'P'"),
    ("PT", "not a duration: 'PT'"),
    ("P1DT", "not a duration: 'P1DT'"),
    ("pt1h", "not a duration: 'pt1h'"),
    ("P1M", "years and months have no fixed length"),
    ("P1Y", "years and months have no fixed length"),
    ("PT1.5S", "whole seconds only"),
    ("-1d", "a duration has no sign"),
    (3600, "not a duration: 3600"),
    (True, "not a duration: True"),
    (None, "not a duration: None"),
]


@pytest.mark.parametrize(("text", "expected"), GOOD)
def test_reads_short_and_iso_8601_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(("value", "message"), BAD)
def test_refuses_what_is_not_a_fixed_duration(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=r"^not a duration") as caught:
        parse_duration(value)
    assert message in str(caught.value)


def test_offsets_may_be_signed() -> None:
    assert parse_duration("-1d", signed=True) == timedelta(days=-1)
    assert parse_duration("+2h", signed=True) == timedelta(hours=2)
    assert parse_duration("-PT30M", signed=True) == timedelta(minutes=-30)


def test_a_timedelta_is_taken_as_it_is() -> None:
    assert parse_duration(timedelta(hours=3)) == timedelta(hours=3)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(days=7), "7d"),
        (timedelta(weeks=2), "14d"),
        (timedelta(hours=36), "36h"),
        (timedelta(minutes=90), "90m"),
        (timedelta(seconds=61), "61s"),
        (timedelta(0), "0s"),
        (timedelta(days=-1), "-1d"),
        (timedelta(milliseconds=1500), "PT1.5S"),
    ],
)
def test_formats_in_the_largest_unit_that_divides(value: timedelta, text: str) -> None:
    assert format_duration(value) == text
    if not value.microseconds:
        assert parse_duration(text, signed=True) == value


def test_a_bad_duration_in_a_file_names_its_line_node_and_field() -> None:
    text = HEAD + (
        "  - {id: wait, type: delay, duration: 7d, next: end}\n"
        "  - id: end\n"
        "    type: wait_for_event\n"
        "    event: Paid\n"
        "    timeout: 1 hour\n"
        "    on_event: fin\n"
        "    on_timeout: fin\n"
        "  - {id: fin, type: exit}\n"
    )
    assert one_problem(text) == (
        "j.yaml:8:5: node 'end': timeout: not a duration: '1 hour' "
        "(use 30s, 15m, 1h, 7d or ISO 8601 like PT1H)"
    )


def test_a_zero_wait_is_refused() -> None:
    text = (
        HEAD + "  - {id: wait, type: delay, duration: 0s, next: fin}\n  - {id: fin, type: exit}\n"
    )
    assert one_problem(text) == (
        "j.yaml:4:29: node 'wait': duration: must be longer than zero, not '0s'"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100/m", (100, timedelta(minutes=1))),
        ("10/s", (10, timedelta(seconds=1))),
        ("5000/h", (5000, timedelta(hours=1))),
        ("1/d", (1, timedelta(days=1))),
    ],
)
def test_reads_rates(text: str, expected: tuple[int, timedelta]) -> None:
    assert parse_rate(text) == expected


@pytest.mark.parametrize("text", ["0/m", "100 per minute", "100/min", "/m", "1.5/s"])
def test_refuses_bad_rates(text: str) -> None:
    with pytest.raises(ValueError, match="not a rate"):
        parse_rate(text)
