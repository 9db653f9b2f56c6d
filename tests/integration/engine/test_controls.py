"""Global controls on the manual clock, on both stores: frequency caps across journeys,
transactional sends, quiet hours in the customer's zone, priority, send_rate, the trace."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from wayline.engine.compile import spec_of
from wayline.events import parse_message
from wayline.journeys import load_journey_text
from wayline.journeys.controls import load_controls_text
from wayline.runtime import Role
from wayline.server import Process
from wayline.settings import Settings
from wayline.store import Store, schema
from wayline.store.controls import ControlsStore
from wayline.store.journeys import JourneyStore
from wayline.store.sql import SqlStore
from wayline.testing import ManualClock, TimeMachine


def sender(
    journey_id: str,
    event: str,
    *,
    channel: str = "email",
    transactional: bool = False,
    extra: str = "",
) -> str:
    """A journey that sends one message when ``event`` arrives, then ends."""
    return f"""
id: {journey_id}
entry: {{event: {event}}}
re_entry: {{policy: always}}
{extra}
nodes:
  - id: message
    type: send
    channel: {channel}
    template: {journey_id}
    transactional: {"true" if transactional else "false"}
    next: done
  - id: done
    type: exit
"""


@dataclass
class World:
    store: SqlStore
    clock: ManualClock
    machine: TimeMachine
    workspace: str
    token: str
    ids: Iterator[int] = field(default_factory=itertools.count)

    def journeys(self, *texts: str) -> None:
        for text in texts:
            journey = load_journey_text(text, "j.yaml")
            JourneyStore(self.store).apply(self.workspace, journey.id, journey.id, spec_of(journey))

    def controls(self, text: str) -> None:
        ControlsStore(self.store).put(self.workspace, load_controls_text(text).to_data())

    def identify(self, user: str, **traits: Any) -> None:
        self._send({"type": "identify", "userId": user, "traits": traits})

    def track(self, user: str, event: str) -> None:
        self._send({"type": "track", "userId": user, "event": event})

    def _send(self, message: dict[str, Any]) -> None:
        message["messageId"] = f"m{next(self.ids)}"
        self.store.append_events(
            self.workspace, [parse_message(message, received_at=self.clock.now())]
        )
        self.machine.settle()

    def outbox(self) -> list[Any]:
        t = schema.outbox
        with self.store.engine.connect() as conn:
            return list(conn.execute(sa.select(t).order_by(t.c.id)))

    def sent(self, user: str) -> list[str]:
        """The journeys that queued a message to ``user``, in order."""
        profile = self.profile(user)
        return [r.journey_id for r in self.outbox() if r.profile_id == profile]

    def profile(self, user: str) -> str:
        view = self.store.find_profile(self.workspace, user)
        assert view is not None
        return view.profile.id

    def trace(self, journey_id: str, user: str) -> list[tuple[str, str, str]]:
        steps = JourneyStore(self.store).steps(self.workspace, journey_id, self.profile(user))
        return [(s.node, s.kind, s.reason) for s in steps]


@pytest.fixture
def world(store: Store, clock: ManualClock) -> World:
    assert isinstance(store, SqlStore)
    clock.set(datetime(2026, 3, 10, 12, 0, tzinfo=UTC))  # a Tuesday, midday in Europe
    created = store.create_workspace("shop")
    return World(
        store=store,
        clock=clock,
        machine=TimeMachine.for_journeys(store, clock),
        workspace=created.workspace.id,
        token=created.admin_token,
    )


def test_a_cap_counts_every_journey_and_frees_after_its_window(world: World) -> None:
    world.controls("frequency_caps: [{channel: email, limit: 2, per: 7d}]")
    world.journeys(
        sender("news", "Newsletter Due"),
        sender("promo", "Sale Started"),
        sender("texts", "Sale Started", channel="sms"),
    )
    world.track("ann", "Newsletter Due")
    world.track("bob", "Newsletter Due")
    world.machine.advance(days=1)
    world.track("ann", "Newsletter Due")
    world.track("ann", "Sale Started")  # a third email in 7 days, from another journey
    assert world.sent("ann") == ["news", "news", "texts"]
    assert world.trace("promo", "ann")[1:] == [
        ("message", "dropped", "send dropped by frequency cap email 2 per 7d"),
        ("done", "completed", "reached the end"),
    ]
    world.track("bob", "Sale Started")  # caps are per customer
    assert world.sent("bob") == ["news", "promo", "texts"]
    world.machine.advance(days=6)  # the first newsletter leaves the window
    world.track("ann", "Sale Started")
    assert world.sent("ann") == ["news", "news", "texts", "promo", "texts"]


def test_transactional_sends_are_exempt_and_not_counted(world: World) -> None:
    world.clock.set(datetime(2026, 3, 10, 23, 0, tzinfo=UTC))
    world.controls(
        """
