"""``/metrics`` and ``/ready`` of a process running the API and the loops, on both stores."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from wayline.runtime import Role
from wayline.server import Process
from wayline.settings import Settings


@pytest.fixture
def wl(settings: Settings) -> Iterator[tuple[TestClient, Any, Process]]:
    process = Process(settings, {Role.API, Role.PROFILES, Role.LOADER})
    process.migrate()
    created = process.store.create_workspace("acme")
    with TestClient(process.app()) as client:
        yield client, created, process


def _samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_count_requests_by_route_template_and_show_lag(
    wl: tuple[TestClient, Any, Process],
) -> None:
    client, created, process = wl
    for loop in process.runtime.loops:  # hold the loops, so that the lag is there to see
        loop.stop()
    for i in range(3):
        body = {"userId": f"u{i}", "event": "Signed Up"}
        assert client.post("/v1/track", json=body, auth=(created.write_key, "")).status_code == 200
    admin = {"Authorization": f"Bearer {created.admin_token}"}
    assert client.get("/api/v1/profiles/nobody", headers=admin).status_code == 404
    assert client.get("/no/such/path").status_code == 404

    before = _samples(client)
    track = (("method", "POST"), ("route", "/v1/track"), ("status", "200"))
    assert before[("wayline_http_requests_total", track)] == 3
    # labelled by the route's template, not by the id asked for
    profile = (("method", "GET"), ("route", "/api/v1/profiles/{profile_id}"), ("status", "404"))
    assert before[("wayline_http_requests_total", profile)] == 1
    unmatched = (("method", "GET"), ("route", "unmatched"), ("status", "404"))
    assert before[("wayline_http_requests_total", unmatched)] == 1
    latency = (("le", "+Inf"), ("method", "POST"), ("route", "/v1/track"))
    assert before[("wayline_http_request_duration_seconds_bucket", latency)] == 3
    assert before[("wayline_store_up", ())] == 1
    # nothing consumed yet: the profile consumer has no cursor, the loader is at the start
    assert before[("wayline_consumer_lag_events", (("consumer", "loader"),))] == 3

    process.runtime.drain()
    after = _samples(client)
    for consumer in ("profiles", "loader"):
        assert after[("wayline_consumer_lag_events", (("consumer", consumer),))] == 0
        assert after[("wayline_consumer_lag_seconds", (("consumer", consumer),))] == 0


def test_metrics_show_outbox_and_instances_by_state(
    wl: tuple[TestClient, Any, Process],
) -> None:
    client, _created, process = wl
    import sqlalchemy as sa

    from wayline.store import schema
    from wayline.store.sql import SqlStore

    store = process.store
    assert isinstance(store, SqlStore)
    now = process.clock.now()
    with store.engine.begin() as conn:
        for i, state in enumerate(("pending", "pending", "dead")):
            conn.execute(
                sa.insert(schema.outbox).values(
                    workspace_id="w",
                    idempotency_key=f"k{i}",
                    channel="log",
                    payload="{}",
                    state=state,
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                    updated_at=now,
                )
            )
    samples = _samples(client)
    assert samples[("wayline_outbox_messages", (("state", "pending"),))] == 2
    assert samples[("wayline_outbox_messages", (("state", "dead"),))] == 1


def test_ready_checks_the_store_and_the_warehouse(wl: tuple[TestClient, Any, Process]) -> None:
    client, _created, _process = wl
    r = client.get("/ready")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "checks": {"store": "ok", "warehouse": "ok"}}


def test_ready_is_503_naming_the_store_when_it_cannot_answer(tmp_path: Any) -> None:
    # nothing listens on port 1: the store is configured but unreachable
    settings = Settings(
        data_dir=tmp_path, database_url="postgresql://postgres@127.0.0.1:1/none?connect_timeout=2"
    )
    process = Process(settings, {Role.API})
    with TestClient(process.app()) as client:
        started = time.monotonic()
        r = client.get("/ready")
        assert r.status_code == 503
        body = r.json()
        assert body["status"] == "unready"
        assert body["checks"]["store"].startswith("error:")
        assert time.monotonic() - started < 60  # answered, not hung
