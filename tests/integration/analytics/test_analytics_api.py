"""The analytics API in-process, on both stores, over the embedded DuckDB warehouse (the
analyses themselves are tested on both warehouses beside this file)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from wayline.runtime import Role
from wayline.server import Process
from wayline.settings import Settings


@pytest.fixture
def api(settings: Settings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """Events of three customers, ingested through the API and loaded into the warehouse."""
    process = Process(settings, {Role.API, Role.PROFILES, Role.LOADER})
    process.migrate()
    created = process.store.create_workspace("shop")
    client = TestClient(process.app())  # no lifespan: the loops are driven by hand
    batch = [
        {"type": "page", "userId": "a", "timestamp": "2026-01-05T10:00:00Z"},
        {"type": "track", "userId": "a", "event": "Product Viewed",
         "timestamp": "2026-01-05T10:01:00Z"},
        {"type": "track", "userId": "a", "event": "Order Completed",
         "timestamp": "2026-01-05T10:05:00Z", "properties": {"plan": "pro"}},
        {"type": "page", "userId": "b", "timestamp": "2026-01-05T11:00:00Z"},
        {"type": "track", "userId": "b", "event": "Product Viewed",
         "timestamp": "2026-01-12T11:00:00Z"},
        {"type": "page", "userId": "c", "timestamp": "2026-01-06T09:00:00Z"},
    ]  # fmt: skip
    sent = client.post("/v1/batch", json={"batch": batch}, auth=(created.write_key, ""))
    assert sent.status_code == 200, sent.text
    process.runtime.drain()
    yield client, {"Authorization": f"Bearer {created.admin_token}"}
    process.runtime.stop()
    process.store.close()


def test_funnel_and_dropped(api: tuple[TestClient, dict[str, str]]) -> None:
    client, admin = api
    query = "steps=Page+Viewed&steps=Product+Viewed&steps=Order+Completed"
    got = client.get(f"/api/v1/analytics/funnel?{query}", headers=admin)
    assert got.status_code == 200, got.text
    assert [s["customers"] for s in got.json()["steps"]] == [3, 2, 1]
    assert got.json()["steps"][1]["median_seconds_from_previous"] == 7 * 86400 / 2 + 30
    dropped = client.get(f"/api/v1/analytics/funnel/dropped?{query}&step=2", headers=admin)
    assert dropped.json() == {"data": [{"customer": "c"}]}
    short = client.get(f"/api/v1/analytics/funnel?{query}&window=1d", headers=admin)
    assert [s["customers"] for s in short.json()["steps"]] == [3, 1, 1]


def test_paths_retention_stages_and_map(api: tuple[TestClient, dict[str, str]]) -> None:
    client, admin = api
    paths = client.get("/api/v1/analytics/paths?start_event=Page+Viewed&depth=2", headers=admin)
    assert paths.status_code == 200, paths.text
    assert paths.json()["links"] == [
        {"step": 0, "source": "Page Viewed", "target": "Product Viewed",
         "sessions": 1, "customers": 1},
        {"step": 1, "source": "Product Viewed", "target": "Order Completed",
         "sessions": 1, "customers": 1},
    ]  # fmt: skip
    assert paths.json()["sankey"]["nodes"][0] == {"name": "0:Page Viewed"}

    kept = client.get("/api/v1/analytics/retention?period=week", headers=admin).json()["data"]
    assert kept == [
        {"cohort": "2026-01-05", "cohort_size": 3, "period": 0, "customers": 3, "rate": 1.0},
        {"cohort": "2026-01-05", "cohort_size": 3, "period": 1, "customers": 1,
         "rate": pytest.approx(1 / 3)},
    ]  # fmt: skip

    stages = client.get(
        "/api/v1/analytics/stages?preset=ecommerce&as_of=2026-02-01", headers=admin
    ).json()["data"]
    assert [(s["stage"], s["entered"], s["current"]) for s in stages[:4]] == [
        ("awareness", 3, 1),
        ("consideration", 2, 1),
        ("decision", 0, 0),
        ("purchase", 1, 1),
    ]
    own = "stages:\n  - name: seen\n    events: [Page Viewed]\n"
    posted = client.post(
        "/api/v1/analytics/stages/customers?as_of=2026-02-01", json={"model": own}, headers=admin
    )
    assert [(c["customer"], c["stage"]) for c in posted.json()["data"]] == [
        ("a", "seen"),
        ("b", "seen"),
        ("c", "seen"),
    ]

    grid = client.get("/api/v1/analytics/journey-map?as_of=2026-02-01", headers=admin)
    assert grid.status_code == 200, grid.text
    assert [s["stage"] for s in grid.json()["stages"]] == [
        "awareness",
        "consideration",
        "purchase",
    ]
    for fmt, media in (("html", "text/html"), ("svg", "image/svg+xml"), ("png", "image/png")):
        page = client.get(f"/api/v1/analytics/journey-map?format={fmt}", headers=admin)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith(media)
    assert page.content.startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/funnel?steps=A", "steps"),
        ("/funnel?steps=A&steps=B&mode=sideways", "mode"),
        ("/funnel?steps=A&steps=B&window=soon", "window"),
        ("/funnel?steps=A&steps=B&window=99999999999999w", "window"),
        ("/funnel?steps=A&steps=B&window=1000000000000000000000000d", "window"),
        ("/funnel/dropped?steps=A&steps=B&step=2&window=99999999999999w", "window"),
        ("/paths?session_gap=99999999999999999999w", "session_gap"),
        ("/funnel?steps=A&steps=B&breakdown=properties.a%5Cb", "breakdown"),
        ("/funnel?steps=A&steps=B&breakdown=properties.plan%5C", "breakdown"),
        ("/funnel?steps=A&steps=B&breakdown=context.%22x", "breakdown"),
        ("/funnel?steps=A&steps=B&exclude=X:3-4", "exclude"),
        ("/funnel?steps=A&steps=B&breakdown=plan", "breakdown"),
        ("/funnel?steps=A&steps=B&breakdown=channel&channel=medium", "channel"),
        ("/funnel?steps=A&steps=B&from=yesterday", "from"),
        ("/funnel/dropped?steps=A&steps=B&step=7", "step"),
        ("/funnel/dropped?steps=A&steps=B", "step"),
        ("/paths?depth=0", "depth"),
        ("/paths?depth=two", "depth"),
        ("/retention?period=fortnight", "period"),
        ("/stages?preset=b2c", "model"),
        ("/stages/customers?stage=nowhere", "stage"),
        ("/journey-map?format=gif", "format"),
        ("/journey-map?channel=medium", "channel"),
    ],
)
def test_bad_parameters_are_422_naming_the_field(
    api: tuple[TestClient, dict[str, str]], url: str, field: str
) -> None:
    client, admin = api
    got = client.get(f"/api/v1/analytics{url}", headers=admin)
    assert got.status_code == 422, got.text
    assert got.json()["field"] == field


def test_a_bad_model_points_at_its_line(api: tuple[TestClient, dict[str, str]]) -> None:
    client, admin = api
    bad = "stages:\n  - name: seen\n    events: [Page Viewed]\n    colour: red\n"
    got = client.post("/api/v1/analytics/stages", json={"model": bad}, headers=admin)
    assert got.status_code == 422
    assert got.json() == {
        "error": "model:4:13: stages[0].colour: Extra inputs are not permitted",
        "field": "model",
    }


def test_admin_token_required(api: tuple[TestClient, Any]) -> None:
    client, _ = api
    assert client.get("/api/v1/analytics/retention").status_code == 401


_HOLD = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
print("ready", flush=True)
sys.stdin.read()
"""


