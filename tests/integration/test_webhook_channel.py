"""The webhook channel against a real local HTTP server, and the dispatcher end to end.

The server checks every signature with its own implementation of Standard Webhooks, so
that a signing bug cannot hide behind the code it would test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
from sqlalchemy.engine import Connection

from wayline.channels.base import Delivery, Outcome
from wayline.channels.dispatcher import Dispatcher, standard_channels
from wayline.channels.log import LogChannel
from wayline.channels.secrets import webhook_secret
from wayline.channels.webhook import PER_HOST, WebhookChannel
from wayline.runtime import Role
from wayline.server import Process
from wayline.settings import Settings
from wayline.store import Store
from wayline.store.outbox import NewMessage, OutboxMessage, OutboxState, OutboxStore
from wayline.store.sql import SqlStore
from wayline.testing import ManualClock

LEASE = timedelta(minutes=5)
#: For tests of the channel alone: it reads only its secret from the store, which the
#: tests on both backends cover.
one_store = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def verify(secret: str, headers: Any, body: bytes) -> bool:
    """Standard Webhooks verification, written from the spec, independent of Wayline's."""
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.{body.decode()}"
    expected = base64.b64encode(hmac.new(key, signed.encode(), hashlib.sha256).digest())
    return any(
        hmac.compare_digest(sig.split(",", 1)[1].encode(), expected)
        for sig in headers["webhook-signature"].split(" ")
        if sig.startswith("v1,")
    )


class Sink:
    """A webhook receiver on 127.0.0.1 that answers by path:

    ``/ok`` 200 JSON, ``/text`` 200 text, ``/busy`` 429 with Retry-After then 200,
    ``/flaky`` 500 then 200, ``/bad`` 400, ``/down`` 503 always, ``/moved`` a redirect,
    ``/slow`` 200 after a moment (counting the calls in flight at once).
    """

    def __init__(self) -> None:
        self.secret = ""
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                msg_id = self.headers.get("webhook-id", "")
                with sink.lock:
                    earlier = sum(r["id"] == msg_id for r in sink.requests)
                    record = {
                        "id": msg_id,
                        "path": self.path,
                        "method": self.command,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                        "verified": verify(sink.secret, self.headers, body),
                    }
                    sink.requests.append(record)
                status, headers, answer = sink.answer(self.path, earlier)
                record["status"] = status
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_PUT = do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, path: str, earlier: int) -> tuple[int, dict[str, str], bytes]:
        json = {"content-type": "application/json"}
        if path == "/ok":
            return 200, json, b'{"received": true}'
        if path == "/slow":
            with self.lock:
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
            time.sleep(0.05)
            with self.lock:
                self.in_flight -= 1
            return 200, json, b"{}"
        if path == "/text":
            return 200, {"content-type": "text/plain; charset=utf-8"}, b"thanks"
        if path == "/busy" and not earlier:
            return 429, {"retry-after": "120"}, b""
        if path == "/flaky" and not earlier:
            return 500, {}, b"oops"
        if path in ("/busy", "/flaky"):
            return 200, json, b"{}"
        if path == "/bad":
            return 400, json, b'{"error": "unknown cart"}'
        if path == "/moved":
            return 302, {"location": "http://169.254.169.254/latest/meta-data"}, b""
        return 503, {}, b""

    def delivered(self, msg_id: str) -> int:
        """How many requests of this message the sink answered with a 2xx."""
        with self.lock:
            return sum(r["id"] == msg_id and 200 <= r["status"] < 300 for r in self.requests)

    def count(self, msg_id: str) -> int:
        with self.lock:
            return sum(r["id"] == msg_id for r in self.requests)


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink()
    s.thread.start()
    yield s
    s.server.shutdown()
    s.server.server_close()
    s.thread.join()


def _queue(store: Store, *messages: tuple[str, str, dict[str, Any]], ws: str) -> None:
    """Queue (key, channel, payload) messages, as the journey worker does."""
    assert isinstance(store, SqlStore)
    new = [
        NewMessage(workspace_id=ws, idempotency_key=key, channel=channel, payload=payload)
        for key, channel, payload in messages
    ]
    with store._write() as conn:
        OutboxStore(store).add(conn, new)


def _claimed(store: Store, key: str, payload: dict[str, Any], ws: str) -> OutboxMessage:
    _queue(store, (key, "webhook", payload), ws=ws)
    (message,) = OutboxStore(store).claim(1, LEASE)
    return message


@pytest.fixture
def ws(store: Store, sink: Sink) -> str:
    workspace_id = store.create_workspace("shop").workspace.id
    sink.secret = webhook_secret(store, workspace_id)
    return workspace_id