frequency_caps:
  - {channel: "*", limit: 1, per: 1d}
quiet_hours:
  - {channels: ["*"], from: "21:00", to: "08:00", timezone: workspace}
"""
    )
    world.journeys(
        sender("receipt", "Order Completed", transactional=True), sender("news", "Newsletter Due")
    )
    world.track("ann", "Order Completed")
    world.track("ann", "Order Completed")
    world.track("ann", "Newsletter Due")
    assert world.sent("ann") == ["receipt", "receipt"]  # at 23:00, despite quiet hours
    assert world.trace("news", "ann")[-1] == (
        "message",
        "postponed",
        "send postponed by quiet hours until 2026-03-11T08:00 UTC",
    )
    world.machine.advance(hours=10)
    assert world.sent("ann") == ["receipt", "receipt", "news"]  # receipts did not count
    world.track("ann", "Newsletter Due")
    assert world.trace("news", "ann")[-2][1:] == (
        "dropped",
        "send dropped by frequency cap all channels 1 per 1d",
    )


def test_quiet_hours_postpone_to_each_customers_morning(world: World) -> None:
    world.clock.set(datetime(2026, 3, 10, 3, 0, tzinfo=UTC))  # 23:00 in New York, 04:00 Berlin
    world.controls(
        'quiet_hours: [{channels: [email, sms], from: "21:00", to: "08:00", timezone: customer}]'
    )
    world.journeys(
        sender("news", "Newsletter Due"), sender("hook", "Newsletter Due", channel="webhook")
    )
    world.identify("ann", timezone="America/New_York")
    world.identify("bea", timezone="Europe/Berlin")
    world.track("ann", "Newsletter Due")
    world.track("bea", "Newsletter Due")
    assert world.sent("ann") == ["hook"]  # webhooks are not held by email and sms rules
    assert (
        "message",
        "postponed",
        "send postponed by quiet hours until 2026-03-10T08:00 America/New_York",
    ) in world.trace("news", "ann")
    assert (
        "message",
        "postponed",
        "send postponed by quiet hours until 2026-03-10T08:00 Europe/Berlin",
    ) in world.trace("news", "bea")
    world.machine.advance(days=1)
    queued = {
        (r.profile_id, r.journey_id): r.created_at for r in world.outbox() if r.journey_id == "news"
    }
    assert queued == {
        (world.profile("ann"), "news"): datetime(2026, 3, 10, 12, 0, tzinfo=UTC),
        (world.profile("bea"), "news"): datetime(2026, 3, 10, 7, 0, tzinfo=UTC),
    }
    assert [k for _, k, _ in world.trace("news", "ann")] == [
        "entered",
        "postponed",
        "queued",
        "completed",
    ]


def test_quiet_hours_can_drop_instead(world: World) -> None:
    world.clock.set(datetime(2026, 3, 10, 21, 30, tzinfo=UTC))  # 22:30 in Berlin
    world.controls(
        """
quiet_hours:
  - {channels: [sms], from: "22:00", to: "09:00", timezone: Europe/Berlin, action: drop}
