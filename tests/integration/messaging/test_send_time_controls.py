"""Quiet hours and frequency caps checked again when the dispatcher takes a message that
waited in the outbox, on both stores, with a real SMTP server: postponed or dropped with
the reason in the message's history and the journey trace."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from tests.integration.engine.test_controls import World, sender
from tests.integration.engine.test_controls import world as world  # the fixture
from tests.integration.messaging.mailbox import Mailbox
from wayline.channels.config import ChannelConfigs
from wayline.channels.dispatcher import Dispatcher
from wayline.channels.email import EmailChannel
from wayline.channels.templates import load_template_text
from wayline.channels.tracking import Tracker
from wayline.settings import Settings
from wayline.store import schema
from wayline.store.templates import TemplateStore

TEMPLATE = """\
name: {name}
subject: "News"
html: "<p>Read <a href='https://example.com/news'>this</a></p>"
"""


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.start()
    yield box
    box.stop()


@pytest.fixture
def dispatcher(world: World, mailbox: Mailbox) -> Iterator[Dispatcher]:
    for name in ("news", "promo"):
        spec = load_template_text(TEMPLATE.format(name=name), f"{name}.yaml")
        TemplateStore(world.store).apply(world.workspace, spec.name, spec.channel, spec.as_spec())
    ChannelConfigs(world.store).set(
        world.workspace,
        "email",
        {"host": "127.0.0.1", "port": mailbox.port, "security": "none", "from_email": "n@x.io"},
    )
    settings = Settings(public_url="https://wl.example.com")
    tracker = Tracker(world.store, settings.public_url, timedelta(days=30))
    channels = {"email": EmailChannel(world.store, tracker, allowed_hosts="127.0.0.1")}
    d = Dispatcher(world.store, settings, world.clock, channels)
    yield d
    d.close()


def _deliver(dispatcher: Dispatcher) -> None:
    while dispatcher.step():
        pass


def _outbox(world: World) -> list[Any]:
    t = schema.outbox
    with world.store.engine.connect() as conn:
        return list(conn.execute(sa.select(t).order_by(t.c.id)))


def _history(world: World, message_id: int) -> list[tuple[str, dict[str, Any]]]:
    t = schema.message_events
    with world.store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.c.kind, t.c.detail).where(t.c.message_id == message_id).order_by(t.c.id)
        )
        return [(kind, orjson.loads(detail) if detail else {}) for kind, detail in rows]


def test_a_message_that_waited_into_quiet_hours_is_postponed_to_their_end(
    world: World, dispatcher: Dispatcher, mailbox: Mailbox
) -> None:
    world.clock.set(datetime(2026, 3, 10, 20, 30, tzinfo=UTC))
    world.controls('quiet_hours: [{channels: [email], from: "21:00", to: "08:00"}]')
    world.journeys(sender("news", "Newsletter Due"))
    world.identify("ann", email="ann@example.com")
    world.track("ann", "Newsletter Due")  # queued at 20:30, before the quiet hours
    (row,) = _outbox(world)
    world.clock.set(datetime(2026, 3, 10, 22, 0, tzinfo=UTC))  # a backlog held it till now
    _deliver(dispatcher)
    assert mailbox.messages == []
    (row,) = _outbox(world)
    assert row.state == "pending"
    assert row.attempts == 0  # a postponement is no delivery attempt
    assert row.next_attempt_at.replace(tzinfo=UTC) == datetime(2026, 3, 11, 8, 0, tzinfo=UTC)
    reason = "quiet hours 21:00-08:00 UTC, until 2026-03-11T08:00"
    assert _history(world, row.id) == [
        ("postponed", {"reason": reason, "until": "2026-03-11T08:00:00+00:00"})
    ]
    assert ("message", "postponed", f"email message news postponed: {reason}") in world.trace(
        "news", "ann"
    )
    world.clock.set(datetime(2026, 3, 11, 7, 59, tzinfo=UTC))
    _deliver(dispatcher)
    assert mailbox.messages == []
    world.clock.set(datetime(2026, 3, 11, 8, 0, tzinfo=UTC))
    _deliver(dispatcher)
    assert len(mailbox.messages) == 1
    (row,) = _outbox(world)
    assert (row.state, row.attempts) == ("sent", 1)
    assert [kind for kind, _ in _history(world, row.id)] == ["postponed", "sent"]


def test_quiet_hours_with_action_drop_drop_the_message(
    world: World, dispatcher: Dispatcher, mailbox: Mailbox
) -> None:
    world.clock.set(datetime(2026, 3, 10, 20, 30, tzinfo=UTC))
    world.controls('quiet_hours: [{channels: ["*"], from: "21:00", to: "08:00", action: drop}]')
    world.journeys(sender("news", "Newsletter Due"))
    world.identify("ann", email="ann@example.com")
    world.track("ann", "Newsletter Due")
    world.clock.set(datetime(2026, 3, 10, 21, 15, tzinfo=UTC))
    _deliver(dispatcher)
    assert mailbox.messages == []
    (row,) = _outbox(world)
    assert (row.state, row.last_error) == ("dropped", "quiet hours 21:00-08:00 UTC")
    assert _history(world, row.id) == [("dropped", {"reason": "quiet hours 21:00-08:00 UTC"})]
    assert (
        "message",
        "dropped",
        "email message news not sent: quiet hours 21:00-08:00 UTC",
    ) in world.trace("news", "ann")


def test_a_cap_counts_the_customers_other_messages_not_the_message_itself(
    world: World, dispatcher: Dispatcher, mailbox: Mailbox
) -> None:
    world.clock.set(datetime(2026, 3, 10, 12, 0, tzinfo=UTC))
    world.controls("frequency_caps: [{channel: email, limit: 1, per: 1d}]")
    world.journeys(sender("news", "Newsletter Due"), sender("promo", "Sale Started"))
    world.identify("ann", email="ann@example.com")
    world.identify("bob", email="bob@example.com")
    world.track("bob", "Newsletter Due")
    _deliver(dispatcher)  # the message itself is in the window: still sent
    assert len(mailbox.messages) == 1
    world.track("ann", "Newsletter Due")  # not delivered for two days (a backlog)
    world.clock.set(datetime(2026, 3, 12, 12, 0, tzinfo=UTC))
    world.track("ann", "Sale Started")  # the newsletter left the window: queued too
    news, promo = (r for r in _outbox(world) if r.journey_id in ("news", "promo") and r.id > 1)
    _deliver(dispatcher)
    assert len(mailbox.messages) == 2  # the promotion; the newsletter would be a second
    states = {r.journey_id: r.state for r in _outbox(world) if r.id in (news.id, promo.id)}
    assert states == {"news": "dropped", "promo": "sent"}
    assert _history(world, news.id) == [("dropped", {"reason": "frequency cap email 1 per 1d"})]
    assert (
        "message",
        "dropped",
        "email message news not sent: frequency cap email 1 per 1d",
    ) in world.trace("news", "ann")


def test_transactional_messages_go_out_in_quiet_hours(
    world: World, dispatcher: Dispatcher, mailbox: Mailbox
) -> None:
    world.clock.set(datetime(2026, 3, 10, 20, 30, tzinfo=UTC))
    world.controls('quiet_hours: [{channels: ["*"], from: "21:00", to: "08:00"}]')
    world.journeys(sender("news", "Order Completed", transactional=True))
    world.identify("ann", email="ann@example.com")
    world.track("ann", "Order Completed")
    world.clock.set(datetime(2026, 3, 10, 23, 0, tzinfo=UTC))
    _deliver(dispatcher)
    assert len(mailbox.messages) == 1
    assert [r.state for r in _outbox(world)] == ["sent"]