@pytest.fixture
def channel(store: Store, clock: ManualClock) -> Iterator[WebhookChannel]:
    c = WebhookChannel(store, clock, allowed_hosts="127.0.0.1", timeout=5)
    yield c
    c.close()


def test_the_signing_secret_is_made_once_per_workspace(store: Store) -> None:
    a = store.create_workspace("a").workspace.id
    b = store.create_workspace("b").workspace.id
    secret = webhook_secret(store, a)
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert webhook_secret(store, a) == secret
    assert webhook_secret(store, b) != secret


def test_a_delivery_is_signed_and_its_answer_captured(
    store: Store, clock: ManualClock, sink: Sink, ws: str, channel: WebhookChannel
) -> None:
    payload = {
        "url": f"{sink.url}/ok",
        "headers": {
            "X-Team": "growth",
            "Webhook-Id": "forged",
            "Host": "elsewhere",
            "Content-Type": "text/plain",
        },
        "body": {"cart": "c-1", "total": 42.5},
    }
    message = _claimed(store, "cart-1/notify/1", payload, ws)
    delivery = channel.deliver(message)

    assert delivery.outcome is Outcome.OK
    assert delivery.result["status"] == 200
    assert delivery.result["body"] == {"received": True}
    assert delivery.result["headers"]["content-type"] == "application/json"
    (request,) = sink.requests
    assert request["verified"]
    assert request["id"] == "cart-1/notify/1"
    assert request["headers"]["webhook-timestamp"] == str(int(clock.now().timestamp()))
    assert orjson.loads(request["body"]) == {"cart": "c-1", "total": 42.5}
    assert request["headers"]["x-team"] == "growth"
    assert request["headers"]["host"] == sink.url.removeprefix("http://")
    assert request["headers"]["content-type"] == "application/json"


@one_store
def test_a_text_answer_is_kept_as_text_and_put_is_a_method(
    store: Store, sink: Sink, ws: str, channel: WebhookChannel
) -> None:
    message = _claimed(store, "k", {"url": f"{sink.url}/text", "method": "put"}, ws)
    delivery = channel.deliver(message)
    assert delivery.outcome is Outcome.OK
    assert delivery.result["body"] == "thanks"
    assert sink.requests[0]["method"] == "PUT"
    assert sink.requests[0]["verified"]


@one_store
def test_a_get_sends_no_body(store: Store, sink: Sink, ws: str, channel: WebhookChannel) -> None:
    payload = {"url": f"{sink.url}/ok", "method": "GET", "body": None}
    assert channel.deliver(_claimed(store, "k", payload, ws)).outcome is Outcome.OK
    (request,) = sink.requests
    assert (request["method"], request["body"], request["verified"]) == ("GET", b"", True)
    assert "content-type" not in request["headers"]


@one_store
def test_calls_to_one_host_are_limited_to_a_few_at_once(
    store: Store, sink: Sink, ws: str, channel: WebhookChannel
) -> None:
    messages = [
        _claimed(store, f"burst-{i}", {"url": f"{sink.url}/slow", "body": {"i": i}}, ws)
        for i in range(24)
    ]
    with ThreadPoolExecutor(16) as pool:
        deliveries = list(pool.map(channel.deliver, messages))
    assert all(d.outcome is Outcome.OK for d in deliveries)
    # a burst beyond the receiver's listen backlog would be dropped and sent again later
    assert 1 < sink.most_in_flight <= PER_HOST


@one_store
@pytest.mark.parametrize(
    ("path", "outcome", "retry_after", "error"),
    [
        ("/busy", Outcome.TRANSIENT, timedelta(seconds=120), "HTTP 429"),
        ("/flaky", Outcome.TRANSIENT, None, "HTTP 500: oops"),
        ("/down", Outcome.TRANSIENT, None, "HTTP 503"),
        ("/bad", Outcome.PERMANENT, None, 'HTTP 400: {"error":"unknown cart"}'),
        ("/moved", Outcome.PERMANENT, None, "HTTP 302: redirects are not followed"),
    ],
)
def test_failures_are_transient_or_permanent(
    store: Store,
    sink: Sink,
    ws: str,
    channel: WebhookChannel,
    path: str,
    outcome: Outcome,
    retry_after: timedelta | None,
    error: str,
) -> None:
    delivery = channel.deliver(_claimed(store, "k", {"url": sink.url + path, "body": {}}, ws))
    assert (delivery.outcome, delivery.retry_after) == (outcome, retry_after)
    assert delivery.error.startswith(error)
    assert sink.count("k") == 1  # and the redirect was not followed


