"""Acceptance: the abandoned-cart journey sends a rendered MJML email through a real SMTP
server (aiosmtpd); the customer clicks, opens and unsubscribes in one click; their next
marketing email is dropped with reason ``unsubscribed``, visible in the journey trace.
Tracking links that are forged, altered or expired get a 4xx and record nothing.
"""

from __future__ import annotations

import base64
import itertools
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.integration.messaging.mailbox import Mailbox
from tests.unit.journeys.example import EXAMPLE
from wayline.api.app import create_app
from wayline.api.deps import Services
from wayline.channels.base import Channel
from wayline.channels.config import ChannelConfigs
from wayline.channels.dispatcher import Dispatcher
from wayline.channels.email import EmailChannel
from wayline.channels.templates import load_template_text
from wayline.channels.tracking import Tracker
from wayline.channels.webhook import WebhookChannel
from wayline.engine.compile import spec_of
from wayline.events import parse_message
from wayline.ingest import Ingestor
from wayline.journeys import load_journey_text
from wayline.settings import Settings
from wayline.store import Store
from wayline.store.journeys import JourneyStore
from wayline.store.outbox import OutboxState
from wayline.store.sql import SqlStore
from wayline.store.templates import TemplateStore
from wayline.testing import ManualClock, TimeMachine, drain_profiles

PUBLIC = "http://testserver"

REMINDER = """\
name: cart-reminder
subject: "{{ profile.first_name | default: 'Hello' }}, your cart is waiting"
preheader: "Your {{ event.properties.price | money }} item is still there"
mjml: |
  <mjml>
    <mj-body>
      <mj-section>
        <mj-column>
          <mj-text>Hi {{ profile.first_name | default: 'there' }},</mj-text>
          <mj-text>You left something worth {{ event.properties.price | money }}.</mj-text>
          <mj-button href="https://shop.example.com/cart/{{ journey.key }}">
            Back to my cart</mj-button>
          <mj-text><a href="{{ message.unsubscribe_url }}">Unsubscribe</a></mj-text>
        </mj-column>
      </mj-section>
    </mj-body>
  </mjml>
"""
DISCOUNT = """\
name: cart-discount
subject: "10% off your cart"
html: "<p>Use code SAVE10: <a href='https://shop.example.com/cart'>cart</a></p>"
"""


