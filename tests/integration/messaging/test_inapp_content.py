"""In-app content end to end, on both stores: a journey sends content to a customer, the
dispatcher stores it, the site fetches it over HTTP with CORS, reports views and
dismissals; a placement's default greets a returning visitor with what they configured."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from wayline.channels.dispatcher import Dispatcher, standard_channels
from wayline.channels.templates import load_template_text
from wayline.channels.verification import user_hash
from wayline.engine.compile import spec_of
from wayline.events import parse_message
from wayline.journeys import load_journey_text
from wayline.runtime import Role
from wayline.server import Process
from wayline.settings import Settings
from wayline.store import open_store, schema
from wayline.store.journeys import JourneyStore
from wayline.store.sql import SqlStore
from wayline.store.templates import TemplateStore
from wayline.testing import ManualClock, TimeMachine

SITE = "https://shop.example.com"

JOURNEY = """\
id: configured
name: Show the configured bike
entry: {event: Product Configured}
re_entry: {policy: always}
nodes:
  - id: show
    type: send
    channel: inapp
    template: your-bike
    next: a_day
  - id: a_day
    type: delay
    duration: 1d
    next: seen
  - id: seen
    type: branch
    branches:
      - when: {message: show, opened: true}
        next: saw_it
    default: missed_it
  - id: saw_it
    type: update_profile
    set: {saw_banner: "yes"}
    next: done
  - id: missed_it
    type: update_profile
    set: {saw_banner: "no"}
    next: done
  - id: done
    type: exit
"""

#: Journeys see the content events: this one notes what the customer dismissed.
ON_DISMISS = """\
id: dismissed
name: Note dismissals
entry: {event: Content Dismissed}
re_entry: {policy: always}
nodes:
  - id: note
    type: update_profile
    set: {dismissed_template: "{{ event.properties.template }}"}
    next: done
  - id: done
    type: exit
"""

TEMPLATE = """\
name: your-bike
channel: inapp
placement: home-hero
priority: 5
ttl: 7d
content:
  title: "{{ profile.first_name | default: 'Hello' }}, your {{ event.properties.product }}"
  price: "{{ event.properties.price | money }}"
  product_id: "{{ event.properties.product_id }}"
  featured: true
