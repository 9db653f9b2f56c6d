"""A workspace with journeys on the manual clock, for the engine's behaviour tests."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa

from wayline.engine.compile import spec_of
from wayline.events import parse_message
from wayline.journeys import load_journey_text
from wayline.store import Store, schema
from wayline.store.journeys import JourneyStore
from wayline.store.sql import SqlStore
from wayline.testing import ManualClock, TimeMachine


@dataclass
class World:
    store: SqlStore
    clock: ManualClock
    machine: TimeMachine
    workspace: str
    ids: Iterator[int] = field(default_factory=itertools.count)

    @classmethod
    def build(
        cls, store: Store, clock: ManualClock, *journeys: str, timezone: str = "UTC"
    ) -> World:
        assert isinstance(store, SqlStore)
        workspace = store.create_workspace("shop", timezone=timezone).workspace.id
        world = cls(
            store=store,
            clock=clock,
            machine=TimeMachine.for_journeys(store, clock),
            workspace=workspace,
        )
        for text in journeys:
            world.apply(text)
        return world

    def apply(self, text: str) -> None:
        journey = load_journey_text(text, "journey.yaml")
        JourneyStore(self.store).apply(self.workspace, journey.id, journey.id, spec_of(journey))

    def send(self, message: dict[str, Any], *, settle: bool = True) -> None:
        message = {"messageId": f"m{next(self.ids)}", **message}
        self.store.append_events(
            self.workspace, [parse_message(message, received_at=self.clock.now())]
        )
        if settle:
            self.machine.settle()

    def track(self, user: str, event: str, **properties: Any) -> None:
        self.send({"type": "track", "userId": user, "event": event, "properties": properties})

    def identify(self, user: str, **traits: Any) -> None:
        self.send({"type": "identify", "userId": user, "traits": traits})

    def instances(self, journey_id: str | None = None) -> list[Any]:
        t = schema.journey_instances
        query = sa.select(t).order_by(t.c.id)
        if journey_id is not None:
            query = query.where(t.c.journey_id == journey_id)
        with self.store.engine.connect() as conn:
            return list(conn.execute(query))

    def context(self, row: Any) -> dict[str, Any]:
        found: dict[str, Any] = orjson.loads(row.context)
        return found

    def outbox(self) -> list[Any]:
        t = schema.outbox
        with self.store.engine.connect() as conn:
            return list(conn.execute(sa.select(t).order_by(t.c.id)))

    def waits(self) -> list[Any]:
        t = schema.journey_waits
        with self.store.engine.connect() as conn:
            return list(conn.execute(sa.select(t).order_by(t.c.instance_id, t.c.kind)))

    def profile_id(self, user: str) -> str:
        view = self.store.find_profile(self.workspace, user)
        assert view is not None
        return view.profile.id

    def traits(self, user: str) -> dict[str, Any]:
        view = self.store.find_profile(self.workspace, user)
        assert view is not None
        return view.profile.traits

    def trace(self, journey_id: str, user: str) -> list[tuple[str, str, str]]:
        steps = JourneyStore(self.store).steps(self.workspace, journey_id, self.profile_id(user))
        return [(s.node, s.kind, s.reason) for s in steps]
