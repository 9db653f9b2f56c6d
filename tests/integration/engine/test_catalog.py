"""A running process sees journeys applied or paused elsewhere (the command line) from the
next event on, not from its catalog's next periodic refresh."""

from __future__ import annotations

import itertools

import pytest
import sqlalchemy as sa

from wayline.engine.compile import spec_of
from wayline.engine.loops import journey_runtime
from wayline.events import parse_message
from wayline.journeys import load_journey_text
from wayline.profiles import process_inbox
from wayline.runtime import Runtime
from wayline.store import Store, schema
from wayline.store.journeys import JourneyStatus, JourneyStore
from wayline.store.sql import SqlStore
from wayline.testing import ManualClock

JOURNEY = """
id: welcome
entry: {event: Signed Up}
nodes:
  - id: wait
    type: delay
    duration: 1d
    next: done
  - id: done
    type: exit
"""


class Process:
    """A server's profile and trigger loops, whose catalog is never refreshed by time."""

    def __init__(self, store: SqlStore, clock: ManualClock, workspace: str) -> None:
        self.store, self.clock, self.workspace = store, clock, workspace
        engine = journey_runtime(store, clock, refresh=3600)
        self.runtime = Runtime()
        self.runtime.add("profiles", lambda: process_inbox(store, 1000), 0.01)
        self.runtime.add("triggers", engine.triggers.step, 0.01)
        self.ids = itertools.count()

    def sign_up(self, user: str) -> None:
        message = {"type": "track", "userId": user, "event": "Signed Up"}
        row = parse_message(
            {**message, "messageId": f"m{next(self.ids)}"}, received_at=self.clock.now()
        )
        self.store.append_events(self.workspace, [row])
        self.runtime.drain()

    def enrolled(self) -> set[str]:
        i, p = schema.journey_instances, schema.identities
        with self.store.engine.connect() as conn:
            return set(
                conn.scalars(
                    sa.select(p.c.value)
                    .join(i, i.c.profile_id == p.c.profile_id)
                    .where(p.c.kind == "user_id")
                )
            )


@pytest.fixture
def process(store: Store, clock: ManualClock) -> Process:
    assert isinstance(store, SqlStore)
    workspace = store.create_workspace("shop").workspace.id
    return Process(store, clock, workspace)


def test_a_journey_applied_elsewhere_enrols_from_the_next_event(process: Process) -> None:
    process.sign_up("ann")  # the catalog is read: no journey yet
    journey = load_journey_text(JOURNEY, "welcome.yaml")
    # what `wayline journeys apply` does, from another process
    JourneyStore(process.store).apply(process.workspace, journey.id, journey.id, spec_of(journey))
    process.sign_up("bob")
    assert process.enrolled() == {"bob"}


def test_a_journey_paused_elsewhere_enrols_no_one_from_the_next_event(process: Process) -> None:
    journey = load_journey_text(JOURNEY, "welcome.yaml")
    journeys = JourneyStore(process.store)
    journeys.apply(process.workspace, journey.id, journey.id, spec_of(journey))
    process.sign_up("ann")
    journeys.set_status(process.workspace, journey.id, JourneyStatus.PAUSED)
    process.sign_up("bob")
    journeys.set_status(process.workspace, journey.id, JourneyStatus.ACTIVE)
    process.sign_up("cid")
    assert process.enrolled() == {"ann", "cid"}
