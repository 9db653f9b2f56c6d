"""Segments on a running ``wayline serve``: members follow events at once, leave when a
window runs out, and a journey entered on a segment enrols new members."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.acceptance.harness import WaylineServer, Workspace, wait_until

REPEAT = """\
id: repeat-buyers
name: Ordered at least twice in 30 days
where: {event: Order Completed, at_least: 2, within: 30d}
"""
BROWSING = """\
id: browsing-now
where: {event: Product Viewed, within: 3s}
"""
WELCOME = """\
id: welcome-repeat
entry: {segment: repeat-buyers}
nodes:
  - {id: done, type: exit}
"""


def _apply(server: WaylineServer, ws: Workspace, tmp_path: Path, kind: str, text: str) -> None:
    path = tmp_path / f"{kind}-{abs(hash(text))}.yaml"
    path.write_text(text)
    server.cli(kind, "apply", str(path), "--workspace", ws.name)


def _send(server: WaylineServer, ws: Workspace, events: list[dict[str, Any]]) -> None:
    r = server.http.post("/v1/batch", json={"batch": events}, auth=ws.auth)
    assert r.status_code == 200, r.text


def _size(server: WaylineServer, ws: Workspace, segment: str) -> int:
    r = server.http.get(f"/api/v1/segments/{segment}", headers=ws.admin)
    assert r.status_code == 200, r.text
    size: int = r.json()["size"]
    return size


def test_membership_follows_events_and_journeys_enter_on_it(
    server: WaylineServer, tmp_path: Path
) -> None:
    ws = server.create_workspace("segments")
    _apply(server, ws, tmp_path, "segments", REPEAT)
    _apply(server, ws, tmp_path, "segments", BROWSING)
    _apply(server, ws, tmp_path, "journeys", WELCOME)
    orders = [
        {"type": "track", "userId": f"b{i}", "event": "Order Completed", "messageId": f"o{n}-{i}"}
        for n in (1, 2)
        for i in range(10 if n == 1 else 6)
    ]
    _send(server, ws, orders)
    assert wait_until(lambda: _size(server, ws, "repeat-buyers"), lambda n: n == 6, timeout=30) == 6

    def trace(user: str) -> list[str]:
        r = server.http.get(f"/api/v1/journeys/welcome-repeat/instances/{user}", headers=ws.admin)
        return [s["kind"] for s in r.json().get("steps", [])] if r.status_code == 200 else []

    assert wait_until(lambda: trace("b5"), lambda kinds: "entered" in kinds, timeout=30)[0] == (
        "entered"
    )
    assert trace("b7") == []  # one order only: not a member, not enrolled

    _send(server, ws, [{"type": "track", "userId": "v1", "event": "Product Viewed"}])
    assert wait_until(lambda: _size(server, ws, "browsing-now"), lambda n: n == 1, timeout=30) == 1
    # nothing more arrives: the customer leaves when the 3 seconds have passed
    assert wait_until(lambda: _size(server, ws, "browsing-now"), lambda n: n == 0, timeout=30) == 0
    timeline = server.http.get("/api/v1/profiles/v1/events", headers=ws.admin).json()["data"]
    assert [e["event"] for e in timeline][:3] == [
        "Segment Exited",
        "Segment Entered",
        "Product Viewed",
    ]
    entered, exited = timeline[1], timeline[0]
    assert exited["properties"] == {"segment_id": "browsing-now", "segment_name": "browsing-now"}
    assert exited["timestamp"] > entered["timestamp"]
