"""The rows of the journey runtime: journeys, instances, waits, steps, and their states."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import orjson


class JourneyStatus(StrEnum):
    #: Customers enter and move on.
    ACTIVE = "active"
    #: Nobody enters; customers inside wait where they are.
    PAUSED = "paused"
    #: Nobody enters; customers inside are let out.
    ARCHIVED = "archived"


class InstanceState(StrEnum):
    #: A worker should advance it now.
    READY = "ready"
    #: Waiting for a time, an event, or a message to be delivered.
    WAITING = "waiting"
    #: Out of the journey (see the outcome).
    DONE = "done"


@dataclass(frozen=True, kw_only=True, slots=True)
class JourneyRecord:
    workspace_id: str
    journey_id: str
    name: str
    status: JourneyStatus
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> JourneyRecord:
        return cls(
            workspace_id=row.workspace_id,
            journey_id=row.journey_id,
            name=row.name,
            status=JourneyStatus(row.status),
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@dataclass(kw_only=True, slots=True)
class Instance:
    id: int
    workspace_id: str
    journey_id: str
    version: int
    profile_id: str
    entry_key: str
    node: str
    state: InstanceState
    outcome: str | None
    wake_at: datetime | None
    context: dict[str, Any]
    entered_at: datetime
    updated_at: datetime

    def step(self, kind: str, reason: str, at: datetime, node: str | None = None) -> Step:
        """A trace entry for this instance (at its current node unless told otherwise)."""
        return Step(
            instance_id=self.id,
            workspace_id=self.workspace_id,
            journey_id=self.journey_id,
            profile_id=self.profile_id,
            node=node or self.node,
            kind=kind,
            reason=reason,
            at=at,
        )

    @classmethod
    def from_row(cls, row: Any) -> Instance:
        return cls(
            id=row.id,
            workspace_id=row.workspace_id,
            journey_id=row.journey_id,
            version=row.version,
            profile_id=row.profile_id,
            entry_key=row.entry_key,
            node=row.node,
            state=InstanceState(row.state),
            outcome=row.outcome,
            wake_at=row.wake_at,
            context=orjson.loads(row.context),
            entered_at=row.entered_at,
            updated_at=row.updated_at,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Wait:
    """An instance listening for an event: its own (``wait``), its goal, or an exit rule."""

    instance_id: int
    kind: str
    event: str
    workspace_id: str
    key_path: str
    key_value: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Step:
    instance_id: int
    workspace_id: str
    journey_id: str
    profile_id: str
    node: str
    kind: str
    reason: str
    at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class NewInstance:
    """A customer about to enter a journey, with the journey's re-entry rule."""

    workspace_id: str
    journey_id: str
    version: int
    profile_id: str
    #: The correlation key of the entry; empty when the entry has none.
    entry_key: str
    #: The node to start at.
    node: str
    context: dict[str, Any]
    #: once | always | after
    policy: str
    cooldown: timedelta | None
