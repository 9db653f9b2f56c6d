"""Browsers on other origins: CORS on the tracking API, allowed origins per workspace, the
SDKs' short paths, ``text/plain`` bodies and the settings documents the SDKs fetch."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from wayline.runtime import Role
from wayline.server import Process
from wayline.settings import Settings

SHOP = "https://shop.example.com"


@pytest.fixture
def wl(settings: Settings) -> Iterator[tuple[TestClient, Any]]:
    process = Process(settings, {Role.API, Role.PROFILES})
    process.migrate()
    created = process.store.create_workspace("acme")
    with TestClient(process.app()) as client:
        yield client, created


def _admin(created: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {created.admin_token}"}


def _timeline(client: TestClient, created: Any, user: str, count: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = client.get(f"/api/v1/profiles/{user}/events", headers=_admin(created))
        if r.status_code == 200:
            events = r.json()["data"]
            if len(events) >= count:
                return events
        time.sleep(0.02)
    raise AssertionError(f"{user}'s timeline never had {count} events: {events}")


def test_a_preflight_is_answered_for_any_origin(wl: Any) -> None:
    client, _ = wl
    r = client.options(
        "/v1/track",
        headers={
            "Origin": SHOP,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-retry-count",
        },
    )
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == SHOP
    assert "POST" in r.headers["access-control-allow-methods"]
    allowed = {h.strip().lower() for h in r.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "content-encoding", "x-retry-count"} <= allowed
    assert int(r.headers["access-control-max-age"]) > 0


def test_answers_echo_the_origin_and_the_admin_api_stays_same_origin(wl: Any) -> None:
    client, created = wl
    r = client.post(
        "/v1/track",
        json={"userId": "u", "event": "E"},
        auth=(created.write_key, ""),
        headers={"Origin": SHOP},
    )
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == SHOP
    assert "Origin" in r.headers["vary"]
    # an error answer carries it too, so that the page can read why
    r = client.post("/v1/track", json={"userId": "u"}, headers={"Origin": SHOP})
    assert r.status_code == 401
    assert r.headers["access-control-allow-origin"] == SHOP
    admin = client.get("/api/v1/stats", headers={**_admin(created), "Origin": SHOP})
    assert admin.status_code == 200
    assert "access-control-allow-origin" not in admin.headers
    preflight = client.options(
        "/api/v1/stats", headers={"Origin": SHOP, "Access-Control-Request-Method": "GET"}
    )
    assert "access-control-allow-origin" not in preflight.headers
    assert preflight.status_code == 405


@pytest.mark.parametrize(
    ("path", "body", "call"),
    [
        ("t", {"userId": "u", "event": "Clicked"}, "track"),
        ("i", {"userId": "u", "traits": {"plan": "pro"}}, "identify"),
        ("p", {"userId": "u", "name": "Home"}, "page"),
        ("s", {"userId": "u", "name": "Home"}, "screen"),
        ("g", {"userId": "u", "groupId": "acme"}, "group"),
        ("a", {"userId": "u", "previousId": "anon-1"}, "alias"),
    ],
)
def test_analytics_js_short_paths_record_their_call(
    wl: Any, path: str, body: dict[str, Any], call: str
) -> None:
    client, created = wl
    # analytics.js: text/plain, the key in Basic auth and in the body
    r = client.post(
        f"/v1/{path}",
        content=orjson.dumps({**body, "writeKey": created.write_key}),
        headers={"Content-Type": "text/plain", "Origin": SHOP},
        auth=(created.write_key, ""),
    )
    assert r.status_code == 200, r.text
    (event,) = _timeline(client, created, "u", 1)
    assert event["type"] == call


@pytest.mark.parametrize("path", ["/v1/b", "/v1/batch", "/v1/import", "/beacon/v1/batch"])
def test_batches_in_text_plain_with_the_key_in_the_body_or_the_query(wl: Any, path: str) -> None:
    client, created = wl
    batch = [
        {"type": "track", "userId": "b", "event": "One", "messageId": "m1"},
        {"type": "page", "userId": "b", "name": "Two", "messageId": "m2"},
    ]
    if path.startswith("/beacon"):
        # RudderStack's sendBeacon: the key in the query, the body a text/plain blob
        r = client.post(
            f"{path}?writeKey={created.write_key}",
            content=orjson.dumps({"batch": batch, "sentAt": "2026-12-07T03:00:00.000Z"}),
            headers={"Content-Type": "text/plain;charset=UTF-8", "Origin": SHOP},
        )
    else:
        r = client.post(
            path,
            content=orjson.dumps({"batch": batch, "writeKey": created.write_key}),
            headers={"Content-Type": "text/plain", "Origin": SHOP},
        )
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == SHOP
    events = _timeline(client, created, "b", 2)
    assert sorted(e["messageId"] for e in events) == ["m1", "m2"]


def test_allowed_origins_are_enforced_on_requests_that_carry_the_key(wl: Any) -> None:
    client, created = wl
    assert client.get("/api/v1/workspace/origins", headers=_admin(created)).json() == {
        "origins": [],
        "any_origin": True,
    }
    r = client.put(
        "/api/v1/workspace/origins",
        headers=_admin(created),
        json={"origins": ["HTTPS://Shop.Example.com:443/", "https://*.example.org"]},
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "origins": ["https://*.example.org", "https://shop.example.com"],
        "any_origin": False,
    }
    track = {"userId": "o", "event": "E"}
    auth = (created.write_key, "")
    assert client.post("/v1/t", json=track, auth=auth, headers={"Origin": SHOP}).status_code == 200
    sub = client.post("/v1/t", json=track, auth=auth, headers={"Origin": "https://a.example.org"})
    assert sub.status_code == 200
    refused = client.post("/v1/t", json=track, auth=auth, headers={"Origin": "https://evil.test"})
    assert refused.status_code == 403
    assert refused.json()["field"] == "origin"
    assert refused.headers["access-control-allow-origin"] == "https://evil.test"
    # the preflight cannot know the workspace: it is answered, the request is refused
    preflight = client.options(
        "/v1/t", headers={"Origin": "https://evil.test", "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 204
    # servers and apps send no Origin: the list does not apply to them
    assert client.post("/v1/t", json=track, auth=auth).status_code == 200
    batch = {"batch": [{**track, "type": "track"}]}
    assert client.post("/v1/batch", json=batch, auth=auth).status_code == 200
    # an empty list lets any origin send again
    r = client.put("/api/v1/workspace/origins", headers=_admin(created), json={"origins": []})
    assert r.json() == {"origins": [], "any_origin": True}
    assert (
        client.post("/v1/t", json=track, auth=auth, headers={"Origin": "https://evil.test"})
    ).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"origins": ["https://shop.example.com", "shop.example.com"]}, "origins[1]"),
        ({"origins": ["https://shop.example.com/checkout"]}, "origins[0]"),
        ({"origins": [42]}, "origins[0]"),
        ({"origins": "https://shop.example.com"}, "origins"),
    ],
)
def test_a_bad_origin_is_a_422_naming_it_and_nothing_changes(
    wl: Any, body: dict[str, Any], field: str
) -> None:
    client, created = wl
    r = client.put("/api/v1/workspace/origins", headers=_admin(created), json=body)
    assert r.status_code == 422
    assert r.json()["field"] == field
    assert client.get("/api/v1/workspace/origins", headers=_admin(created)).json()["origins"] == []


def test_origins_need_an_admin_token(wl: Any) -> None:
    client, created = wl
    assert client.get("/api/v1/workspace/origins").status_code == 401
    r = client.get(
        "/api/v1/workspace/origins", headers={"Authorization": f"Bearer {created.write_key}"}
    )
    assert r.status_code == 403


def test_analytics_js_settings_send_events_back_to_wayline(wl: Any) -> None:
    client, created = wl
    r = client.get(f"/v1/projects/{created.write_key}/settings", headers={"Origin": SHOP})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == SHOP
    segment = r.json()["integrations"]["Segment.io"]
    assert segment["apiKey"] == created.write_key
    assert segment["apiHost"] == "testserver/v1"
    assert segment["protocol"] == "http"
    assert r.json()["metrics"]["sampleRate"] == 0
    assert client.get("/v1/projects/nope/settings").status_code == 401


def test_rudderstack_source_config_has_one_enabled_source_and_no_destinations(wl: Any) -> None:
    client, created = wl
    r = client.get(
        "/sourceConfig/",
        params={"p": "npm", "v": "3.34.1", "writeKey": created.write_key},
        headers={"Origin": SHOP},
    )
    assert r.status_code == 200, r.text
    source = r.json()["source"]
    assert source["enabled"] is True
    assert source["destinations"] == []
    assert source["name"] == "acme"
    assert source["config"]["statsCollection"]["metrics"]["enabled"] is False
    assert client.get("/sourceConfig/", params={"writeKey": "nope"}).status_code == 401
