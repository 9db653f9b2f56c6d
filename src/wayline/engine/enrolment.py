"""Putting a customer into a journey: from an event (triggers) or from the API."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from wayline.engine.catalog import CompiledJourney
from wayline.store.journeys import JourneyStore, NewInstance, Step, Wait

ENTERED = "entered"


@dataclass(frozen=True, kw_only=True, slots=True)
class Candidate:
    """A customer who qualifies for a journey's entry."""

    journey: CompiledJourney
    profile_id: str
    #: The entry's correlation key; empty when it has none.
    key: str
    #: What the trace and templates keep of what made them enter (the event).
    trigger: dict[str, Any]
    #: Why, for the trace: "Product Added (message m1)".
    reason: str


def enrol(
    journeys: JourneyStore,
    conn: Connection,
    journey: CompiledJourney,
    profile_id: str,
    key: str,
    trigger: dict[str, Any],
    now: datetime,
    steps: list[Step],
    *,
    reason: str,
) -> int | str:
    """Start an instance at the journey's first node, with its goal listening.

    Returns the instance id, or why the customer may not enter (the re-entry policy).
    """
    candidate = Candidate(
        journey=journey, profile_id=profile_id, key=key, trigger=trigger, reason=reason
    )
    return enrol_many(journeys, conn, [candidate], now, steps)[0]


def enrol_many(
    journeys: JourneyStore,
    conn: Connection,
    candidates: Sequence[Candidate],
    now: datetime,
    steps: list[Step],
) -> list[int | str]:
    """:func:`enrol` for many customers at once, in order: a few statements in all."""
    results = journeys.enrol_many(
        conn,
        [
            NewInstance(
                workspace_id=c.journey.workspace_id,
                journey_id=c.journey.journey_id,
                version=c.journey.version,
                profile_id=c.profile_id,
                entry_key=c.key,
                node=c.journey.first,
                context={"key": c.key or None, "event": c.trigger, "visits": {c.journey.first: 1}},
                policy=c.journey.re_entry,
                cooldown=c.journey.cooldown,
            )
            for c in candidates
        ],
        now,
    )
    goals: list[Wait] = []
    for c, result in zip(candidates, results, strict=True):
        if isinstance(result, str):
            continue
        journey = c.journey
        steps.append(
            Step(
                instance_id=result,
                workspace_id=journey.workspace_id,
                journey_id=journey.journey_id,
                profile_id=c.profile_id,
                node=journey.first,
                kind=ENTERED,
                reason=f"entered on {c.reason}",
                at=now,
            )
        )
        if journey.goal_event:
            path = journey.goal_match_key or ""
            value = c.key if path else c.profile_id
            if value:
                goals.append(
                    Wait(
                        instance_id=result,
                        kind="goal",
                        event=journey.goal_event,
                        workspace_id=journey.workspace_id,
                        key_path=path,
                        key_value=value,
                    )
                )
    journeys.add_waits(conn, goals)
    return results