@one_store
def test_a_target_that_does_not_answer_is_tried_again(
    store: Store, ws: str, channel: WebhookChannel
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    delivery = channel.deliver(_claimed(store, "k", {"url": f"http://127.0.0.1:{port}/"}, ws))
    assert delivery.outcome is Outcome.TRANSIENT
    assert "ConnectError" in delivery.error


@one_store
@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("localhost", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("172.16.5.5", "private"),
        ("169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("[::1]", "loopback"),
        ("[::ffff:10.0.0.1]", "private"),
    ],
)
def test_the_guard_refuses_internal_targets(
    store: Store, clock: ManualClock, sink: Sink, ws: str, host: str, kind: str
) -> None:
    port = sink.url.rsplit(":", 1)[1]
    channel = WebhookChannel(store, clock, timeout=5)
    try:
        message = _claimed(store, "k", {"url": f"http://{host}:{port}/ok"}, ws)
        delivery = channel.deliver(message)
    finally:
        channel.close()
    assert delivery.outcome is Outcome.PERMANENT
    assert f"a {kind} address" in delivery.error
    assert "WAYLINE_WEBHOOK_ALLOWED_HOSTS" in delivery.error
    assert sink.requests == []


@one_store
@pytest.mark.parametrize("allowed", ["127.0.0.1", "localhost", " example.org , LOCALHOST"])
def test_allow_listed_hosts_are_reached(
    store: Store, clock: ManualClock, sink: Sink, ws: str, allowed: str
) -> None:
    url = sink.url if "127.0.0.1" in allowed else sink.url.replace("127.0.0.1", "localhost")
    channel = WebhookChannel(store, clock, allowed_hosts=allowed, timeout=5)
    try:
        delivery = channel.deliver(_claimed(store, "k", {"url": f"{url}/ok"}, ws))
    finally:
        channel.close()
    assert delivery.outcome is Outcome.OK
    assert sink.delivered("k") == 1


@one_store
def test_allow_listing_one_address_does_not_open_the_others(
    store: Store, clock: ManualClock, ws: str
) -> None:
    channel = WebhookChannel(store, clock, allowed_hosts="127.0.0.1", timeout=5)
    try:
        delivery = channel.deliver(_claimed(store, "k", {"url": "http://10.0.0.1/"}, ws))
    finally:
        channel.close()
    assert delivery.outcome is Outcome.PERMANENT
    assert "private" in delivery.error


@one_store
@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({}, "the webhook has no url"),
        ({"url": "ftp://example.org/x"}, "http or https"),
        ({"url": "https://example.org", "method": "TRACE"}, "method TRACE"),
        ({"url": "https://example.org", "headers": ["x"]}, "headers are not an object"),
    ],
)
def test_a_bad_payload_is_a_permanent_failure(
    store: Store, ws: str, channel: WebhookChannel, payload: dict[str, Any], error: str
) -> None:
    delivery = channel.deliver(_claimed(store, "k", payload, ws))
    assert delivery.outcome is Outcome.PERMANENT
    assert error in delivery.error


# -- the dispatcher, end to end ----------------------------------------------------------


def _dispatcher_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "webhook_allowed_hosts": "127.0.0.1",
            "webhook_timeout_seconds": 5.0,
            "dispatch_max_attempts": 3,
            "dispatch_concurrency": 4,
        }
    )


