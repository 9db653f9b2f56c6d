"""Entries, re-entry, goals, exit conditions and the journey-level controls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.unit.journeys.example import load, one_problem
from wayline.journeys.conditions import EventExit, SegmentCondition
from wayline.journeys.entries import ApiEntry, EventEntry, ReEntry, ScheduleEntry, SegmentEntry

NODES = "nodes:\n  - {id: fin, type: exit}\n"


def journey_with(head: str) -> str:
    return "id: j\n" + head + NODES


def test_event_entry() -> None:
    journey = load(
        journey_with(
            "entry: {event: Product Added, where: {properties.price: {gte: 10}}, "
            "key: properties.cart_id}\n"
        )
    )
    assert isinstance(journey.entry, EventEntry)
    assert (journey.entry.event, journey.entry.key) == ("Product Added", "properties.cart_id")
    assert journey.entry.where is not None


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("{segment: vip}", SegmentEntry(segment="vip", on="entered")),
        ("{segment: vip, on: exited}", SegmentEntry(segment="vip", on="exited")),
        ("{api: true}", ApiEntry(api=True)),
        (
            "{cron: '0 9 * * mon-fri', timezone: customer, audience: all}",
            ScheduleEntry(cron="0 9 * * mon-fri", timezone="customer", audience="all"),
        ),
        (
            "{at: '2026-06-01T09:00:00', audience: newsletter}",
            ScheduleEntry(at=datetime(2026, 6, 1, 9), audience="newsletter"),
        ),
        (
            "{at: '2026-06-01T09:00:00+00:00', timezone: Europe/Paris, audience: all}",
            ScheduleEntry(
                at=datetime(2026, 6, 1, 9, tzinfo=UTC), timezone="Europe/Paris", audience="all"
            ),
        ),
    ],
)
def test_other_entries(entry: str, expected: object) -> None:
    assert load(journey_with(f"entry: {entry}\n")).entry == expected


def test_a_schedule_is_read_in_the_workspace_zone_by_default() -> None:
    entry = load(journey_with("entry: {cron: '0 9 * * *', audience: all}\n")).entry
    assert isinstance(entry, ScheduleEntry)
    assert entry.timezone == "workspace"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "{}",
            "j.yaml:2:1: entry: not an entry: it needs one of the keys event, segment, at or "
            "cron (a schedule), api",
        ),
        (
            "{evnt: Signed Up}",
            "j.yaml:2:1: entry: not an entry: it needs one of the keys event, "
            "segment, at or cron (a schedule), api",
        ),
        ("{event: Signed Up, segment: vip}", "j.yaml:2:27: entry: unknown field 'segment' here"),
        (
            "{segment: vip, on: left}",
            "j.yaml:2:23: entry.on: must be 'entered' or 'exited', not 'left'",
        ),
        ("{api: false}", "j.yaml:2:9: entry.api: must be true, not false"),
        (
            "{cron: '0 9 * *', audience: all}",
            "j.yaml:2:9: entry.cron: not a cron expression: "
            "'0 9 * *': has 4 fields (five fields: minute hour day-of-month month "
            "day-of-week, like '0 9 * * mon-fri', or one of @yearly, @annually, @monthly, "
            "@weekly, @daily, @midnight, @hourly)",
        ),
        (
            "{cron: '0 25 * * *', audience: all}",
            "j.yaml:2:9: entry.cron: not a cron expression: "
            "'0 25 * * *': hour '25': cannot read '25' (use * or 0-23, a range a-b, "
            "a step */n or a-b/n, or a list a,b)",
        ),
        ("{cron: '0 9 * * *'}", "j.yaml:2:1: entry: missing field 'audience'"),
        (
            "{at: '2026-06-01T09:00:00', cron: '0 9 * * *', audience: all}",
            "j.yaml:2:1: entry: a schedule needs either at (once) or cron (repeatedly), not both",
        ),
        (
            "{at: tomorrow, audience: all}",
            "j.yaml:2:9: entry.at: not a date and time: 'tomorrow'"
            " (use ISO 8601, like 2026-06-01T09:00:00)",
        ),
        (
            "{at: '2026-06-01T09:00:00Z', timezone: customer, audience: all}",
            "j.yaml:2:9: "
            "entry.at: at has a UTC offset, so it is one moment for everyone; drop the offset to "
            "enter each customer at that local time",
        ),
        (
            "{cron: '0 9 * * *', timezone: Paris, audience: all}",
            "j.yaml:2:28: entry.timezone: not "
            "a time zone: 'Paris' (use workspace, customer or an IANA name like Europe/Paris)",
        ),
        (
            "{event: ''}",
            "j.yaml:2:9: entry.event: not a name: '' (it must not be empty or start "
            "or end with a space)",
        ),
        (
            "{event: Paid, key: properties.}",
            "j.yaml:2:22: entry.key: not a field path: "
            "'properties.' (names separated by dots, like properties.cart_id)",
        ),
    ],
)
def test_entry_problems(entry: str, message: str) -> None:
    assert one_problem(journey_with(f"entry: {entry}\n")) == message


def test_re_entry_goal_exit_when_and_controls() -> None:
    journey = load(
        journey_with(
            "entry: {event: Product Added, key: properties.cart_id}\n"
            "re_entry: {policy: always}\n"
            "goal: {event: Order Completed, match_key: properties.cart_id}\n"
            "exit_when:\n"
            "  - {event: Unsubscribed}\n"
            "  - {segment: customers, not: true}\n"
            "  - {event: Cart Emptied, where: {properties.items: 0},\n"
            "     match_key: properties.cart_id}\n"
            "priority: 5\n"
            "send_rate: 100/m\n"
            "description: Brings carts back.\n"
        )
    )
    assert journey.re_entry == ReEntry(policy="always")
    assert journey.goal is not None
    assert (journey.goal.within, journey.goal.exit) == (None, False)
    assert journey.exit_when[0] == EventExit(event="Unsubscribed")
    assert journey.exit_when[1] == SegmentCondition.model_validate(
        {"segment": "customers", "not": True}
    )
    assert isinstance(journey.exit_when[2], EventExit)
    assert (journey.priority, journey.send_rate) == (5, "100/m")


def test_defaults() -> None:
    journey = load(journey_with("entry: {api: true}\n"))
    assert journey.re_entry == ReEntry(policy="once", cooldown=None)
    assert (journey.goal, journey.exit_when, journey.priority, journey.send_rate) == (
        None,
        [],
        0,
        None,
    )


def test_a_single_exit_condition_needs_no_list() -> None:
    journey = load(journey_with("entry: {api: true}\nexit_when: {event: Unsubscribed}\n"))
    assert journey.exit_when == [EventExit(event="Unsubscribed")]


def test_cooldown() -> None:
    journey = load(journey_with("entry: {api: true}\nre_entry: {policy: after, cooldown: P7D}\n"))
    assert journey.re_entry.cooldown == timedelta(days=7)


@pytest.mark.parametrize(
    ("head", "message"),
    [
        (
            "re_entry: {policy: after}",
            "j.yaml:3:12: re_entry.policy: policy after needs a cooldown, like cooldown: 7d",
        ),
        (
            "re_entry: {policy: once, cooldown: 1d}",
            "j.yaml:3:26: re_entry.cooldown: a cooldown only applies to policy after, not once",
        ),
        ("goal: {event: Paid, exit: 1}", "j.yaml:3:21: goal.exit: must be true or false, not 1"),
        ("goal: {within: 7d}", "j.yaml:3:1: goal: missing field 'event'"),
        (
            "exit_when: [{segment: vip}, {trait: x}]",
            "j.yaml:3:29: exit_when[1]: not an exit condition: it needs the key event or segment",
        ),
        ("priority: high", "j.yaml:3:1: priority: must be a whole number, not 'high'"),
        (
            "send_rate: 100 per minute",
            "j.yaml:3:1: send_rate: not a rate: '100 per minute' (a "
            "count per second, minute, hour or day, like 100/m)",
        ),
        ("name: [a]", "j.yaml:3:1: name: must be text, not a list (put it in quotes)"),
    ],
)
def test_journey_level_problems(head: str, message: str) -> None:
    assert one_problem(journey_with(f"entry: {{api: true}}\n{head}\n")) == message
