"""``GET /api/v1/profiles/{id}/events``: a customer's timeline, newest first, page by page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.acceptance.harness import WaylineServer, Workspace

START = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)
#: Events per timestamp: page boundaries fall inside runs of equal times.
SAME_TIME = 7


def at(k: int) -> str:
    when = START + timedelta(minutes=k // SAME_TIME)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture(scope="module")
def ws(server: WaylineServer) -> Workspace:
    return server.create_workspace("timeline")


def test_pages_follow_next_through_the_whole_timeline_once(
    server: WaylineServer, ws: Workspace
) -> None:
    http = server.http
    # 40 anonymous events, then an identify tying them to the user, then 96 as the user; other
    # customers' events in between must not show up.
    items: list[dict[str, Any]] = []
    for k in range(137):
        if k < 40:
            who = {"anonymousId": "pager-anon"}
        elif k == 40:
            items.append(
                {"type": "identify", "userId": "pager", "anonymousId": "pager-anon",
                 "timestamp": at(k), "messageId": f"p-{k}"}
            )  # fmt: skip
            continue
        else:
            who = {"userId": "pager"}
        items.append(
            {"type": "track", "event": "Step", "timestamp": at(k), "messageId": f"p-{k}",
             "properties": {"k": k}, **who}
        )  # fmt: skip
        items.append(
            {"type": "track", "event": "Other", "userId": f"other-{k % 3}", "timestamp": at(k)}
        )
    for start in range(0, len(items), 50):
        r = http.post("/v1/batch", json={"batch": items[start : start + 50]}, auth=ws.auth)
        assert r.status_code == 200, r.text
        assert r.json() == {"success": True}
    server.barrier()
    mine = [i["messageId"] for i in items if "messageId" in i]

    whole = server.http.get(
        "/api/v1/profiles/pager/events", headers=ws.admin, params={"limit": 1000}
    ).json()
    assert whole["next"] is None
    assert sorted(e["messageId"] for e in whole["data"]) == sorted(mine)
    times = [e["timestamp"] for e in whole["data"]]
    assert times == sorted(times, reverse=True)
    assert times[0] == at(136)
    assert times[-1] == at(0)

    pages = []
    for page in server.timeline_pages(ws, "pager", limit=20):
        pages.append(page)
        if len(pages) == 1:
            # Events newer than the first page arrive while the client pages on: the pages
            # that follow go on from where the previous one ended, without them.
            r = http.post(
                "/v1/batch",
                json={"batch": [{"type": "track", "event": "Late", "userId": "pager",
                                 "messageId": f"late-{n}"} for n in range(5)]},
                auth=ws.auth,
            )  # fmt: skip
            assert r.status_code == 200
            server.barrier()
    assert [len(p) for p in pages] == [20] * 6 + [17]
    paged = [e for p in pages for e in p]
    assert paged == whole["data"]

    # The same customer is reached by the profile id, the anonymousId, the userId.
    profile = server.profile(ws, "pager-anon")
    assert profile is not None
    for any_id in (profile["id"], "pager-anon"):
        r = http.get(f"/api/v1/profiles/{any_id}/events", headers=ws.admin, params={"limit": 3})
        assert [e["messageId"] for e in r.json()["data"]] == [f"late-{n}" for n in (4, 3, 2)]


def test_bad_page_parameters_get_a_4xx_json_error(server: WaylineServer, ws: Workspace) -> None:
    r = server.http.post("/v1/identify", json={"userId": "pp"}, auth=ws.auth)
    assert r.status_code == 200
    server.barrier()
    cases: list[tuple[dict[str, str | int], int]] = [
        ({"before": "not-a-token"}, 400),
        ({"before": "WyJub3QgYSB0aW1lIiwgMV0="}, 400),  # ["not a time", 1]
        ({"limit": 0}, 422),
        ({"limit": 1001}, 422),
        ({"limit": "ten"}, 422),
    ]
    for params, status in cases:
        r = server.http.get("/api/v1/profiles/pp/events", headers=ws.admin, params=params)
        assert r.status_code == status, (params, r.text)
        body = r.json()
        assert body["error"], body
        name = next(iter(params))
        assert name in body["error"] or body.get("field", "").endswith(name), body
    r = server.http.get("/api/v1/profiles/nobody/events", headers=ws.admin)
    assert r.status_code == 404
    assert "nobody" in r.json()["error"]
