"""A stored journey spec, compiled into what the runtime looks up on every event."""

from __future__ import annotations

from typing import Any

from wayline.engine.catalog import CompiledJourney
from wayline.journeys.conditions import EventExit, SegmentCondition
from wayline.journeys.entries import ApiEntry, EventEntry, ScheduleEntry, SegmentEntry
from wayline.journeys.filters import parse_where
from wayline.journeys.spec import Journey

#: The events a segment entry listens for (what the segment consumer sends).
SEGMENT_EVENTS = {"entered": "Segment Entered", "exited": "Segment Exited"}


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
    entry_event, entry_where = None, None
    if isinstance(entry, EventEntry):
        entry_event, entry_where = entry.event, entry.where
    elif isinstance(entry, SegmentEntry):
        # A segment entry is an entry on the event that announces the change.
        entry_event = SEGMENT_EVENTS[entry.on]
        entry_where = parse_where({"properties.segment_id": entry.segment})
    return CompiledJourney(
        workspace_id=workspace_id,
        journey_id=journey_id,
        version=version,
        nodes={node.id: node for node in journey.nodes},
        first=journey.nodes[0].id,
        entry_event=entry_event,
        entry_where=entry_where,
        entry_key=entry.key if isinstance(entry, EventEntry) else None,
        entry_api=isinstance(entry, ApiEntry),
        re_entry=journey.re_entry.policy,
        cooldown=journey.re_entry.cooldown,
        goal_event=goal.event if goal else None,
        goal_match_key=goal.match_key if goal else None,
        goal_where=goal.where if goal else None,
        goal_within=goal.within if goal else None,
        goal_exits=bool(goal and goal.exit),
        schedule=entry if isinstance(entry, ScheduleEntry) else None,
        exits=tuple(_exit_event(c) for c in journey.exit_when),
        spec=journey,
    )


def _exit_event(condition: EventExit | SegmentCondition) -> EventExit:
    """An exit condition as the event that ends the journey: a segment exit is the
    ``Segment Entered`` (or, with ``not: true``, ``Segment Exited``) event of the segment."""
    if isinstance(condition, EventExit):
        return condition
    return EventExit.model_construct(
        event=SEGMENT_EVENTS["exited" if condition.not_ else "entered"],
        where=parse_where({"properties.segment_id": condition.segment}),
        match_key=None,
    )


#: Node types with a handler in the runtime today.
def _handled() -> set[str]:
    from wayline.engine import handlers as _registered  # noqa: F401
    from wayline.engine.steps import HANDLERS

    return set(HANDLERS)


#: The channels a dispatcher delivers through (see ``channels.dispatcher.standard_channels``).
DELIVERING_CHANNELS = frozenset({"log", "email", "sms", "webhook", "inapp"})


def not_yet_run(journey: Journey) -> list[str]:
    """Parts of a valid journey that the runtime does not execute yet, in words."""
    notes = []
    entry = journey.entry
    if not isinstance(entry, EventEntry | ApiEntry | ScheduleEntry | SegmentEntry):
        notes.append("this entry enrols no customers yet")
    handled = _handled()
    for node in journey.nodes:
        if node.type not in handled:
            notes.append(
                f"node {node.id!r}: {node.type} is not executed yet: customers "
                "reaching it leave with outcome failed"
            )
        elif node.type == "send" and getattr(node, "channel", "") not in DELIVERING_CHANNELS:
            notes.append(
                f"node {node.id!r}: the {getattr(node, 'channel', '')} channel does not deliver"
                " yet: its messages become dead letters"
            )
    return notes