def test_an_api_only_process_opens_the_warehouse_when_asked(
    settings: Settings, tmp_path: Path
) -> None:
    """Without the loader, the API opens the warehouse on the first analytics request; a
    DuckDB file held by another process is a 503, and the next request after it is freed
    succeeds."""
    own = settings.model_copy(
        update={"warehouse_url": f"duckdb:///{tmp_path / 'held' / 'warehouse.duckdb'}"}
    )
    process = Process(own, {Role.API})
    process.migrate()
    created = process.store.create_workspace("shop")
    admin = {"Authorization": f"Bearer {created.admin_token}"}
    client = TestClient(process.app())
    path = own.resolved_warehouse_url().removeprefix("duckdb:///")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        held = client.get("/api/v1/analytics/retention", headers=admin)
        assert held.status_code == 503
        assert "another process" in held.json()["error"]
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()
    free = client.get("/api/v1/analytics/retention", headers=admin)
    assert free.status_code == 200, free.text
    assert free.json() == {"data": []}
    process.runtime.stop()
    process.store.close()


@pytest.mark.parametrize(
    "bounds", ["from=0001-01-01T00:00:00%2B23:00", "to=9999-12-31T23:59:59-23:59"]
)
def test_bounds_past_the_event_range_select_to_its_end(
    api: tuple[TestClient, dict[str, str]], bounds: str
) -> None:
    client, admin = api
    query = "steps=Page+Viewed&steps=Product+Viewed&steps=Order+Completed"
    everything = client.get(f"/api/v1/analytics/funnel?{query}", headers=admin).json()

    got = client.get(f"/api/v1/analytics/funnel?{query}&{bounds}", headers=admin)

    assert got.status_code == 200, got.text
    assert got.json()["steps"] == everything["steps"]
