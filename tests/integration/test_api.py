"""The HTTP API in-process, on both stores (the acceptance tier drives a real server)."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.polling import wait_until
from wayline.runtime import Role
from wayline.server import Process
from wayline.settings import Settings


@pytest.fixture
def wl(settings: Settings) -> Iterator[tuple[TestClient, Any]]:
    process = Process(settings, {Role.API, Role.PROFILES})
    process.migrate()
    created = process.store.create_workspace("acme")
    with TestClient(process.app()) as client:
        yield client, created


def _auth(created: Any) -> tuple[str, str]:
    return (created.write_key, "")


def _admin(created: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {created.admin_token}"}


def _wait_stats(client: TestClient, created: Any, **want: int) -> dict[str, Any]:
    def stats() -> dict[str, Any] | None:
        found: dict[str, Any] = client.get("/api/v1/stats", headers=_admin(created)).json()
        return found if all(found.get(k) == v for k, v in want.items()) else None

    return wait_until(stats, what=f"the stats to reach {want}")


@pytest.mark.parametrize(
    ("call", "body"),
    [
        ("track", {"userId": "u", "event": "E"}),
        ("identify", {"userId": "u", "traits": {"a": 1}}),
        ("page", {"anonymousId": "a", "name": "Home"}),
        ("screen", {"anonymousId": "a", "name": "Home"}),
        ("group", {"userId": "u", "groupId": "g"}),
        ("alias", {"userId": "u", "previousId": "a"}),
    ],
)
def test_each_call_answers_exactly_success(wl: Any, call: str, body: dict[str, Any]) -> None:
    client, created = wl
    r = client.post(f"/v1/{call}", json=body, auth=_auth(created))
    assert r.status_code == 200
    assert r.json() == {"success": True}
    _wait_stats(client, created, events=1)


def test_gzip_body_and_write_key_in_body(wl: Any) -> None:
    client, created = wl
    body = {
        "writeKey": created.write_key,
        "batch": [{"type": "track", "userId": "u", "event": "E", "messageId": "g1"}],
    }
    r = client.post(
        "/v1/batch",
        content=gzip.compress(orjson.dumps(body)),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert r.json() == {"success": True}
    _wait_stats(client, created, events=1)


def test_resent_message_ids_count_once(wl: Any) -> None:
    client, created = wl
    batch = {
        "batch": [
            {"type": "track", "userId": "u", "event": "E", "messageId": f"m{i}"} for i in range(10)
        ]
    }
    for _ in range(3):
        assert client.post("/v1/batch", json=batch, auth=_auth(created)).status_code == 200
    _wait_stats(client, created, events=10, profiles=1)


def test_mixed_batch_lands_the_valid_and_names_the_invalid(wl: Any) -> None:
    client, created = wl
    batch = {
        "batch": [
            {"type": "track", "userId": "u", "event": "Good", "messageId": "ok-1"},
            {"type": "track", "userId": "u", "messageId": "bad-1"},
            {"type": "explode", "userId": "u", "messageId": "bad-2"},
            {"type": "page", "userId": "u", "messageId": "ok-2"},
        ]
    }
    r = client.post("/v1/batch", json=batch, auth=_auth(created))
    assert r.status_code == 200
    body = r.json()
    assert body["accepted"] == 2
    assert [(x["index"], x["field"], x["messageId"]) for x in body["rejected"]] == [
        (1, "event", "bad-1"),
        (2, "type", "bad-2"),
    ]
    _wait_stats(client, created, events=2, rejected=2)
    kept = client.get("/api/v1/rejections", headers=_admin(created)).json()["data"]
    assert {x["message_id"] for x in kept} == {"bad-1", "bad-2"}


def test_batch_with_nothing_valid_is_a_400_naming_the_item(wl: Any) -> None:
    client, created = wl
    r = client.post(
        "/v1/batch", json={"batch": [{"type": "track", "userId": "u"}]}, auth=_auth(created)
    )
    assert r.status_code == 400
    assert r.json()["field"] == "batch[0].event"


@pytest.mark.parametrize(
    ("kwargs", "status", "needle"),
    [
        ({"content": b'{"userId": "u", "event": '}, 400, "malformed JSON"),
        ({"content": b'{"userId": "\xff\xfe", "event": "X"}'}, 400, "UTF-8"),
        ({"content": b""}, 400, "empty body"),
        ({"content": b"[1, 2]"}, 400, "JSON object"),
        ({"json": {"userId": "u", "event": "E", "properties": {"x": "y" * 40_000}}}, 413, "limit"),
        ({"json": {"userId": "u", "event": "E", "timestamp": "soon"}}, 400, "ISO 8601"),
        ({"json": {"userId": "u", "event": "E", "properties": [1]}}, 400, "object"),
    ],
)
def test_bad_single_calls_get_a_clear_json_error(
    wl: Any, kwargs: dict[str, Any], status: int, needle: str
) -> None:
    client, created = wl
    r = client.post("/v1/track", auth=_auth(created), **kwargs)
    assert r.status_code == status
    body = r.json()
    assert needle in body["error"]
    # what the SDKs read from an error
    assert body["message"] == body["error"]
    assert body["code"] == ("payload_too_large" if status == 413 else "invalid_request")
    assert "field" in body


def test_oversize_batch_is_413(wl: Any) -> None:
    client, created = wl
    batch = {
        "batch": [
            {
                "type": "track",
                "userId": "u",
                "event": "E",
                "messageId": f"b{i}",
                "properties": {"p": "y" * 20_000},
            }
            for i in range(30)
        ]
    }
    r = client.post("/v1/batch", json=batch, auth=_auth(created))
    assert r.status_code == 413
    assert r.json()["field"] == "batch"


def test_body_claiming_gzip_that_is_not(wl: Any) -> None:
    client, created = wl
    r = client.post(
        "/v1/batch",
        content=b'{"batch": []}',
        auth=_auth(created),
        headers={"Content-Encoding": "gzip"},
    )
    assert r.status_code == 400
    assert "gzip" in r.json()["error"]


def test_keys_are_checked(wl: Any) -> None:
    client, created = wl
    event = {"userId": "u", "event": "E"}
    assert client.post("/v1/track", json=event).status_code == 401
    assert client.post("/v1/track", json=event, auth=("wk_nope", "")).status_code == 401
    assert client.post("/v1/track", json=event, auth=(created.admin_token, "")).status_code == 401
    assert client.get("/api/v1/stats").status_code == 401
    r = client.get("/api/v1/stats", headers={"Authorization": f"Bearer {created.write_key}"})
    assert r.status_code == 403
    assert "error" in r.json()


def test_profile_lookup_timeline_pages_and_erase(wl: Any) -> None:
    client, created = wl
    batch = [
        {
            "type": "identify",
            "userId": "ann",
            "anonymousId": "anon-ann",
            "traits": {"email": "ann@example.com"},
            "messageId": "id-1",
            "timestamp": "2026-01-01T00:00:00Z",
        }
    ]
    batch += [
        {
            "type": "track",
            "anonymousId": "anon-ann",
            "event": f"E{i}",
            "messageId": f"t{i}",
            "timestamp": f"2026-01-02T00:00:{i:02d}Z",
        }
        for i in range(5)
    ]
    assert client.post("/v1/batch", json={"batch": batch}, auth=_auth(created)).status_code == 200
    _wait_stats(client, created, events=6, profiles=1)
    for key in ("ann", "anon-ann", "ann@example.com", "ANN@example.com"):
        r = client.get(f"/api/v1/profiles/{key}", headers=_admin(created))
        assert r.status_code == 200, key
        assert r.json()["user_id"] == "ann"
    seen: list[str] = []
    url = "/api/v1/profiles/ann/events?limit=4"
    while url:
        page = client.get(url, headers=_admin(created)).json()
        seen += [e["messageId"] for e in page["data"]]
        url = f"/api/v1/profiles/ann/events?limit=4&before={page['next']}" if page["next"] else ""
    assert seen == ["t4", "t3", "t2", "t1", "t0", "id-1"]
    r = client.delete("/api/v1/profiles/ann@example.com", headers=_admin(created))
    assert r.status_code == 200
    assert r.json()["deleted"]["events"] == 6
    assert client.get("/api/v1/profiles/ann", headers=_admin(created)).status_code == 404
    _wait_stats(client, created, events=0, profiles=0)


def test_unknown_profile_is_404_json(wl: Any) -> None:
    client, created = wl
    r = client.get("/api/v1/profiles/nobody", headers=_admin(created))
    assert r.status_code == 404
    assert "nobody" in r.json()["error"]


def test_openapi_is_served(wl: Any) -> None:
    client, _ = wl
    spec = client.get("/openapi.json").json()
    assert "/v1/batch" in spec["paths"]
    assert "/api/v1/profiles/{profile_id}" in spec["paths"]
