"""Batches as analytics-kotlin and analytics-swift send them to ``{apiHost}/b``.

The payloads are written by hand in the shape those SDKs build: a file of events closed with
``],"sentAt":…,"writeKey":…}``. analytics-kotlin posts it gzipped as ``text/plain`` with the
key only in the body; analytics-swift posts it as JSON with the key in Basic auth as well.
Both fetch ``{cdnHost}/projects/{writeKey}/settings`` (``cdnHost`` ending in ``/v1``) first.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from wayline.runtime import Role
from wayline.server import Process
from wayline.settings import Settings


@pytest.fixture
def wl(settings: Settings) -> Iterator[tuple[TestClient, Any]]:
    process = Process(settings, {Role.API, Role.PROFILES})
    process.migrate()
    created = process.store.create_workspace("app")
    with TestClient(process.app()) as client:
        yield client, created


def _timeline(client: TestClient, created: Any, user: str, count: int) -> list[dict[str, Any]]:
    admin = {"Authorization": f"Bearer {created.admin_token}"}
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = client.get(f"/api/v1/profiles/{user}/events", headers=admin)
        if r.status_code == 200 and len(events := r.json()["data"]) >= count:
            return events
        time.sleep(0.02)
    raise AssertionError(f"{user}'s timeline never had {count} events: {events}")


def _android_context() -> dict[str, Any]:
    return {
        "app": {
            "name": "Shop",
            "version": "2.4.0",
            "namespace": "com.example.shop",
            "build": "240",
        },
        "device": {
            "id": "3f1c0b9e",
            "manufacturer": "Google",
            "model": "Pixel 8",
            "type": "android",
        },
        "library": {"name": "analytics-kotlin", "version": "1.19.1"},
        "os": {"name": "Android", "version": "14"},
        "network": {"wifi": True, "cellular": False, "bluetooth": False},
        "screen": {"density": 2.625, "height": 2400, "width": 1080},
        "locale": "en-GB",
        "timezone": "Europe/London",
        "instanceId": "5a7e1f7c-2f7d-4f45-9d5c-6c3a2b0c8e11",
    }


def test_analytics_kotlin_batch_gzipped_text_plain_key_in_body(wl: Any) -> None:
    client, created = wl
    anonymous = "b7a6e0c2-6d1e-4c2b-9a4f-0d3f5e2a1c90"
    common = {"anonymousId": anonymous, "integrations": {}, "context": _android_context()}
    events = [
        # before identify, analytics-kotlin sends userId as an empty string
        {
            **common,
            "type": "screen",
            "name": "Home",
            "category": "",
            "properties": {},
            "userId": "",
            "messageId": "9c1b5a7e-0b8f-4a55-8c41-1d3b0e6f2a01",
            "timestamp": "2026-12-07T03:00:00.101Z",
            "_metadata": {"bundled": [], "unbundled": [], "bundledIds": []},
        },
        {
            **common,
            "type": "identify",
            "traits": {"email": "kim@example.com"},
            "userId": "kim-1",
            "messageId": "9c1b5a7e-0b8f-4a55-8c41-1d3b0e6f2a02",
            "timestamp": "2026-12-07T03:00:01.202Z",
        },
        {
            **common,
            "type": "track",
            "event": "Order Completed",
            "properties": {"revenue": 30.5, "currency": "GBP"},
            "userId": "kim-1",
            "messageId": "9c1b5a7e-0b8f-4a55-8c41-1d3b0e6f2a03",
            "timestamp": "2026-12-07T03:00:02.303Z",
        },
    ]
    # the events file: one event per write, closed when the batch is uploaded
    text = (
        '{"batch":['
        + ",".join(orjson.dumps(e).decode() for e in events)
        + f'],"sentAt":"2026-12-07T03:00:05.000Z","writeKey":"{created.write_key}"}}'
    )
    settings = client.get(
        f"/v1/projects/{created.write_key}/settings",
        headers={"User-Agent": "analytics-kotlin/1.19.1", "Content-Type": "application/json"},
    )
    assert settings.status_code == 200
    assert settings.json()["integrations"]["Segment.io"]["apiKey"] == created.write_key
    r = client.post(
        "/v1/b",
        content=gzip.compress(text.encode()),
        headers={
            "Content-Type": "text/plain",
            "Content-Encoding": "gzip",
            "User-Agent": "analytics-kotlin/1.19.1",
        },
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True}
    timeline = _timeline(client, created, "kim-1", 3)
    assert sorted(e["type"] for e in timeline) == ["identify", "screen", "track"]
    assert {e["anonymousId"] for e in timeline} == {anonymous}
    # a retried upload of the same file stores nothing twice
    again = client.post(
        "/v1/b",
        content=gzip.compress(text.encode()),
        headers={"Content-Type": "text/plain", "Content-Encoding": "gzip"},
    )
    assert again.json() == {"success": True}
    admin = {"Authorization": f"Bearer {created.admin_token}"}
    assert client.get("/api/v1/stats", headers=admin).json()["events"] == 3


def test_analytics_swift_batch_key_in_basic_auth_and_body(wl: Any) -> None:
    client, created = wl
    context = {
        "app": {"name": "Shop", "version": "2.4.0", "build": "240", "namespace": "com.example"},
        "device": {"manufacturer": "Apple", "type": "ios", "model": "iPhone15,2", "id": "A1B2"},
        "library": {"name": "analytics-swift", "version": "1.7.3"},
        "os": {"name": "iOS", "version": "18.1"},
        "network": {"wifi": True, "cellular": False},
        "screen": {"width": 393, "height": 852},
        "locale": "en-US",
        "timezone": "America/New_York",
        "instanceId": "F2E4C6A8-1B3D-4F5A-8C7E-9D0B1A2C3E4F",
    }
    anonymous = "6E0F3B2A-9C8D-4E7F-A1B2-C3D4E5F6A7B8"
    # analytics-swift leaves userId out until identify
    events = [
        {
            "type": "track",
            "event": "Application Opened",
            "properties": {"from_background": False, "version": "2.4.0", "build": "240"},
            "anonymousId": anonymous,
            "messageId": "2C1A0B9F-8E7D-4C6B-A5F4-E3D2C1B0A901",
            "timestamp": "2026-12-07T03:00:00.101Z",
            "context": context,
            "integrations": {},
        },
        {
            "type": "identify",
            "userId": "lee-1",
            "traits": {"name": "Lee"},
            "anonymousId": anonymous,
            "messageId": "2C1A0B9F-8E7D-4C6B-A5F4-E3D2C1B0A902",
            "timestamp": "2026-12-07T03:00:01.202Z",
            "context": context,
            "integrations": {},
        },
        {
            "type": "alias",
            "userId": "lee-1",
            "previousId": anonymous,
            "anonymousId": anonymous,
            "messageId": "2C1A0B9F-8E7D-4C6B-A5F4-E3D2C1B0A903",
            "timestamp": "2026-12-07T03:00:02.303Z",
            "context": context,
            "integrations": {},
        },
    ]
    # one event per line, as the file is written
    text = (
        '{ "batch": [\n'
        + ",\n".join(orjson.dumps(e).decode() for e in events)
        + f'\n],"sentAt":"2026-12-07T03:00:05.000Z","writeKey":"{created.write_key}"}}\n'
    )
    r = client.post(
        "/v1/b",
        content=text.encode(),
        auth=(created.write_key, ""),
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "analytics-ios/1.7.3",
            "Accept-Encoding": "gzip",
        },
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True}
    timeline = _timeline(client, created, "lee-1", 3)
    assert sorted(e["type"] for e in timeline) == ["alias", "identify", "track"]


def test_a_mobile_batch_with_an_unknown_key_is_refused(wl: Any) -> None:
    client, _ = wl
    body = '{"batch":[],"sentAt":"2026-12-07T03:00:05.000Z","writeKey":"wk_nope"}'
    r = client.post("/v1/b", content=body.encode(), headers={"Content-Type": "text/plain"})
    assert r.status_code == 401
    assert r.json()["field"] == "writeKey"
