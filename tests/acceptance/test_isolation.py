"""Workspace isolation: one workspace's write key and admin token reach nothing of another's."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pytest

from tests.acceptance.harness import WaylineServer, Workspace


@dataclass(frozen=True, kw_only=True)
class Pair:
    a: Workspace
    b: Workspace
    #: Left empty for the test that sends to it.
    c: Workspace
    #: B's customer, as B's own admin token sees it.
    b_profile_id: str
    b_events: int


@pytest.fixture(scope="module")
def pair(server: WaylineServer) -> Pair:
    a, b, c = server.create_workspaces("alpha", "beta", "gamma")
    http = server.http
    for path, body in [
        (
            "/v1/identify",
            {
                "userId": "only-in-b",
                "anonymousId": "anon-b",
                "traits": {"email": "b@example.com", "plan": "gold"},
                "messageId": "shared-1",
            },
        ),
        ("/v1/track", {"userId": "only-in-b", "event": "B Thing", "messageId": "b-2"}),
    ]:
        assert http.post(path, json=body, auth=b.auth).status_code == 200
    r = http.post(
        "/v1/track",
        json={"userId": "only-in-a", "event": "A Thing", "messageId": "a-1"},
        auth=a.auth,
    )
    assert r.status_code == 200
    # B also has a rejected item, which A must not be able to read.
    batch = [
        {"type": "track", "userId": "only-in-b", "messageId": "b-bad"},
        {"type": "track", "userId": "only-in-b", "event": "E", "messageId": "b-3"},
    ]
    r = http.post("/v1/batch", json={"batch": batch}, auth=b.auth)
    assert r.status_code == 200
    server.barrier()
    profile = server.profile(b, "only-in-b")
    assert profile is not None
    return Pair(a=a, b=b, c=c, b_profile_id=profile["id"], b_events=server.stats(b)["events"])


def b_is_intact(server: WaylineServer, pair: Pair) -> None:
    assert server.stats(pair.b) == {"events": pair.b_events, "profiles": 1, "rejected": 1}
    profile = server.profile(pair.b, "only-in-b")
    assert profile is not None
    assert profile["id"] == pair.b_profile_id
    assert profile["traits"] == {"email": "b@example.com", "plan": "gold"}
    timeline = server.timeline(pair.b, pair.b_profile_id)
    assert sorted(e["messageId"] for e in timeline) == ["b-2", "b-3", "shared-1"]


def test_a_write_key_lands_events_only_in_its_own_workspace(
    server: WaylineServer, pair: Pair
) -> None:
    http = server.http
    c, b = pair.c, pair.b
    # C's key sending B's userId, B's messageIds, even B's key in the body: all land in C.
    r = http.post(
        "/v1/batch",
        json={
            "writeKey": b.write_key,
            "batch": [
                {"type": "track", "userId": "only-in-b", "event": "Sneak", "messageId": "shared-1"},
                {"type": "identify", "userId": "only-in-b", "traits": {"plan": "stolen"}},
                {"type": "alias", "previousId": "anon-b", "userId": "only-in-a"},
            ],
        },
        auth=c.auth,
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True}
    assert server.stats(c)["events"] == 3
    # B's admin token is not a write key, whichever way it is sent.
    r = http.post("/v1/track", json={"userId": "x", "event": "E"}, auth=(b.admin_token, ""))
    assert r.status_code == 401
    r = http.post(
        "/v1/batch",
        json={"writeKey": b.admin_token, "batch": [{"type": "track", "userId": "x", "event": "E"}]},
    )
    assert r.status_code == 401
    server.barrier()

    b_is_intact(server, pair)
    in_c = server.profile(c, "only-in-b")
    assert in_c is not None
    assert in_c["id"] != pair.b_profile_id
    assert in_c["traits"] == {"plan": "stolen"}
    # The alias in C tied C's own ids, not B's anonymousId's profile.
    assert server.profile(b, "only-in-a") is None
    assert server.stats(b)["profiles"] == 1
    assert server.stats(c) == {"events": 3, "profiles": 2, "rejected": 0}


def test_an_admin_token_reads_and_erases_nothing_of_another_workspace(
    server: WaylineServer, pair: Pair
) -> None:
    http = server.http
    a, b = pair.a, pair.b
    for any_id in ("only-in-b", "anon-b", "b@example.com", "B@Example.com", pair.b_profile_id):
        r = http.get(f"/api/v1/profiles/{any_id}", headers=a.admin)
        assert r.status_code == 404, (any_id, r.text)
        assert "error" in r.json()
        r = http.get(f"/api/v1/profiles/{any_id}/events", headers=a.admin)
        assert r.status_code == 404, (any_id, r.text)
        r = http.delete(f"/api/v1/profiles/{any_id}", headers=a.admin)
        assert r.status_code == 404, (any_id, r.text)
    # A's stats and rejections are A's alone.
    assert server.stats(a) == {"events": 1, "profiles": 1, "rejected": 0}
    r = http.get("/api/v1/rejections", headers=a.admin)
    assert r.status_code == 200
    assert r.json()["data"] == []
    # B's own token still sees all of B, after A's attempts.
    b_is_intact(server, pair)
    r = http.get("/api/v1/rejections", headers=b.admin)
    assert [(e["position"], e["field"]) for e in r.json()["data"]] == [(0, "event")]
    # And A's token does not find A's own profile through B's ids.
    assert server.profile(a, "only-in-a") is not None
    assert server.profile(b, "only-in-a") is None


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/stats"),
        ("GET", "/api/v1/rejections"),
        ("GET", "/api/v1/profiles/only-in-b"),
        ("GET", "/api/v1/profiles/only-in-b/events"),
        ("DELETE", "/api/v1/profiles/only-in-b"),
    ],
)
def test_the_admin_api_needs_an_admin_token(
    server: WaylineServer, pair: Pair, method: str, path: str
) -> None:
    http = server.http
    b = pair.b
    cases: list[tuple[dict[str, str], int]] = [
        ({}, 401),
        ({"Authorization": "Bearer"}, 401),
        ({"Authorization": "Bearer wa_not-a-token"}, 401),
        (
            {"Authorization": "Basic " + base64.b64encode(f"{b.admin_token}:".encode()).decode()},
            401,
        ),
        ({"Authorization": f"Bearer {b.write_key}"}, 403),
    ]
    for headers, status in cases:
        r = http.request(method, path, headers=headers)
        assert r.status_code == status, (headers, r.text)
        assert r.json()["error"]
    b_is_intact(server, pair)