"""
    )
    world.journeys(sender("texts", "Sale Started", channel="sms"))
    world.track("ann", "Sale Started")
    assert world.sent("ann") == []
    assert world.trace("texts", "ann")[1:] == [
        ("message", "dropped", "send dropped by quiet hours 22:00-09:00 Europe/Berlin"),
        ("done", "completed", "reached the end"),
    ]
    world.machine.advance(hours=12)
    world.track("ann", "Sale Started")
    assert world.sent("ann") == ["texts"]


HOOK = """
id: hook
entry: {event: Sale Started}
re_entry: {policy: always}
nodes:
  - id: call
    type: webhook
    url: "https://crm.example.com/hooks/{{ profile.id }}"
    next: done
  - id: done
    type: exit
"""


def test_webhooks_are_capped_only_by_a_webhook_cap(world: World) -> None:
    world.controls("frequency_caps: [{channel: '*', limit: 1, per: 1d}]")
    world.journeys(HOOK)
    for _ in range(3):
        world.track("ann", "Sale Started")
    assert world.sent("ann") == ["hook", "hook", "hook"]
    world.controls(
        """
frequency_caps:
  - {channel: "*", limit: 1, per: 1d}
  - {channel: webhook, limit: 3, per: 1d}
"""
    )
    world.track("ann", "Sale Started")
    assert world.sent("ann") == ["hook", "hook", "hook"]
    assert world.trace("hook", "ann")[-2][1:] == (
        "dropped",
        "webhook dropped by frequency cap webhook 3 per 1d",
    )


@pytest.mark.parametrize("favourite", ["alpha", "omega"])
def test_priority_takes_the_last_slot_of_a_cap(world: World, favourite: str) -> None:
    world.controls("frequency_caps: [{channel: email, limit: 2, per: 7d}]")
    world.journeys(
        sender("news", "Newsletter Due"),
        *(
            sender(name, "Sale Started", extra=f"priority: {10 if name == favourite else 1}")
            for name in ("alpha", "omega")
        ),
    )
    world.track("ann", "Newsletter Due")
    world.track("ann", "Sale Started")  # both journeys are due at once; one slot is left
    other = "omega" if favourite == "alpha" else "alpha"
    assert world.sent("ann") == ["news", favourite]
    assert world.trace(other, "ann")[1][1:] == (
        "dropped",
        "send dropped by frequency cap email 2 per 7d",
    )


def test_send_rate_postpones_until_the_window_frees(world: World) -> None:
    world.journeys(sender("blast", "Sale Started", channel="log", extra='send_rate: "2/m"'))
    users = ("ann", "bob", "cyd", "dan", "eve")
    for user in users:
        world.track(user, "Sale Started")
    assert len(world.outbox()) == 2
    assert world.trace("blast", "cyd")[1] == (
        "message",
        "postponed",
        "send postponed by send_rate 2/m until 2026-03-10T12:01:00+00:00",
    )
    assert world.trace("blast", "eve")[1][2].endswith("until 2026-03-10T12:02:00+00:00")
    world.machine.advance(minutes=5)
    user_of = {world.profile(u): u for u in users}
    queued = [(user_of[r.profile_id], r.created_at.minute) for r in world.outbox()]
    assert queued == [("ann", 0), ("bob", 0), ("cyd", 1), ("dan", 1), ("eve", 2)]
    for user in users:  # spread over the windows: nobody was postponed twice
        kinds = [k for _, k, _ in world.trace("blast", user)]
        assert kinds.count("postponed") == (0 if user in ("ann", "bob") else 1)


def test_the_api_trace_tells_why(world: World, settings: Settings) -> None:
    world.clock.set(datetime(2026, 3, 10, 3, 0, tzinfo=UTC))
    world.controls('quiet_hours: [{channels: ["*"], from: "21:00", to: "08:00"}]')
    world.journeys(sender("news", "Newsletter Due"))
    world.identify("ann", timezone="Europe/Berlin")
    world.track("ann", "Newsletter Due")
    process = Process(settings, {Role.API}, store=world.store, clock=world.clock)
    with TestClient(process.app()) as client:
        r = client.get(
            "/api/v1/journeys/news/instances/ann",
            headers={"Authorization": f"Bearer {world.token}"},
        )
    assert r.status_code == 200, r.text
    assert [(s["kind"], s["reason"]) for s in r.json()["steps"]][-1] == (
        "postponed",
        "send postponed by quiet hours until 2026-03-10T08:00 Europe/Berlin",
    )
