"""The door of the HTTP API, driven as ASGI on both stores so that what a route reads of a
body is counted: callers are authenticated before a body is read, and a body is stopped at
its limit while it is read, never held whole."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
import pytest
from fastapi import FastAPI

from wayline.runtime import Role
from wayline.server import Process
from wayline.settings import Settings

CHUNK = 64 * 1024
#: 150 MB, sent in 64 KiB chunks made as they are asked for.
HUGE = 2400


@pytest.fixture
def wl(settings: Settings) -> Iterator[tuple[FastAPI, Any, Settings]]:
    process = Process(settings, {Role.API})
    process.migrate()
    created = process.store.create_workspace("acme")
    yield process.app(), created, settings
    process.store.close()


class Sent:
    """What a client sent and what it got back."""

    def __init__(self) -> None:
        self.read = 0
        self.status = 0
        self.body = b""


def call(
    app: FastAPI,
    method: str,
    path: str,
    chunks: Iterable[bytes],
    headers: dict[str, str] | None = None,
) -> Sent:
    sent = Sent()
    pending = iter(chunks)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }

    async def receive() -> dict[str, Any]:
        chunk = next(pending, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        sent.read += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sent.status = message["status"]
        elif message["type"] == "http.response.body":
            sent.body += message.get("body", b"")

    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    return sent


def huge() -> Iterator[bytes]:
    yield b'{"batch": [{"type": "track", "userId": "u", "event": "'
    for _ in range(HUGE):
        yield b"x" * CHUNK


def test_an_unauthenticated_huge_body_is_stopped_at_the_limit(wl: Any) -> None:
    app, _created, settings = wl

    got = call(app, "POST", "/v1/batch", huge(), {"Content-Type": "application/json"})

    assert got.status == 413, got.body
    answer = orjson.loads(got.body)
    assert answer["field"] == "batch"
    assert answer["limit"] == settings.max_batch_bytes
    assert got.read <= settings.max_batch_bytes + CHUNK


def test_a_declared_length_over_the_limit_is_refused_unread(wl: Any) -> None:
    app, _created, _settings = wl
    headers = {"Content-Type": "application/json", "Content-Length": str(HUGE * CHUNK)}

    got = call(app, "POST", "/v1/track", huge(), headers)

    assert got.status == 413, got.body
    assert orjson.loads(got.body)["field"] == "body"
    assert got.read == 0


def test_a_wrong_write_key_in_a_header_is_refused_before_the_body_is_read(wl: Any) -> None:
    app, _created, _settings = wl
    # "wk_nope:" in HTTP basic
    headers = {"Content-Type": "application/json", "Authorization": "Basic d2tfbm9wZTo="}

    got = call(app, "POST", "/v1/batch", huge(), headers)

    assert got.status == 401, got.body
    assert orjson.loads(got.body)["field"] == "writeKey"
    assert got.read == 0


def test_a_write_key_in_the_body_still_works(wl: Any) -> None:
    app, created, _settings = wl
    body = {
        "writeKey": created.write_key,
        "batch": [{"type": "track", "userId": "u", "event": "E", "messageId": "m1"}],
    }

    got = call(app, "POST", "/v1/batch", [orjson.dumps(body)], {"Content-Type": "text/plain"})

    assert got.status == 200, got.body
    assert orjson.loads(got.body) == {"success": True}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic d2tfbm9wZTo="}],
)
def test_the_admin_api_refuses_an_unknown_caller_before_reading_the_body(
    wl: Any, headers: dict[str, str]
) -> None:
    app, _created, _settings = wl

    got = call(app, "POST", "/api/v1/journeys/j1/enroll", [b"{not json"], headers)
    huge_got = call(app, "POST", "/api/v1/segments", huge(), headers)

    assert got.status == 401, got.body
    assert "error" in orjson.loads(got.body)
    assert got.read == 0
    assert huge_got.status == 401
    assert huge_got.read == 0


def test_the_admin_api_refuses_a_write_key_before_reading_the_body(wl: Any) -> None:
    app, created, _settings = wl
    headers = {"Authorization": f"Bearer {created.write_key}"}

    got = call(app, "POST", "/api/v1/journeys/j1/enroll", [b"{not json"], headers)

    assert got.status == 403, got.body
    assert got.read == 0


def test_an_admin_body_is_stopped_at_the_limit(wl: Any) -> None:
    app, created, settings = wl
    headers = {"Authorization": f"Bearer {created.admin_token}", "Content-Type": "text/yaml"}

    got = call(app, "POST", "/api/v1/segments", huge(), headers)

    assert got.status == 413, got.body
    assert orjson.loads(got.body)["field"] == "body"
    assert got.read <= settings.max_request_bytes + CHUNK
