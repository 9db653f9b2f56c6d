"""A stored journey spec, compiled into what the runtime looks up on every event."""

from __future__ import annotations

from typing import Any

from wayline.engine.catalog import CompiledJourney
from wayline.journeys.entries import EventEntry
from wayline.journeys.spec import Journey


def spec_of(journey: Journey) -> dict[str, Any]:
    """The form a journey version is stored in (JSON, durations as ISO 8601)."""
    spec: dict[str, Any] = journey.model_dump(mode="json", by_alias=True, exclude_none=True)
    return spec


def compile_journey(
    workspace_id: str, journey_id: str, version: int, spec: dict[str, Any]
) -> CompiledJourney:
    journey = Journey.model_validate(spec)
    entry = journey.entry
    goal = journey.goal
    return CompiledJourney(
        workspace_id=workspace_id,
        journey_id=journey_id,
        version=version,
        nodes={node.id: node for node in journey.nodes},
        first=journey.nodes[0].id,
        entry_event=entry.event if isinstance(entry, EventEntry) else None,
        entry_where=entry.where if isinstance(entry, EventEntry) else None,
        entry_key=entry.key if isinstance(entry, EventEntry) else None,
        re_entry=journey.re_entry.policy,
        cooldown=journey.re_entry.cooldown,
        goal_event=goal.event if goal else None,
        goal_match_key=goal.match_key if goal else None,
        goal_within=goal.within if goal else None,
        goal_exits=bool(goal and goal.exit),
        spec=journey,
    )
