"""/api/v1/stages over a running process: set the model, events move customers, each change
is on their timeline as a Stage Entered event; bad models are 422s naming the field."""

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


def test_stages_over_the_api(api: Api) -> None:
    client, admin, write_key = api
    assert client.get("/api/v1/stages", headers=admin).status_code == 404
    r = client.put("/api/v1/stages", json={"preset": "ecommerce"}, headers=admin)
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["version"]) == ("created", 1)
    assert [s["stage"] for s in r.json()["stages"]][:2] == ["awareness", "consideration"]
    batch = [
        {
            "type": "track",
            "userId": "ann",
            "event": event,
            "messageId": f"m{i}",
            "timestamp": f"2026-01-0{i + 1}T10:00:00Z",
        }
        for i, event in enumerate(["Page Viewed", "Product Viewed", "Order Completed"])
    ]
    assert client.post("/v1/batch", json={"batch": batch}, auth=(write_key, "")).status_code == 200

    def placed() -> Any:
        body = client.get("/api/v1/stages/customers/ann", headers=admin).json()
        return body if len(body.get("changes", [])) == 3 else None

    body = until(placed)
    assert body["current"]["stage"] == "purchase"
    assert body["current"]["entered_at"].startswith("2026-01-03T10:00:00")
    assert [(c["stage"], c["previous_stage"]) for c in body["changes"]] == [
        ("awareness", None),
        ("consideration", "awareness"),
        ("purchase", "consideration"),
    ]
    assert body["changes"][1]["previous_stage_duration"] == 86400.0
    counts = client.get("/api/v1/stages", headers=admin).json()["stages"]
    assert {s["stage"]: s["customers"] for s in counts}["purchase"] == 1

    def timeline() -> Any:
        events = client.get("/api/v1/profiles/ann/events", headers=admin).json()["data"]
        entered = [e for e in events if e["event"] == "Stage Entered"]
        return entered if len(entered) == 3 else None

    entered = until(timeline)
    assert {e["properties"]["stage"] for e in entered} == {"awareness", "consideration", "purchase"}


def test_bad_models_are_refused_naming_the_field(api: Api) -> None:
    client, admin, _ = api
    r = client.put("/api/v1/stages", json={"model": "stages: []\n"}, headers=admin)
    assert r.status_code == 422
    assert r.json()["field"] == "model"
    assert r.json()["error"].startswith("model:1:9: stages:")
    r = client.put("/api/v1/stages", json={"preset": "shop"}, headers=admin)
    assert (r.status_code, r.json()["field"]) == (422, "preset")
    r = client.put("/api/v1/stages", json={}, headers=admin)
    assert r.status_code == 422
    assert client.get("/api/v1/stages/customers/nobody", headers=admin).status_code == 404
    # a model dropping a stage that a segment names
    assert client.put("/api/v1/stages", json={"preset": "ecommerce"}, headers=admin).is_success
    segment = {"id": "deciding", "where": {"stage": "decision"}}
    r = client.post("/api/v1/segments", json=segment, headers=admin)
    assert r.is_success, r.text
    model = "stages:\n  - {name: awareness, events: [Page Viewed]}\n"
    r = client.put("/api/v1/stages", json={"model": model}, headers=admin)
    assert r.status_code == 422
    assert r.json() == {
        "error": "model: the model drops stages that segments use (segment 'deciding' uses "
        "'decision'); change those segments first",
        "field": "model",
    }