class Crm(ThreadingHTTPServer):
    """The journey's webhook target: answers 200 to everything."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/cart"


@dataclass
class Shop:
    store: SqlStore
    clock: ManualClock
    machine: TimeMachine
    workspace: str
    admin: dict[str, str]
    mailbox: Mailbox
    client: TestClient
    ids: Iterator[int]

    def send(self, call: dict[str, Any]) -> None:
        call = {**call, "messageId": f"m{next(self.ids)}"}
        row = parse_message(call, received_at=self.clock.now())
        self.store.append_events(self.workspace, [row])
        self.machine.settle()

    def profile_id(self, user: str) -> str:
        view = self.store.find_profile(self.workspace, user)
        assert view is not None
        return view.profile.id

    def trace(self, user: str) -> list[tuple[int, str, str, str]]:
        steps = JourneyStore(self.store).steps(
            self.workspace, "abandoned-cart", self.profile_id(user)
        )
        return [(s.instance_id, s.node, s.kind, s.reason) for s in steps]

    def timeline(self, user: str) -> list[dict[str, Any]]:
        drain_profiles(self.store)
        events = self.store.profile_events(self.workspace, self.profile_id(user), limit=100)
        return [orjson.loads(e.payload) for e in reversed(events)]

    def names(self, user: str) -> list[str]:
        return [str(e.get("event")) for e in self.timeline(user) if e["type"] == "track"]


@pytest.fixture
def shop(store: Store, clock: ManualClock, tmp_path: Any) -> Iterator[Shop]:
    assert isinstance(store, SqlStore)
    created = store.create_workspace("shop")
    workspace = created.workspace.id
    crm = Crm()
    journey = load_journey_text(
        EXAMPLE.replace("https://crm.example.com/hooks/cart", crm.url), "abandoned-cart.yaml"
    )
    JourneyStore(store).apply(workspace, journey.id, journey.name or journey.id, spec_of(journey))
    templates = TemplateStore(store)
    for text in (REMINDER, DISCOUNT):
        spec = load_template_text(text, "t.yaml")
        templates.apply(workspace, spec.name, spec.channel, spec.as_spec())
    mailbox = Mailbox()
    mailbox.start()
    ChannelConfigs(store).set(
        workspace,
        "email",
        {
            "host": "127.0.0.1",
            "port": mailbox.port,
            "security": "none",
            "from_email": "shop@example.com",
            "from_name": "The Shop",
        },
    )
    settings = Settings(data_dir=tmp_path, public_url=PUBLIC, webhook_allowed_hosts="127.0.0.1")
    tracker = Tracker(store, settings.public_url, timedelta(days=settings.tracking_token_days))
    channels: dict[str, Channel] = {
        "email": EmailChannel(store, tracker, allowed_hosts=settings.webhook_allowed_hosts),
        "webhook": WebhookChannel(store, clock, allowed_hosts="127.0.0.1"),
    }
    dispatcher = Dispatcher(store, settings, clock, channels)
    machine = TimeMachine.for_journeys(store, clock)
    machine.runtime.add("dispatcher", dispatcher.step, 0.01)
    services = Services(
        settings=settings, store=store, clock=clock, ingestor=Ingestor(store, clock, settings)
    )
    with TestClient(create_app(services)) as client:
        yield Shop(
            store=store,
            clock=clock,
            machine=machine,
            workspace=workspace,
            admin={"Authorization": f"Bearer {created.admin_token}"},
            mailbox=mailbox,
            client=client,
            ids=itertools.count(),
        )
    dispatcher.close()
    mailbox.stop()
    crm.shutdown()
    crm.server_close()


def _path(url: str) -> str:
    return urlsplit(url).path


def _links(html: str) -> list[str]:
    return re.findall(r'href="([^"]+)"', html)


def _abandon(shop: Shop, cart: str) -> None:
    shop.send(
        {
            "type": "track",
            "userId": "ann",
            "event": "Product Added",
            "properties": {"cart_id": cart, "price": 30},
        }
    )
    shop.machine.advance(minutes=61)


def test_the_journey_email_round_trip_ends_in_a_dropped_send(shop: Shop) -> None:
    shop.send(
        {
            "type": "identify",
            "userId": "ann",
            "traits": {"email": "ann@example.com", "first_name": "Ann"},
        }
    )
    _abandon(shop, "c1")

    (mail,) = shop.mailbox.received()
    envelope_from, rcpt, _ = shop.mailbox.messages[0]
    assert (envelope_from, rcpt) == ("shop@example.com", ["ann@example.com"])
    assert mail["To"] == "ann@example.com"
    assert mail["From"] == "The Shop <shop@example.com>"
    assert mail["Subject"] == "Ann, your cart is waiting"
    assert mail["Message-ID"].endswith("@example.com>")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = re.fullmatch(r"<(.+)>", mail["List-Unsubscribe"])
    assert unsubscribe is not None
    unsubscribe_url = unsubscribe.group(1)
    assert unsubscribe_url.startswith(f"{PUBLIC}/t/unsubscribe/")
    # as written on the wire: the link itself, not an encoded word, on one line
    (raw,) = shop.mailbox.raw()
    assert f"\r\nList-Unsubscribe: <{unsubscribe_url}>\r\n".encode() in raw
    assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in raw

    html_part = mail.get_body(preferencelist=("html",))
    text_part = mail.get_body(preferencelist=("plain",))
    assert html_part is not None
    assert text_part is not None
    html = html_part.get_content()
    text = text_part.get_content()
    # MJML became responsive HTML; Liquid filled in the customer and the event
    assert "<mj-" not in html
    assert "<table" in html
    assert "Hi Ann," in html
    assert "$30.00" in html
    assert "Your $30.00 item is still there" in html  # the preheader
    assert "Hi Ann," in text
    assert "https://shop.example.com/cart/c1" in text
    assert "<" not in text.replace("<https", "")
    # the visible unsubscribe link, and the cart link through the click redirect
    links = _links(html)
    assert unsubscribe_url in links
    clicks = [u for u in links if u.startswith(f"{PUBLIC}/t/click/")]
    assert len(clicks) == 1
    assert "https://shop.example.com" not in html
    pixel = re.search(r'<img src="([^"]+/t/open/[^"]+)"', html)
    assert pixel is not None

    r = shop.client.get(_path(clicks[0]), follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (302, "https://shop.example.com/cart/c1")
    r = shop.client.get(_path(pixel.group(1)))
    assert (r.status_code, r.headers["content-type"]) == (200, "image/gif")
    # the page behind the visible link asks before it does anything
    page = shop.client.get(_path(unsubscribe_url))
    assert page.status_code == 200
    assert "<form method='post'" in page.text
    r = shop.client.post(
        _path(unsubscribe_url),
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200

    names = shop.names("ann")
    for expected in ("Message Sent", "Email Link Clicked", "Email Opened", "Unsubscribed"):
        assert names.count(expected) == 1, names
    sent = next(e for e in shop.timeline("ann") if e.get("event") == "Message Sent")
    assert sent["properties"]["template"] == "cart-reminder"
    assert sent["properties"]["journey_id"] == "abandoned-cart"

    # a day later the journey asks whether the reminder was opened: it was
    shop.machine.advance(days=1, minutes=1)
    first = shop.trace("ann")
    assert any(
        node == "opened" and kind == "branched" and "reminder opened" in reason
        for _, node, kind, reason in first
    ), first

    # the next marketing email to Ann is dropped, and the trace says why
    _abandon(shop, "c2")
    assert len(shop.mailbox.received()) == 1
    second = {i for i, *_ in shop.trace("ann")} - {i for i, *_ in first}
    (instance,) = second
    dropped = [
        (node, reason)
        for i, node, kind, reason in shop.trace("ann")
        if i == instance and kind == "dropped"
    ]
    assert len(dropped) == 1
    assert dropped[0][0] == "reminder"
    assert "unsubscribed" in dropped[0][1]

    messages = shop.client.get("/api/v1/profiles/ann/messages", headers=shop.admin).json()["data"]
    emails = [m for m in messages if m["channel"] == "email"]
    assert [m["state"] for m in emails] == [OutboxState.DROPPED.value, OutboxState.SENT.value]
    assert [h["status"] for h in emails[1]["history"]] == [
        "queued",
        "sent",
        "clicked",
        "opened",
        "unsubscribed",
    ]


def _first_mail(shop: Shop) -> tuple[EmailMessage, str]:
    shop.send(
        {
            "type": "identify",
            "userId": "ann",
            "traits": {"email": "ann@example.com", "first_name": "Ann"},
        }
    )
    _abandon(shop, "c1")
    (mail,) = shop.mailbox.received()
    part = mail.get_body(preferencelist=("html",))
    assert part is not None
    return mail, part.get_content()


def _tamper(token: str) -> str:
    body, _, signature = token.partition(".")
    data = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    data["u"] = "https://evil.example.com/"
    forged = base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()
    return f"{forged}.{signature}"


def test_forged_altered_or_expired_links_record_nothing(shop: Shop) -> None:
    mail, html = _first_mail(shop)
    click = next(u for u in _links(html) if "/t/click/" in u)
    token = _path(click).rsplit("/", 1)[1]
    before = shop.names("ann")

    altered = shop.client.get(f"/t/click/{_tamper(token)}", follow_redirects=False)
    assert altered.status_code == 403
    assert "evil" not in altered.headers.get("location", "")
    assert shop.client.get("/t/click/not-a-token", follow_redirects=False).status_code == 400
    resigned = token.rsplit(".", 1)[0] + "." + "A" * 43
    assert shop.client.get(f"/t/click/{resigned}", follow_redirects=False).status_code == 403
    # a click token is not an open or an unsubscribe token
    assert shop.client.get(f"/t/open/{token}").status_code == 403
    one_click = b"List-Unsubscribe=One-Click"
    assert shop.client.post(f"/t/unsubscribe/{token}", content=one_click).status_code == 403

    shop.clock.advance(days=366)
    expired = shop.client.get(_path(click), follow_redirects=False)
    assert expired.status_code == 410
    unsubscribe = re.fullmatch(r"<(.+)>", mail["List-Unsubscribe"])
    assert unsubscribe is not None
    assert shop.client.post(_path(unsubscribe.group(1)), content=one_click).status_code == 410

    assert shop.names("ann") == before
    messages = shop.client.get("/api/v1/profiles/ann/messages", headers=shop.admin).json()
    (email,) = [m for m in messages["data"] if m["channel"] == "email"]
    assert [h["status"] for h in email["history"]] == ["queued", "sent"]


def test_smtp_down_then_back_delivers_exactly_once(shop: Shop) -> None:
    shop.mailbox.stop()
    shop.send({"type": "identify", "userId": "ann", "traits": {"email": "ann@example.com"}})
    _abandon(shop, "c1")
    outbox = [m for m in _outbox(shop) if m["channel"] == "email"]
    assert outbox[0]["state"] == "pending"
    assert outbox[0]["attempts"] >= 1
    shop.mailbox.start()
    shop.machine.advance(minutes=30)
    assert len(shop.mailbox.received()) == 1
    shop.machine.advance(hours=3)
    assert len(shop.mailbox.received()) == 1
    assert shop.names("ann").count("Message Sent") == 1


def test_smtp_down_for_30_seconds_then_back_delivers_every_message_once(shop: Shop) -> None:
    customers = [f"c{i}" for i in range(12)]
    shop.mailbox.stop()
    for user in customers:
        shop.send({"type": "identify", "userId": user, "traits": {"email": f"{user}@example.com"}})
        shop.send(
            {
                "type": "track",
                "userId": user,
                "event": "Product Added",
                "properties": {"cart_id": f"cart-{user}", "price": 30},
            }
        )
    shop.machine.advance(minutes=60, seconds=30)  # the reminders fall due and fail
    shop.machine.advance(seconds=30)  # the server stays down for 30 s of attempts
    assert shop.mailbox.received() == []
    shop.mailbox.start()
    shop.machine.advance(hours=3)
    for_whom = sorted(str(m["To"]) for m in shop.mailbox.received())
    assert for_whom == sorted(f"{user}@example.com" for user in customers)
    for user in customers:
        assert shop.names(user).count("Message Sent") == 1


def _outbox(shop: Shop) -> list[dict[str, Any]]:
    messages = shop.client.get("/api/v1/profiles/ann/messages", headers=shop.admin).json()
    data: list[dict[str, Any]] = messages["data"]
    return data


def test_the_visible_link_unsubscribes_after_one_click_on_its_page(shop: Shop) -> None:
    mail, html = _first_mail(shop)
    link = next(u for u in _links(html) if "/t/unsubscribe/" in u)
    assert f"<{link}>" == mail["List-Unsubscribe"]
    page = shop.client.get(_path(link))
    assert page.status_code == 200
    assert "Unsubscribed" not in shop.names("ann")  # opening the page changes nothing
    r = shop.client.post(
        _path(link),
        content=b"confirm=yes",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200
    assert "You are unsubscribed" in r.text
    (event,) = [e for e in shop.timeline("ann") if e.get("event") == "Unsubscribed"]
    assert event["properties"]["source"] == "link"
    subscriptions = shop.client.get("/api/v1/profiles/ann/subscriptions", headers=shop.admin)
    (row,) = subscriptions.json()["data"]
    assert (row["channel"], row["topic"], row["status"], row["source"]) == (
        "email",
        "*",
        "unsubscribed",
        "link",
    )


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("application/x-www-form-urlencoded", b"List-Unsubscribe=One-Click"),
        (
            "multipart/form-data; boundary=wl-b0undary",
            b"--wl-b0undary\r\n"
            b'Content-Disposition: form-data; name="List-Unsubscribe"\r\n\r\n'
            b"One-Click\r\n"
            b"--wl-b0undary--\r\n",
        ),
    ],
)
def test_a_one_click_post_is_recorded_as_one_click_in_either_form_encoding(
    shop: Shop, content_type: str, content: bytes
) -> None:
    mail, _html = _first_mail(shop)
    link = re.fullmatch(r"<(.+)>", mail["List-Unsubscribe"])
    assert link is not None

    r = shop.client.post(
        _path(link.group(1)), content=content, headers={"content-type": content_type}
    )

    assert r.status_code == 200
    (event,) = [e for e in shop.timeline("ann") if e.get("event") == "Unsubscribed"]
    assert event["properties"]["source"] == "one_click"
