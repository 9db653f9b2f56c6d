"""The ``webhook`` channel: an HTTP request per message, signed per Standard Webhooks.

The payload of a webhook outbox row::

    {"url": "https://crm.example.com/hooks/cart",   # required, http or https
     "method": "POST",                              # POST (default), PUT, PATCH, DELETE, GET
     "headers": {"X-Team": "growth"},               # optional, strings
     "body": {"cart": "c-1"},                       # optional JSON (null: none); as JSON
     "timeout": 5}                                  # optional, seconds, at most the setting

The answer is kept as the message's result, ``{"status", "headers", "body"}`` (the body as
JSON when it is JSON, else text, cut to 64 KB), so that a journey can use it. 2xx is
delivered; 408, 429, 5xx and network errors are tried again (Retry-After honoured); a
refused target and any other status are permanent failures.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson

from wayline import __version__
from wayline.channels.base import Delivery
from wayline.channels.netguard import AllowList, GuardedTransport, TargetRefused
from wayline.channels.secrets import webhook_secret
from wayline.channels.signing import signature_headers
from wayline.clock import Clock
from wayline.store.base import Store
from wayline.store.outbox import OutboxMessage

METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE", "GET"})
#: Most of a response body kept (and read).
BODY_LIMIT = 64 * 1024
#: Response headers kept with the result; the rest is noise or could be large.
KEPT_HEADERS = (
    "content-type",
    "date",
    "etag",
    "last-modified",
    "location",
    "retry-after",
    "request-id",
    "x-request-id",
)
#: Headers a payload may not set: they belong to the transport or to the signature.
_RESERVED = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "trailer"}
)
#: The longest wait a Retry-After can ask for: a target cannot park a message for ever.
MAX_RETRY_AFTER = timedelta(days=1)
#: Calls in flight to one host at once (what browsers allow). A burst of new connections
#: beyond a receiver's listen backlog (5 for Python's http.server) is dropped by its
#: kernel and retried by ours a second later: fewer at once arrive sooner.
PER_HOST = 6
_TRANSIENT_STATUS = frozenset({408, 429})


def retry_after(value: str | None, date: str | None = None) -> timedelta | None:
    """A Retry-After header (seconds or an HTTP date) as a delay.

    A date is taken relative to the response's own Date header when there is one, so that
    a difference between the two machines' clocks does not matter.
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(timedelta(seconds=int(value)), MAX_RETRY_AFTER)
    when = _http_date(value)
    if when is None:
        return None
    now = _http_date(date) if date else None
    delay = when - (now or datetime.now(UTC))
    return max(timedelta(0), min(delay, MAX_RETRY_AFTER))


