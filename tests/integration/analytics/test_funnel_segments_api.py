"""Funnels by segment, drop-offs saved as a static segment, and static members by hand,
over the API in-process, on both stores (embedded DuckDB warehouse)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.integration.analytics.test_analytics_api import api

__all__ = ["api"]

Api = tuple[TestClient, dict[str, str]]
STEPS = ["Page Viewed", "Product Viewed", "Order Completed"]
QUERY = "steps=Page+Viewed&steps=Product+Viewed&steps=Order+Completed"


def by_breakdown(rows: list[dict[str, Any]]) -> dict[str, list[int]]:
    got: dict[str, list[int]] = {}
    for r in rows:
        got.setdefault(r["breakdown"], []).append(r["customers"])
    return got


def test_save_dropped_then_break_down_by_it(api: Api) -> None:
    client, admin = api
    # a does all three steps, b stops after Product Viewed, c after Page Viewed
    body = {"steps": STEPS, "step": 3, "segment_id": "stalled", "name": "Stalled at checkout"}
    saved = client.post("/api/v1/analytics/funnel/dropped", json=body, headers=admin)
    assert saved.status_code == 201, saved.text
    assert saved.json() == {
        "segment_id": "stalled",
        "name": "Stalled at checkout",
        "dropped": 1,
        "size": 1,
    }
    got = client.get("/api/v1/segments/stalled", headers=admin).json()
    assert (got["static"], got["size"], got["spec"]) == (
        True,
        1,
        {"id": "stalled", "name": "Stalled at checkout", "static": True},
    )
    members = client.get("/api/v1/segments/stalled/members", headers=admin).json()["data"]
    assert [m["user_id"] for m in members] == ["b"]

    funnel = client.get(f"/api/v1/analytics/funnel?{QUERY}&breakdown=segment", headers=admin)
    assert funnel.status_code == 200, funnel.text
    assert by_breakdown(funnel.json()["steps"]) == {"(none)": [2, 1, 1], "stalled": [1, 1, 0]}

    added = client.post(
        "/api/v1/segments/stalled/members", json={"user_ids": ["c", "b"]}, headers=admin
    )
    assert added.json() == {"id": "stalled", "added": 1, "unchanged": 1, "size": 2}
    removed = client.request(
        "DELETE", "/api/v1/segments/stalled/members", json={"user_ids": ["b"]}, headers=admin
    )
    assert removed.json() == {"id": "stalled", "removed": 1, "unchanged": 0, "size": 1}
    funnel = client.get(
        f"/api/v1/analytics/funnel?{QUERY}&breakdown=segment:stalled", headers=admin
    ).json()
    assert by_breakdown(funnel["steps"]) == {"(none)": [2, 2, 1], "stalled": [1, 0, 0]}
    dropped = client.get(
        f"/api/v1/analytics/funnel/dropped?{QUERY}&step=2&breakdown=segment:stalled",
        headers=admin,
    ).json()
    assert dropped == {"data": [{"customer": "c", "breakdown": "stalled"}]}


def test_bad_input_is_a_4xx_naming_the_field(api: Api) -> None:
    client, admin = api
    good = {"steps": STEPS, "step": 2, "segment_id": "left"}
    assert client.post("/api/v1/analytics/funnel/dropped", json=good, headers=admin).is_success
    dynamic = {"id": "buyers", "where": {"event": "Order Completed"}}
    assert client.post("/api/v1/segments", json=dynamic, headers=admin).is_success
    for path, body, status, field in (
        ("/api/v1/analytics/funnel/dropped", good, 409, "segment_id"),
        ("/api/v1/analytics/funnel/dropped", {**good, "segment_id": "no way!"}, 422, "segment_id"),
        ("/api/v1/analytics/funnel/dropped", {**good, "step": 9, "segment_id": "x"}, 422, "step"),
        ("/api/v1/analytics/funnel/dropped", {"steps": STEPS, "step": 2}, 422, "segment_id"),
        (
            "/api/v1/analytics/funnel/dropped",
            {**good, "mode": "up", "segment_id": "y"},
            422,
            "mode",
        ),
        ("/api/v1/analytics/funnel/dropped", {**good, "extra": 1}, 422, "extra"),
        ("/api/v1/segments/left/members", {"user_ids": ["a", "zed"]}, 422, "user_ids[1]"),
        ("/api/v1/segments/left/members", {"profile_ids": ["nope"]}, 422, "profile_ids[0]"),
        ("/api/v1/segments/left/members", {}, 422, "profile_ids"),
        ("/api/v1/segments/left/members", {"user_ids": "a"}, 422, "user_ids"),
        ("/api/v1/segments/buyers/members", {"user_ids": ["a"]}, 409, "segment_id"),
    ):
        r = client.post(path, json=body, headers=admin)
        assert (r.status_code, r.json().get("field")) == (status, field), (body, r.text)
        assert r.json()["error"].startswith(field)
    # nothing was half-done: the list is as saved
    size = client.get("/api/v1/segments/left", headers=admin).json()["size"]
    assert size == 1
    missing = client.post("/api/v1/segments/nope/members", json={"user_ids": ["a"]}, headers=admin)
    assert missing.status_code == 404
    unknown = client.get(f"/api/v1/analytics/funnel?{QUERY}&breakdown=segment:nope", headers=admin)
    assert (unknown.status_code, unknown.json()["field"]) == (422, "breakdown")
