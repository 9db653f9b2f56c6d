"""Journey state follows a profile that merges into another."""

from __future__ import annotations

import sqlalchemy as sa

from wayline.engine.compile import spec_of
from wayline.events import parse_message
from wayline.journeys import load_journey_text
from wayline.store import Store, schema
from wayline.store.journeys import JourneyStore
from wayline.store.sql import SqlStore
from wayline.testing import ManualClock, TimeMachine

JOURNEY = """
id: browse-to-buy
entry: {event: Product Viewed}
nodes:
  - id: wait_order
    type: wait_for_event
    event: Order Completed
    timeout: 2d
    on_event: thanks
    on_timeout: done
  - id: thanks
    type: exit
  - id: done
    type: exit
"""


def test_an_anonymous_visitors_wait_is_resumed_by_the_user_they_turn_out_to_be(
    store: Store, clock: ManualClock
) -> None:
    assert isinstance(store, SqlStore)
    ws = store.create_workspace("shop").workspace.id
    journey = load_journey_text(JOURNEY, "browse.yaml")
    JourneyStore(store).apply(ws, journey.id, journey.id, spec_of(journey))
    machine = TimeMachine.for_journeys(store, clock)

    def send(n: int, **message: object) -> None:
        store.append_events(
            ws, [parse_message({**message, "messageId": f"m{n}"}, received_at=clock.now())]
        )
        machine.settle()

    send(1, type="identify", userId="ann", traits={"plan": "pro"})  # ann is known
    send(2, type="track", anonymousId="visitor", event="Product Viewed")
    send(3, type="identify", userId="ann", anonymousId="visitor")  # the visitor was ann
    send(4, type="track", userId="ann", event="Order Completed")
    machine.advance(hours=1)

    ann = store.find_profile(ws, "ann")
    assert ann is not None
    t = schema.journey_instances
    with store.engine.connect() as conn:
        (row,) = conn.execute(sa.select(t)).all()
    assert (row.profile_id, row.state, row.node) == (ann.profile.id, "done", "thanks")
    kinds = [s.kind for s in JourneyStore(store).steps(ws, journey.id, ann.profile.id)]
    assert kinds == ["entered", "waiting", "resumed", "passed", "completed"]


def test_erasing_a_customer_removes_their_journey_state(store: Store, clock: ManualClock) -> None:
    assert isinstance(store, SqlStore)
    ws = store.create_workspace("shop").workspace.id
    journey = load_journey_text(JOURNEY, "browse.yaml")
    JourneyStore(store).apply(ws, journey.id, journey.id, spec_of(journey))
    machine = TimeMachine.for_journeys(store, clock)
    for user in ("gone", "kept"):
        store.append_events(
            ws,
            [
                parse_message(
                    {"type": "track", "userId": user, "event": "Product Viewed", "messageId": user},
                    received_at=clock.now(),
                )
            ],
        )
    machine.settle()
    view = store.find_profile(ws, "gone")
    assert view is not None
    store.erase_profile(ws, view.profile.id)
    with store.engine.connect() as conn:
        for table in ("journey_instances", "journey_waits", "journey_steps", "journey_enrolments"):
            holders = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
            assert holders == (1 if table != "journey_steps" else 2), table
        left = conn.execute(
            sa.text("SELECT count(*) FROM journey_instances WHERE profile_id = :p"),
            {"p": view.profile.id},
        ).scalar_one()
    assert left == 0