html: "<h1>Your {{ event.properties.product }}</h1>"
"""

PLACEMENT = {
    "description": "The banner at the top of the home page",
    "rules": [
        {
            "when": {"event": "Product Configured", "within": "90d"},
            "content": {
                "title": "Welcome back! Your {{ event.properties.product }} is waiting",
                "product_id": "{{ event.properties.product_id }}",
            },
        },
        {
            "when": {"trait": "favourite_category"},
            "content": {"title": "New in {{ profile.favourite_category }}"},
        },
        {"content": {"title": "Build your own bike"}},
    ],
}


@dataclass
class Shop:
    store: SqlStore
    clock: ManualClock
    machine: TimeMachine
    client: TestClient
    workspace: str
    write_key: str
    admin: dict[str, str]
    ids: Iterator[int]

    def send(self, call: dict[str, Any]) -> None:
        call = {"messageId": f"m{next(self.ids)}", **call}
        self.store.append_events(
            self.workspace, [parse_message(call, received_at=self.clock.now())]
        )
        self.machine.settle()

    def content(self, placement: str = "home-hero", **params: str) -> Any:
        return self.client.get(
            f"/v1/content/{placement}",
            params=params,
            auth=(self.write_key, ""),
            headers={"Origin": SITE},
        )

    def report(self, event: str, placement: str = "home-hero", **body: Any) -> Any:
        return self.client.post(
            f"/v1/content/{placement}/events",
            json={"event": event, **body},
            auth=(self.write_key, ""),
            headers={"Origin": SITE},
        )

    def events(self, name: str) -> list[dict[str, Any]]:
        t = schema.inbox
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.c.payload).where(t.c.event == name).order_by(t.c.seq)
            ).all()
        return [orjson.loads(r.payload) for r in rows]


@pytest.fixture
def shop(database_url: str, tmp_path: Path, clock: ManualClock) -> Iterator[Shop]:
    settings = Settings(data_dir=tmp_path, database_url=database_url, content_allowed_origins=SITE)
    store = open_store(settings, clock)
    assert isinstance(store, SqlStore)
    created = store.create_workspace("shop")
    workspace = created.workspace.id
    for text in (JOURNEY, ON_DISMISS):
        journey = load_journey_text(text, "journey.yaml")
        JourneyStore(store).apply(workspace, journey.id, journey.id, spec_of(journey))
    spec = load_template_text(TEMPLATE, "your-bike.yaml")
    TemplateStore(store).apply(workspace, spec.name, spec.channel, spec.as_spec())
    machine = TimeMachine.for_journeys(store, clock)
    dispatcher = Dispatcher(store, settings, clock, standard_channels(store, settings, clock))
    machine.runtime.add("dispatcher", dispatcher.step, 0.01)
    process = Process(settings, {Role.API}, store=store, clock=clock)
    with TestClient(process.app()) as client:
        admin = {"Authorization": f"Bearer {created.admin_token}"}
        for name in ("home-hero", "welcome"):
            r = client.put(f"/api/v1/placements/{name}", json=PLACEMENT, headers=admin)
            assert r.status_code == 200, r.text
        yield Shop(
            store=store,
            clock=clock,
            machine=machine,
            client=client,
            workspace=workspace,
            write_key=created.write_key,
            admin=admin,
            ids=itertools.count(),
        )
    dispatcher.close()
    store.close()


def configure(shop: Shop, who: dict[str, str], product: str, product_id: str) -> None:
    shop.send(
        {
            "type": "track",
            "event": "Product Configured",
            "properties": {"product": product, "product_id": product_id, "price": 2499},
            **who,
        }
    )


def test_a_journey_sends_content_and_the_site_gets_it_with_cors(shop: Shop) -> None:
    shop.send({"type": "identify", "userId": "ann", "traits": {"first_name": "Ann"}})
    configure(shop, {"userId": "ann"}, "Domane SL 6", "domane-sl6")

    r = shop.content(userId="ann")
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == SITE
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["source"] == "journey"
    assert body["content"] == {
        "title": "Ann, your Domane SL 6",
        "price": "$2,499.00",
        "product_id": "domane-sl6",
        "featured": True,
    }
    assert body["html"] == "<h1>Your Domane SL 6</h1>"
    assert body["template"] == "your-bike"
    assert body["journeyId"] == "configured"
    assert body["expiresAt"] == (shop.clock.now() + timedelta(days=7)).isoformat()

    # the dispatcher recorded it as sent; the first fetch as delivered, once
    shop.content(userId="ann")
    shop.machine.settle()
    sent = shop.events("Message Sent")
    assert [e["properties"]["channel"] for e in sent] == ["inapp"]
    delivered = shop.events("Content Delivered")
    assert len(delivered) == 1
    assert delivered[0]["userId"] == "ann"
    assert delivered[0]["properties"]["message_id"] == body["contentId"]
    assert delivered[0]["properties"]["placement"] == "home-hero"

    # a view goes into the message's status history, like an email open
    r = shop.report("viewed", userId="ann", contentId=body["contentId"])
    assert (r.status_code, r.json()) == (200, {"success": True, "recorded": True})
    assert r.headers["access-control-allow-origin"] == SITE
    r = shop.report("viewed", userId="ann", contentId=body["contentId"])
    assert r.json()["recorded"] is False  # a view counts once
    with shop.store.engine.connect() as conn:
        kinds = conn.scalars(
            sa.select(schema.message_events.c.kind).order_by(schema.message_events.c.id)
        ).all()
    assert kinds == ["sent", "opened"]

    # the journey branches on the view a day later; a customer who never looked goes the
    # other way
    configure(shop, {"userId": "al"}, "Domane SL 5", "domane-sl5")
    shop.machine.advance(days=1)
    for user, saw in (("ann", "yes"), ("al", "no")):
        view = shop.store.find_profile(shop.workspace, user)
        assert view is not None
        assert view.profile.traits["saw_banner"] == saw, user


def test_preflight_and_origins(shop: Shop) -> None:
    r = shop.client.options(
        "/v1/content/home-hero",
        headers={"Origin": SITE, "Access-Control-Request-Method": "GET"},
    )
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == SITE
    assert "GET" in r.headers["access-control-allow-methods"]
    assert "Authorization" in r.headers["access-control-allow-headers"]

    r = shop.client.options(
        "/v1/content/home-hero/events",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert r.status_code == 403
    assert r.json()["field"] == "origin"
    assert "access-control-allow-origin" not in r.headers

    r = shop.client.get(
        "/v1/content/home-hero",
        params={"userId": "nobody", "writeKey": shop.write_key},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 200  # the key in the query works too
    assert "access-control-allow-origin" not in r.headers


def test_an_anonymous_visitor_keeps_their_content_after_logging_in(shop: Shop) -> None:
    configure(shop, {"anonymousId": "anon-1"}, "Checkpoint SL 5", "checkpoint-sl5")
    r = shop.content(anonymousId="anon-1")
    assert r.json()["source"] == "journey"
    assert r.json()["content"]["title"] == "Hello, your Checkpoint SL 5"

    # Bob already had a profile of his own: the anonymous one merges into it
    shop.send({"type": "identify", "userId": "bob", "traits": {"first_name": "Bob"}})
    shop.send({"type": "identify", "userId": "bob", "anonymousId": "anon-1"})
    for params in ({"userId": "bob"}, {"anonymousId": "anon-1"}):
        body = shop.content(**params).json()
        assert body["source"] == "journey", params
        assert body["content"]["product_id"] == "checkpoint-sl5"
    # and the userId wins over a stale anonymousId the browser still holds
    assert shop.content(userId="bob", anonymousId="someone-else").json()["source"] == "journey"


def test_content_expires_and_the_default_takes_over(shop: Shop) -> None:
    configure(shop, {"userId": "cy"}, "Fuel EX 8", "fuel-ex8")
    assert shop.content(userId="cy").json()["source"] == "journey"
    shop.clock.advance(days=7, seconds=1)
    body = shop.content(userId="cy").json()
    assert body["source"] == "default"
    assert body["contentId"] is None
    assert body["content"]["product_id"] == "fuel-ex8"


def test_dismissed_content_is_not_served_again_and_journeys_see_it(shop: Shop) -> None:
    configure(shop, {"userId": "dee"}, "Marlin 7", "marlin-7")
    first = shop.content(userId="dee").json()
    r = shop.report("dismissed", userId="dee", contentId=first["contentId"])
    assert r.status_code == 200
    shop.machine.settle()
    body = shop.content(userId="dee").json()
    assert body["source"] == "default"  # the journey's content is gone for good
    assert body["content"]["title"] == "Welcome back! Your Marlin 7 is waiting"
    dismissed = shop.events("Content Dismissed")
    assert dismissed[0]["properties"]["template"] == "your-bike"
    view = shop.store.find_profile(shop.workspace, "dee")
    assert view is not None
    assert view.profile.traits["dismissed_template"] == "your-bike"

    # a newer message to the placement shows again
    configure(shop, {"userId": "dee"}, "Marlin 8", "marlin-8")
    assert shop.content(userId="dee").json()["content"]["product_id"] == "marlin-8"


def test_the_default_greets_a_returning_visitor_with_their_last_configured_product(
    shop: Shop,
) -> None:
    # no journey sends to the welcome placement: only its rules fill it
    who = {"anonymousId": "visitor-9"}
    configure(shop, who, "Domane AL 2", "domane-al2")
    shop.clock.advance(days=2)
    configure(shop, who, "Domane AL 4", "domane-al4")
    shop.clock.advance(days=30)  # they come back a month later
    body = shop.content("welcome", anonymousId="visitor-9").json()
    assert body["source"] == "default"
    assert body["rule"] == 0
    assert body["content"] == {
        "title": "Welcome back! Your Domane AL 4 is waiting",
        "product_id": "domane-al4",
    }
    # past the rule's 90 days, and for strangers: the next rules
    shop.send(
        {"type": "identify", "anonymousId": "visitor-9", "traits": {"favourite_category": "Gravel"}}
    )
    shop.clock.advance(days=90)
    assert shop.content("welcome", anonymousId="visitor-9").json()["content"] == {
        "title": "New in Gravel"
    }
    stranger = shop.content("welcome", anonymousId="never-seen").json()
    assert (stranger["source"], stranger["rule"]) == ("default", 2)
    assert stranger["content"] == {"title": "Build your own bike"}


def test_bad_requests_answer_json_naming_the_field(shop: Shop) -> None:
    r = shop.client.get(
        "/v1/content/home-hero",
        params={"userId": "ann"},
        auth=("wrong", ""),
        headers={"Origin": SITE},
    )
    assert r.status_code == 401
    assert r.json() == {"error": "writeKey: unknown write key", "field": "writeKey"}
    assert r.headers["access-control-allow-origin"] == SITE  # the browser may read why
    r = shop.client.get("/v1/content/home-hero", params={"userId": "ann"})
    assert (r.status_code, r.json()["field"]) == (401, "writeKey")

    r = shop.content()
    assert (r.status_code, r.json()["field"]) == (422, "userId")
    assert r.json()["error"] == "userId: userId or anonymousId is required"
    r = shop.content(userId="x" * 300)
    assert (r.status_code, r.json()["field"]) == (422, "userId")
    r = shop.content(placement="-bad name", userId="ann")
    assert (r.status_code, r.json()["field"]) == (422, "placement")
    r = shop.content(placement="nowhere", userId="ann")
    assert r.status_code == 404
    assert r.json() == {
        "error": "placement: no placement 'nowhere' in this workspace",
        "field": "placement",
    }

    r = shop.report("liked", userId="ann")
    assert (r.status_code, r.json()["field"]) == (422, "event")
    r = shop.report("viewed", userId="ann", contentId="12")
    assert (r.status_code, r.json()["field"]) == (422, "contentId")
    r = shop.report("dismissed", userId="ann", contentId=999)
    assert (r.status_code, r.json()["field"]) == (404, "contentId")
    r = shop.report("viewed", anonymousId=17)
    assert (r.status_code, r.json()["field"]) == (422, "anonymousId")
    r = shop.client.post("/v1/content/home-hero/events", content=b"{", auth=(shop.write_key, ""))
    assert r.status_code == 400
    assert shop.events("Content Viewed") == []
    assert shop.events("Content Dismissed") == []


def test_a_content_dismissed_track_call_dismisses_too(shop: Shop) -> None:
    configure(shop, {"userId": "eve"}, "Roscoe 7", "roscoe-7")
    first = shop.content(userId="eve").json()
    assert first["source"] == "journey"
    r = shop.client.post(
        "/v1/track",
        json={
            "userId": "eve",
            "event": "Content Dismissed",
            "properties": {"message_id": str(first["contentId"]), "placement": "home-hero"},
        },
        auth=(shop.write_key, ""),
    )
    assert r.status_code == 200
    assert shop.content(userId="eve").json()["source"] == "default"
    with shop.store.engine.connect() as conn:
        dismissed = conn.scalar(sa.select(schema.content_items.c.dismissed_at))
    assert dismissed is not None


def test_erasing_a_customer_removes_their_content(shop: Shop) -> None:
    configure(shop, {"userId": "fay"}, "Madone", "madone")
    assert shop.content(userId="fay").json()["source"] == "journey"
    view = shop.store.find_profile(shop.workspace, "fay")
    assert view is not None
    r = shop.client.delete(f"/api/v1/profiles/{view.profile.id}", headers=shop.admin)
    assert r.status_code == 200, r.text
    with shop.store.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(schema.content_items)) == 0


def test_a_customer_opted_out_of_inapp_gets_the_default_instead(shop: Shop) -> None:
    shop.send({"type": "identify", "userId": "gus"})
    view = shop.store.find_profile(shop.workspace, "gus")
    assert view is not None
    r = shop.client.put(
        f"/api/v1/profiles/{view.profile.id}/subscriptions",
        json={"channel": "inapp", "status": "unsubscribed"},
        headers=shop.admin,
    )
    assert r.status_code == 200, r.text
    configure(shop, {"userId": "gus"}, "Procaliber", "procaliber")
    body = shop.content(userId="gus").json()
    assert (body["source"], body["rule"]) == ("default", 0)
    with shop.store.engine.connect() as conn:
        states = conn.scalars(sa.select(schema.outbox.c.state)).all()
    assert states == ["dropped"]


def test_right_after_a_login_the_anonymous_content_is_served_before_the_merge(
    shop: Shop,
) -> None:
    shop.send({"type": "identify", "userId": "hal", "traits": {"first_name": "Hal"}})
    configure(shop, {"anonymousId": "anon-h"}, "Rail 9", "rail-9")
    # the site identifies the visitor and asks at once, before the profiles are merged
    body = shop.content(userId="hal", anonymousId="anon-h").json()
    assert body["source"] == "journey"
    assert body["content"]["product_id"] == "rail-9"
    r = shop.report("dismissed", userId="hal", anonymousId="anon-h", contentId=body["contentId"])
    assert r.status_code == 200
    assert shop.content(userId="hal", anonymousId="anon-h").json()["source"] == "default"


def test_a_workspace_that_verifies_user_ids_wants_the_user_hash(shop: Shop) -> None:
    secret = "s" * 40
    r = shop.client.put("/api/v1/channels/inapp", json={"verify_users": True}, headers=shop.admin)
    assert (r.status_code, r.json()["field"]) == (422, "identity_secret")
    r = shop.client.put(
        "/api/v1/channels/inapp",
        json={"verify_users": True, "identity_secret": secret},
        headers=shop.admin,
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"verify_users": True, "identity_secret_set": True}
    assert secret not in shop.client.get("/api/v1/channels/inapp", headers=shop.admin).text

    shop.send({"type": "identify", "userId": "ivy", "anonymousId": "anon-ivy"})
    configure(shop, {"userId": "ivy"}, "Top Fuel", "top-fuel")
    good = user_hash(secret, "ivy")
    r = shop.content(userId="ivy")
    assert r.status_code == 401
    assert r.json() == {
        "error": "userHash: this workspace verifies user ids: send the userId's userHash",
        "field": "userHash",
    }
    assert shop.content(userId="ivy", userHash=user_hash("x" * 40, "ivy")).status_code == 401
    r = shop.content(userId="ivy", userHash=good)
    assert r.json()["source"] == "journey"
    # the anonymousId of a known user reaches nothing of theirs without the userId's hash
    assert shop.content(anonymousId="anon-ivy").json()["source"] == "default"
    assert shop.content(anonymousId="anon-ivy").json()["rule"] == 2
    assert shop.report("viewed", userId="ivy").status_code == 401
    r = shop.report("viewed", userId="ivy", userHash=good, contentId=r.json()["contentId"])
    assert r.status_code == 200
    # anonymous visitors still get their own content
    configure(shop, {"anonymousId": "anon-2"}, "Slash", "slash")
    assert shop.content(anonymousId="anon-2").json()["source"] == "journey"
