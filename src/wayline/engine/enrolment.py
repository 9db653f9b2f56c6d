"""Putting a customer into a journey: from an event (triggers) or from the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from wayline.engine.catalog import CompiledJourney
from wayline.store.journeys import JourneyStore, Step, Wait

ENTERED = "entered"


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
    result = journeys.enrol(
        conn,
        workspace_id=journey.workspace_id,
        journey_id=journey.journey_id,
        version=journey.version,
        profile_id=profile_id,
        entry_key=key,
        node=journey.first,
        context={"key": key or None, "event": trigger, "visits": {journey.first: 1}},
        now=now,
        policy=journey.re_entry,
        cooldown=journey.cooldown,
    )
    if isinstance(result, str):
        return result
    steps.append(
        Step(
            instance_id=result,
            workspace_id=journey.workspace_id,
            journey_id=journey.journey_id,
            profile_id=profile_id,
            node=journey.first,
            kind=ENTERED,
            reason=f"entered on {reason}",
            at=now,
        )
    )
    if journey.goal_event:
        path = journey.goal_match_key or ""
        value = key if path else profile_id
        if value:
            journeys.add_waits(
                conn,
                [
                    Wait(
                        instance_id=result,
                        kind="goal",
                        event=journey.goal_event,
                        workspace_id=journey.workspace_id,
                        key_path=path,
                        key_value=value,
                    )
                ],
            )
    return result
