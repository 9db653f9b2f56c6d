"""A journey that starts when a customer enters a stage: its entry is the Stage Entered
event the tracker puts on the customer's timeline."""

from __future__ import annotations

import orjson
import sqlalchemy as sa

from tests.integration.stages.world import MODEL, World
from wayline.engine.compile import spec_of
from wayline.journeys import load_journey_text
from wayline.stages.lifecycle import apply_stage_model
from wayline.store import schema
from wayline.store.journeys import JourneyStore

THANKS = """
id: first-purchase-thanks
entry:
  event: Stage Entered
  where: {properties.stage: purchase}
nodes:
  - id: thank
    type: send
    channel: log
    template: thanks
    next: done
  - id: done
    type: exit
"""


def test_a_journey_enters_on_stage_entered_purchase(world: World) -> None:
    apply_stage_model(world.store, world.clock, world.workspace, MODEL)
    journey = load_journey_text(THANKS, "journey.yaml")
    JourneyStore(world.store).apply(world.workspace, journey.id, journey.id, spec_of(journey))
    world.track("ann", "Product Viewed")
    world.track("bob", "Product Viewed")
    world.clock.advance(hours=1)
    world.track("ann", "Order Completed", total=30)
    world.machine.settle()
    t = schema.journey_instances
    with world.store.engine.connect() as conn:
        rows = conn.execute(sa.select(t.c.profile_id, t.c.context)).all()
    assert [world.user_of(r.profile_id) for r in rows] == ["ann"]
    entry = orjson.loads(rows[0].context)["event"]
    assert entry["event"] == "Stage Entered"
    assert entry["timestamp"] == world.clock.now().isoformat()  # the order's moment
    assert entry["properties"] == {
        "stage": "purchase",
        "previous_stage": "consideration",
        "previous_stage_duration": 3600.0,
    }