def test_the_dispatcher_delivers_once_retries_and_gives_up(
    store: Store, settings: Settings, clock: ManualClock, sink: Sink, ws: str
) -> None:
    settings = _dispatcher_settings(settings)
    sent: list[tuple[str, Any]] = []

    def on_sent(conn: Connection, message: OutboxMessage, result: Any) -> None:
        assert isinstance(conn, Connection)
        sent.append((message.idempotency_key, result))

    channels = standard_channels(store, settings, clock)
    dispatcher = Dispatcher(store, settings, clock, channels, on_sent=on_sent, rng=random.Random(7))
    outbox = OutboxStore(store)
    hooks = [(f"ok-{i}", "webhook", {"url": f"{sink.url}/ok", "body": {"i": i}}) for i in range(6)]
    _queue(
        store,
        *hooks,
        ("busy", "webhook", {"url": f"{sink.url}/busy", "body": {}}),
        ("flaky", "webhook", {"url": f"{sink.url}/flaky", "body": {}}),
        ("bad", "webhook", {"url": f"{sink.url}/bad", "body": {}}),
        ("down", "webhook", {"url": f"{sink.url}/down", "body": {}}),
        ("pigeon", "pigeon", {"to": "someone"}),
        ("note", "log", {"text": "hello"}),
        ws=ws,
    )
    try:
        assert dispatcher.step() == 12
        assert dispatcher.step() == 0  # the retries are not due yet
        busy = outbox.get(next(m.id for m in _all(store) if m.idempotency_key == "busy"))
        assert busy is not None
        assert busy.state is OutboxState.PENDING
        assert busy.next_attempt_at >= clock.now() + timedelta(seconds=120)  # Retry-After

        clock.advance(hours=1)
        assert dispatcher.step() == 3  # busy and flaky go through, down fails again
        clock.advance(hours=1)
        assert dispatcher.step() == 1  # down, third and last attempt
        clock.advance(hours=2)
        assert dispatcher.step() == 0
    finally:
        dispatcher.close()

    states = {m.idempotency_key: m.state for m in _all(store)}
    delivered = [key for key, _, _ in hooks] + ["busy", "flaky", "note"]
    assert {k for k, s in states.items() if s is OutboxState.SENT} == set(delivered)
    for key in delivered[:-1]:
        assert sink.delivered(key) == 1
        assert all(r["verified"] for r in sink.requests if r["id"] == key)
    assert sink.count("busy") == sink.count("flaky") == 2
    assert sink.count("down") == 3
    assert sorted(key for key, _ in sent) == sorted(delivered)
    assert dict(sent)["ok-0"]["body"] == {"received": True}
    log_channel = channels["log"]
    assert isinstance(log_channel, LogChannel)
    assert [line["payload"] for line in log_channel.recent] == [{"text": "hello"}]

    reasons = {m.idempotency_key: m.last_error for m in outbox.dead_letters(ws)}
    assert reasons == {
        "bad": 'HTTP 400: {"error":"unknown cart"}',
        "down": "gave up after 3 attempts: HTTP 503",
        "pigeon": "unknown channel 'pigeon'",
    }
    assert outbox.pending_count() == 0


def _all(store: Store) -> list[OutboxMessage]:
    import sqlalchemy as sa

    from wayline.store import schema

    assert isinstance(store, SqlStore)
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(schema.outbox).order_by(schema.outbox.c.id)).all()
    return [OutboxMessage.from_row(r) for r in rows]


class Crashing:
    """A channel whose every attempt dies with its dispatcher (the claim just lapses)."""

    def deliver(self, message: OutboxMessage) -> Delivery:
        raise AssertionError("never reached: the claims lapsed")

    def close(self) -> None:
        pass


def test_a_message_whose_claims_keep_lapsing_goes_dead(
    store: Store, settings: Settings, clock: ManualClock, ws: str
) -> None:
    settings = _dispatcher_settings(settings)
    _queue(store, ("poison", "crash", {}), ws=ws)
    outbox = OutboxStore(store)
    for _ in range(settings.dispatch_max_attempts):
        assert len(outbox.claim(10, LEASE)) == 1  # claimed, then the process died
        clock.advance(LEASE + timedelta(seconds=1))
    dispatcher = Dispatcher(store, settings, clock, {"crash": Crashing()})
    assert dispatcher.step() == 1
    (dead,) = outbox.dead_letters(ws)
    assert dead.last_error == "no outcome after 3 attempts"


def test_a_channel_that_raises_is_retried(
    store: Store, settings: Settings, clock: ManualClock, ws: str
) -> None:
    class Broken:
        def deliver(self, message: OutboxMessage) -> Delivery:
            raise RuntimeError("bug")

        def close(self) -> None:
            pass

    _queue(store, ("m", "broken", {}), ws=ws)
    dispatcher = Dispatcher(store, _dispatcher_settings(settings), clock, {"broken": Broken()})
    assert dispatcher.step() == 1
    (message,) = _all(store)
    assert (message.state, message.last_error) == (OutboxState.PENDING, "RuntimeError: bug")


def test_the_dispatcher_role_runs_in_a_process(
    store: Store, settings: Settings, clock: ManualClock, sink: Sink, ws: str
) -> None:
    process = Process(_dispatcher_settings(settings), [Role.DISPATCHER], store=store, clock=clock)
    assert [loop.name for loop in process.runtime.loops] == ["dispatcher"]
    _queue(store, ("k", "webhook", {"url": f"{sink.url}/ok", "body": {}}), ws=ws)
    process.runtime.drain()
    process.runtime.stop()
    assert sink.delivered("k") == 1
    assert [m.state for m in _all(store)] == [OutboxState.SENT]