def _http_date(value: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


class WebhookChannel:
    """Delivers webhook messages with one shared, guarded HTTP client (thread-safe)."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        allowed_hosts: str = "",
        timeout: float = 10.0,
        max_connections: int = 32,
        per_host: int = PER_HOST,
    ) -> None:
        self.store = store
        self.clock = clock
        self.timeout = timeout
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        # No redirects: a public URL could answer with a redirect to an internal one, and
        # the receiver's answer is what the journey asked for anyway.
        self.client = httpx.Client(
            transport=GuardedTransport(AllowList(allowed_hosts), limits=limits),
            follow_redirects=False,
            trust_env=False,
        )
        self._secrets: dict[str, str] = {}
        self._lock = threading.Lock()
        self.per_host = per_host
        self._hosts: dict[tuple[str, int | None], threading.BoundedSemaphore] = {}

    def close(self) -> None:
        self.client.close()

    def deliver(self, message: OutboxMessage) -> Delivery:
        payload = message.payload
        url = payload.get("url")
        if not isinstance(url, str) or not url:
            return Delivery.permanent("the webhook has no url")
        try:
            target = httpx.URL(url)
        except httpx.InvalidURL as exc:
            return Delivery.permanent(f"invalid url: {exc}")
        if target.scheme not in ("http", "https") or not target.host:
            return Delivery.permanent(f"invalid url {url!r}: http or https with a host only")
        method = str(payload.get("method") or "POST").upper()
        if method not in METHODS:
            return Delivery.permanent(f"method {method} is not one of {', '.join(sorted(METHODS))}")
        given = payload.get("headers") or {}
        if not isinstance(given, dict):
            return Delivery.permanent("the webhook's headers are not an object")
        # lower-cased, so that the headers set below replace a payload's, whatever its case
        headers = {
            str(k).lower(): str(v)
            for k, v in given.items()
            if str(k).lower() not in _RESERVED and not str(k).lower().startswith("webhook-")
        }
        # no body, or null (a node without one): nothing is sent
        body = b"" if payload.get("body") is None else orjson.dumps(payload["body"])
        headers["user-agent"] = f"Wayline-Webhooks/{__version__}"
        if body:
            headers["content-type"] = "application/json"
        timestamp = int(self.clock.now().timestamp())
        secret = self._secret(message.workspace_id)
        headers.update(signature_headers(secret, message.idempotency_key, timestamp, body))
        timeout = self._timeout(payload.get("timeout"))
        try:
            request = self.client.build_request(
                method, target, content=body, headers=headers, timeout=timeout
            )
        except (ValueError, TypeError) as exc:  # e.g. a header that is not ASCII
            return Delivery.permanent(f"cannot send: {exc}")
        try:
            with self._slot(target.host, target.port):
                response = self.client.send(request, stream=True)
                try:
                    answer = _capture(response, time.monotonic() + timeout)
                finally:
                    response.close()
        except TargetRefused as exc:
            return Delivery.permanent(str(exc))
        except (httpx.UnsupportedProtocol, httpx.LocalProtocolError) as exc:
            return Delivery.permanent(f"cannot send: {exc}")
        except httpx.TimeoutException as exc:
            return Delivery.transient(f"timed out: {type(exc).__name__} {exc}".rstrip())
        except httpx.TransportError as exc:
            return Delivery.transient(f"{type(exc).__name__}: {exc}".rstrip(": "))
        return _judge(answer, response)

    def _timeout(self, asked: Any) -> float:
        try:
            seconds = float(asked)
        except (TypeError, ValueError):
            return self.timeout
        return min(seconds, self.timeout) if seconds > 0 else self.timeout

    def _slot(self, host: str, port: int | None) -> threading.BoundedSemaphore:
        """One of the host's :data:`PER_HOST` places, held for the whole call."""
        with self._lock:
            found = self._hosts.get((host, port))
            if found is None:
                found = self._hosts[(host, port)] = threading.BoundedSemaphore(self.per_host)
        return found

    def _secret(self, workspace_id: str) -> str:
        # The secret never changes once created: one lookup per workspace per process.
        with self._lock:
            found = self._secrets.get(workspace_id)
        if found is None:
            found = webhook_secret(self.store, workspace_id)
            with self._lock:
                self._secrets[workspace_id] = found
        return found


def _capture(response: httpx.Response, deadline: float) -> dict[str, Any]:
    """The answer as kept: status, a few headers, at most ``BODY_LIMIT`` of the body.

    Reading stops at the limit or the deadline (a status already received stands: a slow
    or endless body does not turn a delivery into a failure).
    """
    chunks: list[bytes] = []
    size = 0
    truncated = False
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > BODY_LIMIT or time.monotonic() > deadline:
            truncated = True
            break
    raw = b"".join(chunks)[:BODY_LIMIT]
    body: Any = None
    ctype = response.headers.get("content-type", "").lower()
    if raw and "json" in ctype and not truncated:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
    if body is None and raw:
        body = raw.decode(response.charset_encoding or "utf-8", errors="replace")
    answer: dict[str, Any] = {
        "status": response.status_code,
        "headers": {h: response.headers[h] for h in KEPT_HEADERS if h in response.headers},
        "body": body,
    }
    if truncated:
        answer["truncated"] = True
    return answer


def _judge(answer: dict[str, Any], response: httpx.Response) -> Delivery:
    status = response.status_code
    if 200 <= status < 300:
        return Delivery.ok(answer)
    body = answer["body"]
    snippet = body if isinstance(body, str) else orjson.dumps(body).decode()
    error = f"HTTP {status}" + (f": {snippet[:300]}" if body else "")
    if status in _TRANSIENT_STATUS or status >= 500:
        delay = retry_after(response.headers.get("retry-after"), response.headers.get("date"))
        return Delivery.transient(error, retry_after=delay)
    if 300 <= status < 400:
        location = response.headers.get("location", "")
        return Delivery.permanent(f"HTTP {status}: redirects are not followed ({location})")
    return Delivery.permanent(error)
