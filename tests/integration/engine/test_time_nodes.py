"""wait_until and delay-until on the manual clock, on both stores."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from wayline.engine.compile import spec_of
from wayline.events import parse_message
from wayline.journeys import load_journey_text
from wayline.store import Store, schema
from wayline.store.journeys import JourneyStore
from wayline.store.sql import SqlStore
from wayline.testing import ManualClock, TimeMachine

JOURNEY = """
id: timed
entry: {event: Trial Started}
nodes:
  - id: office_hours
    type: wait_until
    days: [mon, tue, wed, thu, fri]
    from: "09:00"
    to: "18:00"
    next: before_expiry
  - id: before_expiry
    type: delay
    until: traits.trial_ends
    offset: -1d
    next: done
  - id: done
    type: exit
"""


def _run(store: Store, clock: ManualClock, trial_ends: str) -> list[tuple[str, str, datetime]]:
    assert isinstance(store, SqlStore)
    ws = store.create_workspace("saas").workspace.id
    journey = load_journey_text(JOURNEY, "timed.yaml")
    JourneyStore(store).apply(ws, journey.id, journey.id, spec_of(journey))
    machine = TimeMachine.for_journeys(store, clock)
    store.append_events(
        ws,
        [
            parse_message(
                {
                    "type": "identify",
                    "userId": "ann",
                    "messageId": "i",
                    "traits": {"timezone": "Europe/Berlin", "trial_ends": trial_ends},
                },
                received_at=clock.now(),
            ),
            parse_message(
                {"type": "track", "userId": "ann", "event": "Trial Started", "messageId": "t"},
                received_at=clock.now(),
            ),
        ],
    )
    machine.advance(days=20)
    profile = store.find_profile(ws, "ann")
    assert profile is not None
    return [
        (s.node, s.kind, s.at) for s in JourneyStore(store).steps(ws, "timed", profile.profile.id)
    ]


def test_office_hours_then_the_day_before_the_trial_ends(store: Store, clock: ManualClock) -> None:
    clock.set(datetime(2026, 3, 6, 19, 0, tzinfo=UTC))  # Friday 20:00 in Berlin
    steps = _run(store, clock, "2026-03-15T12:00:00Z")
    assert [(n, k) for n, k, _ in steps] == [
        ("office_hours", "entered"),
        ("office_hours", "waiting"),
        ("office_hours", "passed"),
        ("before_expiry", "waiting"),
        ("before_expiry", "passed"),
        ("done", "completed"),
    ]
    assert steps[2][2] == datetime(2026, 3, 9, 8, 0, tzinfo=UTC)  # Monday 09:00 Berlin
    assert steps[4][2] == datetime(2026, 3, 14, 12, 0, tzinfo=UTC)  # a day before the end


def test_a_moment_already_past_does_not_wait(store: Store, clock: ManualClock) -> None:
    clock.set(datetime(2026, 3, 4, 10, 0, tzinfo=UTC))  # Wednesday, office hours
    steps = _run(store, clock, "2026-03-01T00:00:00Z")
    assert [(n, k) for n, k, _ in steps] == [
        ("office_hours", "entered"),
        ("office_hours", "passed"),
        ("before_expiry", "passed"),
        ("done", "completed"),
    ]


def test_a_missing_trait_fails_the_customer_with_the_reason(
    store: Store, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 3, 4, 10, 0, tzinfo=UTC))
    steps = _run(store, clock, "not a date")
    assert steps[-1][:2] == ("before_expiry", "failed")
    assert isinstance(store, SqlStore)
    with store.engine.connect() as conn:
        reason = conn.scalar(
            sa.select(schema.journey_steps.c.reason).where(schema.journey_steps.c.kind == "failed")
        )
    assert "traits.trial_ends is not a date" in str(reason)
