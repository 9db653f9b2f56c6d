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
        goals.extend(listeners(journey, result, c.key, c.profile_id))
    journeys.add_waits(conn, goals)
    return results


#: The wait kind of the ``exit_when`` condition at this index: ``exit0``, ``exit1``, …
EXIT_PREFIX = "exit"


def exit_index(kind: str) -> int | None:
    """The index in ``exit_when`` of an exit wait's condition, or None for another kind."""
    if kind.startswith(EXIT_PREFIX) and kind[len(EXIT_PREFIX) :].isdigit():
        return int(kind[len(EXIT_PREFIX) :])
    return None


def listeners(journey: CompiledJourney, instance_id: int, key: str, profile_id: str) -> list[Wait]:
    """What an instance listens for from entry to exit: its goal and its exit conditions.

    An instance is found by an event through the wait index (workspace, event, key path,
    key value): the key path is the condition's ``match_key`` and the value the instance's
    key, or, without ``match_key``, the path is empty and the value the customer's id.
    """
    found: list[Wait] = []

    def listen(kind: str, event: str, match_key: str | None) -> None:
        path = match_key or ""
        value = key if path else profile_id
        if value:  # an instance without a key cannot match by key: it listens for nothing
            found.append(
                Wait(
                    instance_id=instance_id,
                    kind=kind,
                    event=event,
                    workspace_id=journey.workspace_id,
                    key_path=path,
                    key_value=value,
                )
            )

    if journey.goal_event:
        listen("goal", journey.goal_event, journey.goal_match_key)
    for index, condition in enumerate(journey.exits):
        listen(f"{EXIT_PREFIX}{index}", condition.event, condition.match_key)
    return found
