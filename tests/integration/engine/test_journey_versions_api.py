"""GET /api/v1/journeys/{id} and /versions/{n}: versions and who is inside, both stores."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.polling import wait_until
from wayline.engine.compile import spec_of
from wayline.engine.migration import apply_version
from wayline.journeys import load_journey_text
from wayline.runtime import Role
from wayline.server import Process
from wayline.settings import Settings
from wayline.store.sql import SqlStore

V1 = """
id: onboarding
entry: {api: true}
nodes:
  - id: wait
    type: delay
    duration: 2d
    next: done
  - id: done
    type: exit
"""
V2 = V1.replace("duration: 2d", "duration: 3d")


@pytest.fixture
def api(settings: Settings) -> Iterator[tuple[TestClient, dict[str, str], Process]]:
    # no worker: enrolled customers stay at the first node, so counts hold still
    process = Process(settings, {Role.API, Role.PROFILES})
    process.migrate()
    created = process.store.create_workspace("shop")
    assert isinstance(process.store, SqlStore)
    journey = load_journey_text(V1, "onboarding.yaml")
    apply_version(process.store, created.workspace.id, journey.id, journey.id, spec_of(journey))
    with TestClient(process.app()) as client:
        for user in ("ann", "bob"):
            r = client.post("/v1/identify", json={"userId": user}, auth=(created.write_key, ""))
            assert r.status_code == 200
        headers = {"Authorization": f"Bearer {created.admin_token}"}
        wait_until(  # the profiles appear as the consumer catches up
            lambda: client.get("/api/v1/profiles/bob", headers=headers).status_code == 200,
            what="the profile of bob",
        )
        yield client, headers, process


def test_detail_lists_versions_and_who_is_inside_each(
    api: tuple[TestClient, dict[str, str], Process],
) -> None:
    client, headers, process = api
    enrolled = client.post(
        "/api/v1/journeys/onboarding/enroll", json={"customer": "ann"}, headers=headers
    )
    assert enrolled.status_code == 201, enrolled.text
    assert isinstance(process.store, SqlStore)
    journey = load_journey_text(V2, "onboarding.yaml")
    workspace = process.store.list_workspaces()[0].id
    apply_version(process.store, workspace, journey.id, journey.id, spec_of(journey))
    r = client.post("/api/v1/journeys/onboarding/enroll", json={"customer": "bob"}, headers=headers)
    assert r.status_code == 201, r.text

    detail = client.get("/api/v1/journeys/onboarding", headers=headers).json()
    assert (detail["id"], detail["status"], detail["version"]) == ("onboarding", "active", 2)
    assert [(v["version"], v["current"]) for v in detail["versions"]] == [(1, False), (2, True)]
    assert detail["inside"] == [
        {"version": 1, "node": "wait", "customers": 1},
        {"version": 2, "node": "wait", "customers": 1},
    ]
    first = client.get("/api/v1/journeys/onboarding/versions/1", headers=headers).json()
    assert first["current"] is False
    assert first["spec"]["nodes"][0] == {
        "id": "wait",
        "type": "delay",
        "duration": "2d",
        "next": "done",
    }
    assert first["inside"] == [{"node": "wait", "customers": 1}]


def test_unknown_journey_or_version_is_404_and_a_bad_number_names_the_field(
    api: tuple[TestClient, dict[str, str], Process],
) -> None:
    client, headers, _ = api
    cases = [
        ("/api/v1/journeys/nope", 404, "no journey 'nope'"),
        ("/api/v1/journeys/onboarding/versions/9", 404, "no version 9"),
        ("/api/v1/journeys/onboarding/versions/one", 422, "version"),
    ]
    for url, status, needle in cases:
        r = client.get(url, headers=headers)
        assert (r.status_code, needle in r.json()["error"]) == (status, True), r.text
    assert client.get("/api/v1/journeys/onboarding").status_code == 401
