"""The SMS channel and the dispatcher against a local HTTP server that answers like a
Twilio-compatible provider, on both stores."""

from __future__ import annotations

import base64
import itertools
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import orjson
import pytest

from wayline.channels.config import ChannelConfigs
from wayline.channels.dispatcher import Dispatcher
from wayline.channels.secrets import set_secret
from wayline.channels.sms import SMS_AUTH_TOKEN, SmsChannel
from wayline.channels.templates import load_template_text
from wayline.events import parse_message
from wayline.settings import Settings
from wayline.store import Store, schema
from wayline.store.outbox import NewMessage, OutboxStore
from wayline.store.sql import SqlStore
from wayline.store.templates import TemplateStore
from wayline.testing import ManualClock, drain_profiles

SID = "AC0123456789abcdef0123456789abcdef"
TOKEN = "sms-auth-token-value"
#: The provider's answer by recipient.
OK, BUSY, DOWN, INVALID = "+14155552671", "+14155552672", "+14155552673", "+14155552674"


class Provider(ThreadingHTTPServer):
    """Answers like Twilio: 201 with a sid; 429 with Retry-After once, then 201; 503; 400."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                with provider.lock:
                    earlier = sum(r["form"].get("To") == form.get("To") for r in provider.requests)
                    provider.requests.append(
                        {"path": self.path, "form": form, "auth": self.headers.get("authorization")}
                    )
                to = form.get("To")
                if to == BUSY and not earlier:
                    self.answer(
                        429, {"code": 20429, "message": "Too Many Requests"}, {"Retry-After": "120"}
                    )
                elif to == DOWN:
                    self.answer(503, {"message": "unavailable"})
                elif to == INVALID:
                    self.answer(400, {"code": 21211, "message": "The 'To' number is not valid."})
                else:
                    self.answer(
                        201, {"sid": f"SM{len(provider.requests):032d}", "status": "queued"}
                    )

            def answer(
                self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
            ) -> None:
                data = orjson.dumps(body)
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Texts:
    def __init__(self, store: SqlStore, clock: ManualClock, provider: Provider) -> None:
        self.store, self.clock, self.provider = store, clock, provider
        self.workspace = store.create_workspace("texts").workspace.id
        spec = load_template_text(
            'name: code\nchannel: sms\nbody: \'Hi {{ profile.first_name | default: "there" }}, '
            "your cart is waiting'\n",
            "code.yaml",
        )
        TemplateStore(store).apply(self.workspace, spec.name, spec.channel, spec.as_spec())
        ChannelConfigs(store).set(
            self.workspace,
            "sms",
            {
                "base_url": provider.url,
                "account_sid": SID,
                "from": "+15005550006",
                "default_region": "US",
            },
        )
        set_secret(store, self.workspace, SMS_AUTH_TOKEN, TOKEN)
        channel = SmsChannel(store, allowed_hosts="127.0.0.1")
        self.dispatcher = Dispatcher(
            store, Settings(dispatch_concurrency=1), clock, {"sms": channel}
        )
        self.keys = itertools.count()

    def queue(self, user: str, **traits: Any) -> None:
        call = {"type": "identify", "userId": user, "traits": traits, "messageId": f"i-{user}"}
        self.store.append_events(
            self.workspace, [parse_message(call, received_at=self.clock.now())]
        )
        drain_profiles(self.store)
        view = self.store.find_profile(self.workspace, user)
        assert view is not None
        message = NewMessage(
            workspace_id=self.workspace,
            idempotency_key=f"s{next(self.keys)}",
            channel="sms",
            payload={"template": "code", "profile_id": view.profile.id, "scope": {}},
            profile_id=view.profile.id,
        )
        with self.store._write() as conn:
            OutboxStore(self.store).add(conn, [message])

    def deliver(self) -> None:
        while self.dispatcher.step():
            pass

    def rows(self) -> list[Any]:
        with self.store.engine.connect() as conn:
            return list(conn.execute(schema.outbox.select().order_by(schema.outbox.c.id)))


@pytest.fixture
def texts(store: Store, clock: ManualClock) -> Iterator[Texts]:
    assert isinstance(store, SqlStore)
    provider = Provider()
    t = Texts(store, clock, provider)
    yield t
    t.dispatcher.close()
    provider.shutdown()
    provider.server_close()


def test_a_text_goes_out_in_e164_with_its_segments_counted(texts: Texts) -> None:
    texts.queue("ann", phone="(415) 555-2671", first_name="Ann")
    texts.deliver()
    (request,) = texts.provider.requests
    assert request["path"] == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert request["form"] == {
        "To": OK,
        "From": "+15005550006",
        "Body": "Hi Ann, your cart is waiting",
    }
    expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    assert request["auth"] == expected
    (row,) = texts.rows()
    assert row.state == "sent"
    result = orjson.loads(row.result)
    assert (result["to"], result["segments"], result["encoding"]) == (OK, 1, "GSM-7")
    assert result["sid"].startswith("SM")


def test_429_then_201_sends_one_text(texts: Texts) -> None:
    texts.queue("bob", phone=BUSY)
    texts.deliver()
    (row,) = texts.rows()
    assert row.state == "pending"
    assert row.last_error.startswith("HTTP 429")
    # Retry-After: 120 is honoured: nothing before two minutes
    assert row.next_attempt_at >= texts.clock.now() + timedelta(seconds=120)
    texts.clock.advance(seconds=119)
    texts.deliver()
    assert len(texts.provider.requests) == 1
    texts.clock.advance(hours=1)
    texts.deliver()
    texts.clock.advance(hours=1)
    texts.deliver()
    assert [r["form"]["To"] for r in texts.provider.requests] == [BUSY, BUSY]
    assert [r.state for r in texts.rows()] == ["sent"]


def test_5xx_is_retried_and_a_rejection_is_permanent(texts: Texts) -> None:
    texts.queue("cy", phone=DOWN)
    texts.queue("dee", phone=INVALID)
    texts.queue("eve", phone="12")
    texts.queue("fay")
    texts.deliver()
    down, invalid, bad, none = texts.rows()
    assert (down.state, down.last_error) == ("pending", "HTTP 503: unavailable")
    assert invalid.state == "dead"
    assert invalid.last_error == "HTTP 400: 21211 The 'To' number is not valid."
    assert (bad.state, bad.last_error) == ("dead", "not a valid phone number: '12'")
    assert (none.state, none.last_error) == ("dead", "the customer has no phone number")
    assert len(texts.provider.requests) == 2


def test_a_plain_http_provider_is_used_only_when_its_host_is_allow_listed(texts: Texts) -> None:
    # an allow-listed host (as in development, against a local fake) may be plain http
    texts.queue("gus", phone="+14155550100")
    texts.deliver()
    assert texts.rows()[-1].state == "sent"
    # any other may not: the auth token would cross the network in the clear
    ChannelConfigs(texts.store).set(
        texts.workspace,
        "sms",
        {"base_url": "http://sms.example.com", "account_sid": SID, "from": "+15005550006"},
    )
    texts.dispatcher.close()
    channel = SmsChannel(texts.store, allowed_hosts="127.0.0.1")
    texts.dispatcher = Dispatcher(
        texts.store, Settings(dispatch_concurrency=1), texts.clock, {"sms": channel}
    )
    texts.queue("hal", phone="+14155550101")
    texts.deliver()
    last = texts.rows()[-1]
    assert last.state == "dead"
    assert "https" in last.last_error
    assert len(texts.provider.requests) == 1
