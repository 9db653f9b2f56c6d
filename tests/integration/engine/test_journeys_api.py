"""/api/v1/journeys: list, enrol by API, per-node stats, a customer's trace."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.polling import wait_until
from wayline.engine.compile import spec_of
from wayline.journeys import load_journey_text
from wayline.runtime import Role
from wayline.server import Process
from wayline.settings import Settings
from wayline.store.journeys import JourneyStore
from wayline.store.sql import SqlStore

ONBOARDING = """
id: onboarding
entry: {api: true}
nodes:
  - id: welcome
    type: send
    channel: log
    template: welcome
    next: done
  - id: done
    type: exit
"""
BY_EVENT = """
id: by-event
entry: {event: Signed Up}
nodes:
  - id: done
    type: exit
"""


@pytest.fixture
def api(settings: Settings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    process = Process(settings, {Role.API, Role.PROFILES, Role.WORKER})
    process.migrate()
    created = process.store.create_workspace("shop")
    assert isinstance(process.store, SqlStore)
    for text in (ONBOARDING, BY_EVENT):
        journey = load_journey_text(text, "j.yaml")
        JourneyStore(process.store).apply(
            created.workspace.id, journey.id, journey.id, spec_of(journey)
        )
    with TestClient(process.app()) as client:
        r = client.post(
            "/v1/identify",
            json={"userId": "ann", "traits": {"plan": "pro"}},
            auth=(created.write_key, ""),
        )
        assert r.status_code == 200
        headers = {"Authorization": f"Bearer {created.admin_token}"}
        wait_until(  # the profile appears as the consumer catches up
            lambda: client.get("/api/v1/profiles/ann", headers=headers).status_code == 200,
            what="the profile of ann",
        )
        yield client, headers


def _eventually(client: TestClient, url: str, headers: dict[str, str], want: Any) -> Any:
    def body() -> Any:
        found = client.get(url, headers=headers).json()
        return found if want(found) else None

    return wait_until(body, what=f"GET {url} to answer as expected")


def test_enrol_by_api_then_stats_and_trace(api: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = api
    listed = client.get("/api/v1/journeys", headers=headers).json()["data"]
    assert {j["id"] for j in listed} == {"onboarding", "by-event"}
    r = client.post("/api/v1/journeys/onboarding/enroll", json={"customer": "ann"}, headers=headers)
    assert r.status_code == 201, r.text
    trace = _eventually(
        client,
        "/api/v1/journeys/onboarding/instances/ann",
        headers,
        lambda b: [s["kind"] for s in b["steps"]][-1:] == ["completed"],
    )
    assert [(s["node"], s["kind"]) for s in trace["steps"]] == [
        ("welcome", "entered"),
        ("welcome", "queued"),
        ("done", "completed"),
    ]
    stats = client.get("/api/v1/journeys/onboarding/stats", headers=headers).json()
    assert stats["nodes"]["welcome"] == {"entered": 1, "queued": 1}
    again = client.post(
        "/api/v1/journeys/onboarding/enroll", json={"customer": "ann"}, headers=headers
    )
    assert again.status_code == 409
    assert "once" in again.json()["error"]


def test_enrol_refusals_say_why(api: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = api
    cases = [
        ("by-event", {"customer": "ann"}, 409, "not entered by API"),
        ("nope", {"customer": "ann"}, 404, "no journey"),
        ("onboarding", {"customer": "nobody"}, 404, "no customer"),
        ("onboarding", {}, 422, "customer"),
    ]
    for journey, body, status, needle in cases:
        r = client.post(f"/api/v1/journeys/{journey}/enroll", json=body, headers=headers)
        assert (r.status_code, needle in r.json()["error"]) == (status, True), r.text
    assert client.get("/api/v1/journeys").status_code == 401
