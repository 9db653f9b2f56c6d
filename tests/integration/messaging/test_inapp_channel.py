"""The inapp channel under the dispatcher, on both stores: priorities, repeated
deliveries, failures, opt-outs."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from wayline import consent
from wayline.channels.content import ContentService, Visitor
from wayline.channels.dispatcher import Dispatcher
from wayline.channels.inapp import InAppChannel
from wayline.channels.templates import load_template_text
from wayline.events import parse_message
from wayline.settings import Settings
from wayline.store import Store, schema
from wayline.store.content import PlacementStore
from wayline.store.outbox import NewMessage, OutboxStore
from wayline.store.sql import SqlStore
from wayline.store.templates import TemplateStore
from wayline.testing import ManualClock, drain_profiles


def template(name: str, priority: int, title: str, extra: str = "") -> str:
    return (
        f"name: {name}\nchannel: inapp\nplacement: cart\npriority: {priority}\n"
        f'content: {{title: "{title}"}}\n{extra}'
    )


class Site:
    def __init__(self, store: SqlStore, clock: ManualClock) -> None:
        self.store, self.clock = store, clock
        self.workspace = store.create_workspace("site").workspace.id
        for text in (
            template("low", 1, "Free shipping, {{ profile.first_name }}"),
            template("high", 9, "20% off today"),
            template("broken", 0, "x", 'expires: "{{ profile.first_name }}"\n'),
        ):
            spec = load_template_text(text, "t.yaml")
            TemplateStore(store).apply(self.workspace, spec.name, spec.channel, spec.as_spec())
        PlacementStore(store).put(self.workspace, "cart", {"name": "cart", "rules": []})
        self.channel = InAppChannel(store, clock)
        self.dispatcher = Dispatcher(
            store, Settings(dispatch_concurrency=1), clock, {"inapp": self.channel}
        )
        self.content = ContentService(store)
        self.keys = itertools.count()

    def profile(self, user: str, **traits: Any) -> str:
        call = {"type": "identify", "userId": user, "traits": traits, "messageId": f"i-{user}"}
        self.store.append_events(
            self.workspace, [parse_message(call, received_at=self.clock.now())]
        )
        drain_profiles(self.store)
        view = self.store.find_profile(self.workspace, user)
        assert view is not None
        return view.profile.id

    def queue(self, profile_id: str, name: str, **payload: Any) -> None:
        message = NewMessage(
            workspace_id=self.workspace,
            idempotency_key=f"k{next(self.keys)}",
            channel="inapp",
            payload={"template": name, "profile_id": profile_id, "scope": {}, **payload},
            profile_id=profile_id,
        )
        with self.store._write() as conn:
            OutboxStore(self.store).add(conn, [message])

    def deliver(self) -> None:
        while self.dispatcher.step():
            pass

    def title(self, user: str) -> Any:
        served = self.content.serve(self.workspace, "cart", Visitor(user_id=user))
        return (served.content or {}).get("title")

    def outbox(self) -> list[Any]:
        with self.store.engine.connect() as conn:
            return list(conn.execute(schema.outbox.select().order_by(schema.outbox.c.id)))


@pytest.fixture
def site(store: Store, clock: ManualClock) -> Iterator[Site]:
    assert isinstance(store, SqlStore)
    s = Site(store, clock)
    yield s
    s.dispatcher.close()


def test_the_highest_priority_is_served_then_the_next_once_dismissed(site: Site) -> None:
    ann = site.profile("ann", first_name="Ann")
    site.queue(ann, "low")
    site.queue(ann, "high")
    site.deliver()
    assert site.title("ann") == "20% off today"
    served = site.content.serve(site.workspace, "cart", Visitor(user_id="ann"))
    assert served.item is not None
    site.content.items.dismiss(served.item.message_id, site.clock.now())
    assert site.title("ann") == "Free shipping, Ann"


def test_a_repeated_delivery_stores_nothing_new_and_revives_nothing(site: Site) -> None:
    ann = site.profile("ann", first_name="Ann")
    site.queue(ann, "low")
    site.deliver()
    assert OutboxStore(site.store).dead_letters(site.workspace) == []
    row = site.outbox()[0]
    again = OutboxStore(site.store).get(row.id)
    assert again is not None
    site.content.items.dismiss(row.id, site.clock.now())
    # the dispatcher lost its claim after storing the content: a second delivery
    assert site.channel.deliver(again).outcome.value == "ok"
    with site.store.engine.connect() as conn:
        rows = conn.execute(sa.select(schema.content_items)).all()
    assert len(rows) == 1
    assert rows[0].dismissed_at is not None
    assert site.title("ann") is None


def test_failures_are_dead_letters_with_their_reason(site: Site) -> None:
    ann = site.profile("ann", first_name="Ann")
    site.queue(ann, "nope")
    site.queue(ann, "broken")
    site.deliver()
    nope, broken = site.outbox()
    assert (nope.state, nope.last_error) == ("dead", "no in-app template 'nope'")
    assert broken.state == "dead"
    assert broken.last_error == "template 'broken': expires: not an ISO 8601 time: 'Ann'"
    assert site.title("ann") is None


def test_an_opt_out_of_inapp_drops_marketing_content(site: Site) -> None:
    bob = site.profile("bob")
    with site.store._write() as conn:
        consent.set_status(
            conn,
            workspace_id=site.workspace,
            profile_id=bob,
            channel="inapp",
            topic=None,
            status=consent.Status.UNSUBSCRIBED,
            source=consent.Source.API,
            now=site.clock.now(),
        )
    site.queue(bob, "high")
    site.queue(bob, "low", transactional=True)
    site.deliver()
    high, low = site.outbox()
    assert high.state == "dropped"
    assert "opted out of every inapp message" in high.last_error
    assert low.state == "sent"
    assert site.title("bob") == "Free shipping, "


def test_a_trait_holding_markup_is_escaped_in_inapp_html(site: Site) -> None:
    spec = load_template_text(
        template("hello", 5, "Hi {{ profile.name }}", "html: '<h1>Hi {{ profile.name }}</h1>'\n"),
        "t.yaml",
    )
    TemplateStore(site.store).apply(site.workspace, spec.name, spec.channel, spec.as_spec())
    name = "<script>alert(1)</script>"
    site.queue(site.profile("eve", name=name), "hello")
    site.deliver()
    served = site.content.serve(site.workspace, "cart", Visitor(user_id="eve"))
    assert served.content == {"title": f"Hi {name}"}  # JSON: the site renders it as text
    assert served.html == "<h1>Hi &lt;script&gt;alert(1)&lt;/script&gt;</h1>"
