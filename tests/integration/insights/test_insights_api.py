"""``/api/v1/insights``: the analyses over HTTP, admin only, bad parameters named."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.integration.insights.conftest import ev, load
from wayline.analytics.warehouse import open_warehouse
from wayline.runtime import Role
from wayline.server import Process
from wayline.settings import Settings

H = timedelta(hours=1)


def src(name: str) -> dict[str, Any]:
    return {"campaign": {"source": name}}


@pytest.fixture
def api(settings: Settings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    process = Process(settings, {Role.API})
    process.migrate()
    created = process.store.create_workspace("shop")
    warehouse = open_warehouse(settings)
    load(
        warehouse,
        [
            ev("u1", "Page Viewed", 0 * H, context=src("email")),
            ev("u1", "Product Added", 1 * H, context=src("ads")),
            ev("u1", "Order Completed", 2 * H, {"revenue": 30}),
            ev("u2", "Page Viewed", 0 * H, context=src("ads")),
            ev("u2", "Order Completed", 3 * H, {"revenue": 10}),
        ],
        workspace=created.workspace.id,
    )
    warehouse.close()
    with TestClient(process.app()) as client:
        yield client, {"Authorization": f"Bearer {created.admin_token}"}


def test_discovered_journey_and_variants(api: tuple[TestClient, dict[str, str]]) -> None:
    client, admin = api
    answer = client.get("/api/v1/insights/discovered-journey", headers=admin)
    assert answer.status_code == 200, answer.text
    edges = {(e["source"], e["target"]): e for e in answer.json()["data"]}
    assert edges[("Page Viewed", "Order Completed")]["frequency"] == 1
    assert edges[("Page Viewed", "Order Completed")]["median_seconds"] == 3 * 3600
    assert edges[(None, "Page Viewed")]["frequency"] == 2
    assert edges[(None, "Page Viewed")]["median_seconds"] is None
    top = client.get("/api/v1/insights/variants", params={"top": 1}, headers=admin).json()
    assert len(top["data"]) == 1
    assert top["data"][0]["cases"] == 1


def test_conformance_to_a_sequence(api: tuple[TestClient, dict[str, str]]) -> None:
    client, admin = api
    answer = client.get(
        "/api/v1/insights/conformance",
        params={"sequence": "Page Viewed,Product Added,Order Completed"},
        headers=admin,
    )
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert (data["cases"], data["fitting_cases"]) == (2, 1)
    assert data["deviations"] == [
        {
            "kind": "skipped",
            "activity": "Product Added",
            "position": 2,
            "cases": 1,
            "occurrences": 1,
        }
    ]


def test_attribution(api: tuple[TestClient, dict[str, str]]) -> None:
    client, admin = api
    answer = client.get(
        "/api/v1/insights/attribution",
        params=[("model", "last_touch"), ("model", "linear")],
        headers=admin,
    )
    assert answer.status_code == 200, answer.text
    rows = {(r["model"], r["channel"]): r for r in answer.json()["data"]}
    assert rows[("last_touch", "ads")]["conversions"] == 2
    assert rows[("last_touch", "ads")]["revenue"] == 40
    assert rows[("linear", "email")]["revenue"] == 15
    assert {m for m, _ in rows} == {"last_touch", "linear"}


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("attribution", {"model": "magic"}, "model"),
        ("attribution", {"markov_order": "9"}, "markov_order"),
        ("attribution", {"by": "nowhere"}, "by"),
        ("attribution", {"half_life_days": "soon"}, "half_life_days"),
        ("discovered-journey", {"activity": "properties"}, "activity"),
        ("variants", {"top": "0"}, "top"),
        ("conformance", {}, "journey"),
        ("conformance", {"journey": "nope"}, "journey"),
        (
            "attribution",
            {"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"},
            "until",
        ),
    ],
)
def test_bad_parameters_are_named(
    api: tuple[TestClient, dict[str, str]], path: str, params: dict[str, str], field: str
) -> None:
    client, admin = api
    answer = client.get(f"/api/v1/insights/{path}", params=params, headers=admin)
    assert 400 <= answer.status_code < 500
    assert answer.json()["field"] == field, answer.json()


def test_experiments_of_an_unknown_journey_is_404(api: tuple[TestClient, dict[str, str]]) -> None:
    client, admin = api
    answer = client.get("/api/v1/insights/experiments/nope", headers=admin)
    assert answer.status_code == 404
    assert answer.json()["field"] == "journey"


def test_admin_token_required(api: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = api
    assert client.get("/api/v1/insights/attribution").status_code == 401


@pytest.mark.parametrize(
    "bounds",
    [
        # an odd offset DuckDB has no time zone for, and one that moves year 1 past the calendar
        {"since": "0352-01-09T02:43:08.425435-19:37"},
        {"since": "0001-01-01T00:00:00+23:00"},
        {"until": "9999-12-31T23:59:59-23:59"},
    ],
)
def test_bounds_past_the_event_range_select_to_its_end(
    api: tuple[TestClient, dict[str, str]], bounds: dict[str, str]
) -> None:
    client, admin = api
    everything = client.get("/api/v1/insights/discovered-journey", headers=admin).json()

    answer = client.get("/api/v1/insights/discovered-journey", params=bounds, headers=admin)

    assert answer.status_code == 200, answer.text
    assert answer.json() == everything
