"""/api/v1/segments: apply, get with size, sizes over time, members by page, why."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.polling import wait_until
from wayline.runtime import Role
from wayline.server import Process
from wayline.settings import Settings

Api = tuple[TestClient, dict[str, str], str]


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    process = Process(settings, {Role.API, Role.PROFILES, Role.SEGMENTS})
    process.migrate()
    created = process.store.create_workspace("shop")
    with TestClient(process.app()) as client:
        yield client, {"Authorization": f"Bearer {created.admin_token}"}, created.write_key


def until(check: Any, limit: float = 20.0) -> Any:
    return wait_until(check, what="the background loops to catch up", timeout=limit)


def test_segments_over_the_api(api: Api) -> None:
    client, admin, write_key = api
    segment = {"id": "buyers", "name": "Buyers", "where": {"event": "Order Completed"}}
    r = client.post("/api/v1/segments", json=segment, headers=admin)
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["size"]) == ("created", 0)
    batch = [
        {"type": "track", "userId": f"u{i}", "event": "Order Completed", "messageId": f"m{i}"}
        for i in range(5)
    ]
    assert client.post("/v1/batch", json={"batch": batch}, auth=(write_key, "")).status_code == 200
    until(lambda: client.get("/api/v1/segments/buyers", headers=admin).json()["size"] == 5)
    got = client.get("/api/v1/segments/buyers", headers=admin).json()
    assert (got["name"], got["spec"]) == (
        "Buyers",
        segment | {"where": {"event": "Order Completed"}},
    )
    assert client.get("/api/v1/segments", headers=admin).json()["data"][0]["size"] == 5

    first = client.get("/api/v1/segments/buyers/members?limit=3", headers=admin).json()
    second = client.get(
        f"/api/v1/segments/buyers/members?limit=3&after={first['next']}", headers=admin
    ).json()
    users = [m["user_id"] for m in first["data"] + second["data"]]
    assert sorted(users) == [f"u{i}" for i in range(5)]
    assert second["next"] is None

    sizes = client.get("/api/v1/segments/buyers/sizes?interval=hour", headers=admin).json()
    assert sizes["data"][-1]["size"] == 5

    why = client.get("/api/v1/segments/buyers/members/u1", headers=admin).json()
    assert (why["member"], why["met"]) == (True, True)

    profile = client.get("/api/v1/profiles/u1", headers=admin).json()["id"]
    export = client.get(f"/api/v1/profiles/{profile}/export", headers=admin).json()
    assert [s["segment_id"] for s in export["segments"]] == ["buyers"]


def test_invalid_segments_are_refused_with_the_field(api: Api) -> None:
    client, admin, _ = api
    r = client.post(
        "/api/v1/segments",
        json={"id": "bad", "where": {"event": "X", "within": "2 days"}},
        headers=admin,
    )
    assert r.status_code == 422
    assert r.json()["field"] == "where.within"
    r = client.post(
        "/api/v1/segments", json={"id": "bad", "where": {"segment": "nope"}}, headers=admin
    )
    assert (r.status_code, r.json()["field"]) == (422, "where.segment")
    assert client.get("/api/v1/segments/bad", headers=admin).status_code == 404
    assert client.get("/api/v1/segments", headers=admin).json() == {"data": []}
    assert client.post("/api/v1/segments", content=b"[1]", headers=admin).status_code == 400
