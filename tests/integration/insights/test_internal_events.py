"""The events Wayline records itself are left out of paths, the discovered journey and the
journey map's touchpoints, and come back with ``include_internal``: at the function level
(DuckDB and PostgreSQL warehouses), over HTTP and from ``wayline report``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.integration.insights.conftest import WORKSPACE, ev, load
from wayline.analytics.conformance import conformance
from wayline.analytics.discovery import directly_follows, variants
from wayline.analytics.fields import Scope
from wayline.analytics.journey_map import JourneyMapSpec, journey_map
from wayline.analytics.paths import Paths, paths
from wayline.analytics.stage_model import load_stage_model
from wayline.analytics.warehouse import Warehouse, open_warehouse
from wayline.cli import app
from wayline.runtime import Role
from wayline.server import Process
from wayline.settings import Settings
from wayline.store import open_store

M = timedelta(minutes=1)
PV, PA, OC, MP = "Page Viewed", "Product Added", "Order Completed", "Message Posted"

#: Three customers whose behaviour is interleaved with what Wayline recorded about them.
#: Without the internal events: u1 and u2 do PV PA OC (2 minutes, then 2 and 3 minutes
#: apart), u3 does PV MP (2 minutes apart). ``Message Posted`` is the customer's own event.
LOG = [
    ev("u1", PV, 0 * M),
    ev("u1", "Segment Entered", 1 * M, {"segment_id": "vip"}),
    ev("u1", PA, 2 * M),
    ev("u1", "Message Sent", 3 * M, {"channel": "email", "template": "nudge"}),
    ev("u1", OC, 4 * M),
    ev("u2", PV, 0 * M),
    ev("u2", "Stage Entered", 1 * M, {"stage": "visit"}),
    ev("u2", PA, 2 * M),
    ev("u2", "Email Delivered", 3 * M, {"channel": "email"}),
    ev("u2", OC, 5 * M),
    ev("u3", PV, 0 * M),
    ev("u3", "Message Sent", 1 * M, {"channel": "sms"}),
    ev("u3", MP, 2 * M),
]

MODEL_YAML = """
stages:
  - name: visit
    events: [Page Viewed]
  - name: buy
    events: [Order Completed]
"""
MODEL = load_stage_model(MODEL_YAML)

#: The directly-follows graph of the log without internal events, worked out by hand.
BEHAVIOUR_EDGES = {
    (PV, PA): (2, 120.0),
    (PA, OC): (2, 150.0),  # 2 and 3 minutes
    (PV, MP): (1, 120.0),
    (None, PV): (3, None),
    (OC, None): (2, None),
    (MP, None): (1, None),
}
#: The journey map's touchpoints by default, most customers first: a message sent shows
#: as received, under its channel.
BEHAVIOUR_TOUCHPOINTS = [
    ("direct", PV),
    ("direct", OC),
    ("direct", PA),
    ("direct", MP),
    ("email", "Message Received"),
    ("sms", "Message Received"),
]
INTERNAL_TOUCHPOINTS = {
    ("direct", "Segment Entered"),
    ("direct", "Stage Entered"),
    ("email", "Message Sent"),
    ("sms", "Message Sent"),
    ("email", "Email Delivered"),
}


def edges(rows: list[dict[str, Any]]) -> dict[tuple[Any, Any], tuple[int, Any]]:
    return {
        (r["source"], r["target"]): (
            int(r["frequency"]),
            None if r["median_seconds"] is None else float(r["median_seconds"]),
        )
        for r in rows
    }


def frame_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (None if not isinstance(v, list) and pd.isna(v) else v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


def links(rows: list[dict[str, Any]]) -> set[tuple[int, str, str, int]]:
    return {(int(r["step"]), r["source"], r["target"], int(r["sessions"])) for r in rows}


# --- function level, on both warehouses ---------------------------------------------


def test_discovery_leaves_internal_events_out(warehouse: Warehouse, scope: Scope) -> None:
    load(warehouse, LOG)
    assert edges(frame_rows(directly_follows(warehouse, scope))) == BEHAVIOUR_EDGES
    found = variants(warehouse, scope)
    assert [(list(v), int(c)) for v, c in zip(found.variant, found.cases, strict=True)] == [
        ([PV, PA, OC], 2),
        ([PV, MP], 1),
    ]


def test_discovery_includes_internal_events_when_asked(warehouse: Warehouse, scope: Scope) -> None:
    load(warehouse, LOG)
    graph = edges(frame_rows(directly_follows(warehouse, scope, include_internal=True)))
    assert graph == {
        (PV, "Segment Entered"): (1, 60.0),
        ("Segment Entered", PA): (1, 60.0),
        (PA, "Message Sent"): (1, 60.0),
        ("Message Sent", OC): (1, 60.0),
        (PV, "Stage Entered"): (1, 60.0),
        ("Stage Entered", PA): (1, 60.0),
        (PA, "Email Delivered"): (1, 60.0),
        ("Email Delivered", OC): (1, 120.0),
        (PV, "Message Sent"): (1, 60.0),
        ("Message Sent", MP): (1, 60.0),
        (None, PV): (3, None),
        (OC, None): (2, None),
        (MP, None): (1, None),
    }
    found = variants(warehouse, scope, include_internal=True)
    assert sorted(list(v) for v in found.variant) == [
        [PV, "Message Sent", MP],
        [PV, "Segment Entered", PA, "Message Sent", OC],
        [PV, "Stage Entered", PA, "Email Delivered", OC],
    ]


def test_conformance_leaves_internal_events_out_unless_named(
    warehouse: Warehouse, scope: Scope
) -> None:
    load(warehouse, LOG)
    designed = [PV, PA, OC]
    plain = conformance(warehouse, scope, designed, project=False)
    assert (plain.cases, plain.fitting_cases) == (3, 2)  # u3 skips PA and OC, adds MP
    noisy = conformance(warehouse, scope, designed, project=False, include_internal=True)
    assert (noisy.cases, noisy.fitting_cases) == (3, 0)
    assert set(noisy.deviations.activity) >= {"Segment Entered", "Stage Entered"}
    # A designed journey that names an internal event keeps it: u1 and u3 were sent one.
    named = conformance(warehouse, scope, [PV, "Message Sent"])
    assert (named.cases, named.fitting_cases) == (3, 2)


def test_paths_leave_internal_events_out(warehouse: Warehouse) -> None:
    load(warehouse, LOG)
    default = paths(warehouse, WORKSPACE, Paths(start_event=PV))
    assert links(frame_rows(default)) == {(0, PV, PA, 2), (0, PV, MP, 1), (1, PA, OC, 2)}
    every = paths(warehouse, WORKSPACE, Paths(start_event=PV, include_internal=True))
    assert links(frame_rows(every)) == {
        (0, PV, "Segment Entered", 1),
        (0, PV, "Stage Entered", 1),
        (0, PV, "Message Sent", 1),
        (1, "Segment Entered", PA, 1),
        (1, "Stage Entered", PA, 1),
        (1, "Message Sent", MP, 1),
        (2, PA, "Message Sent", 1),
        (2, PA, "Email Delivered", 1),
        (3, "Message Sent", OC, 1),
        (3, "Email Delivered", OC, 1),
    }
    # An internal event the caller names as the start is kept (the others still are not).
    anchored = paths(warehouse, WORKSPACE, Paths(start_event="Message Sent"))
    assert links(frame_rows(anchored)) == {(0, "Message Sent", OC, 1), (0, "Message Sent", MP, 1)}


def test_journey_map_shows_messages_received_by_channel(warehouse: Warehouse) -> None:
    load(warehouse, LOG)
    default = journey_map(warehouse, WORKSPACE, JourneyMapSpec(model=MODEL))
    assert default.touchpoints == BEHAVIOUR_TOUCHPOINTS
    received = default.cell("visit", "email", "Message Received")
    assert received is not None
    assert (received.customers, received.events, received.moved_on) == (1, 1, 1)
    # The message's own channel, whatever the map reads other channels from.
    by_medium = JourneyMapSpec(model=MODEL, channel_paths=("context.campaign.medium",))
    assert ("sms", "Message Received") in journey_map(warehouse, WORKSPACE, by_medium).touchpoints
    every = journey_map(
        warehouse, WORKSPACE, JourneyMapSpec(model=MODEL, touchpoints=20, include_internal=True)
    )
    assert (
        set(every.touchpoints)
        == (
            set(BEHAVIOUR_TOUCHPOINTS)
            - {("email", "Message Received"), ("sms", "Message Received")}
        )
        | INTERNAL_TOUCHPOINTS
    )


# --- over HTTP ----------------------------------------------------------------------


@pytest.fixture
def api(settings: Settings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    process = Process(settings, {Role.API})
    process.migrate()
    created = process.store.create_workspace("shop")
    warehouse = open_warehouse(settings)
    load(warehouse, LOG, workspace=created.workspace.id)
    warehouse.close()
    with TestClient(process.app()) as client:
        yield client, {"Authorization": f"Bearer {created.admin_token}"}


def test_api_leaves_internal_events_out_unless_asked(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    client, admin = api

    def get(path: str, **query: Any) -> Any:
        answer = client.get(path, params=query, headers=admin)
        assert answer.status_code == 200, answer.text
        return answer.json()

    graph = "/api/v1/insights/discovered-journey"
    assert edges(get(graph)["data"]) == BEHAVIOUR_EDGES
    assert ("Segment Entered", PA) in edges(get(graph, include_internal="true")["data"])

    top = get("/api/v1/insights/variants")["data"]
    assert [(v["variant"], v["cases"]) for v in top] == [([PV, PA, OC], 2), ([PV, MP], 1)]
    assert len(get("/api/v1/insights/variants", include_internal="true")["data"]) == 3

    fit = "/api/v1/insights/conformance"
    query = {"sequence": f"{PV},{PA},{OC}", "project": "false"}
    assert get(fit, **query)["data"]["fitting_cases"] == 2
    assert get(fit, **query, include_internal="true")["data"]["fitting_cases"] == 0

    path = "/api/v1/analytics/paths"
    assert links(get(path, start_event=PV)["links"]) == {
        (0, PV, PA, 2),
        (0, PV, MP, 1),
        (1, PA, OC, 2),
    }
    assert (0, PV, "Segment Entered", 1) in links(
        get(path, start_event=PV, include_internal="true")["links"]
    )

    mapped = client.post(
        "/api/v1/analytics/journey-map", json={"model": MODEL_YAML}, headers=admin
    ).json()
    assert [(t["channel"], t["event"]) for t in mapped["touchpoints"]] == BEHAVIOUR_TOUCHPOINTS
    every = client.post(
        "/api/v1/analytics/journey-map",
        params={"include_internal": "true", "touchpoints": 20},
        json={"model": MODEL_YAML},
        headers=admin,
    ).json()
    assert {(t["channel"], t["event"]) for t in every["touchpoints"]} >= INTERNAL_TOUCHPOINTS


@pytest.mark.parametrize("path", ["/api/v1/insights/discovered-journey", "/api/v1/analytics/paths"])
def test_api_names_a_bad_include_internal(
    api: tuple[TestClient, dict[str, str]], path: str
) -> None:
    client, admin = api
    answer = client.get(path, params={"include_internal": "maybe"}, headers=admin)
    assert 400 <= answer.status_code < 500
    assert "include_internal" in answer.text


# --- wayline report -----------------------------------------------------------------


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("WAYLINE_DATABASE_URL", "WAYLINE_WAREHOUSE_URL", "WAYLINE_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(data_dir=tmp_path / "data")
    store = open_store(settings)
    store.migrate()
    workspace = store.create_workspace("shop").workspace.id
    store.close()
    warehouse = open_warehouse(settings)
    load(warehouse, LOG, workspace=workspace)
    warehouse.close()
    return settings.data_dir


def report(data_dir: Path, *args: str) -> Any:
    result = CliRunner().invoke(app, ["report", *args, "--json", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_report_leaves_internal_events_out_unless_asked(data_dir: Path) -> None:
    assert edges(report(data_dir, "discovered-journey")) == BEHAVIOUR_EDGES
    every = edges(report(data_dir, "discovered-journey", "--include-internal"))
    assert ("Segment Entered", PA) in every
    assert len(report(data_dir, "variants")) == 2
    assert len(report(data_dir, "variants", "--include-internal")) == 3
    designed = ["--sequence", f"{PV},{PA},{OC}", "--no-project"]
    assert report(data_dir, "conformance", *designed)["fitting_cases"] == 2
    assert report(data_dir, "conformance", *designed, "--include-internal")["fitting_cases"] == 0
    assert links(report(data_dir, "paths", "--start-event", PV)) == {
        (0, PV, PA, 2),
        (0, PV, MP, 1),
        (1, PA, OC, 2),
    }
    assert (0, PV, "Stage Entered", 1) in links(
        report(data_dir, "paths", "--start-event", PV, "--include-internal")
    )


def test_report_journey_map_leaves_internal_events_out_unless_asked(
    data_dir: Path, tmp_path: Path
) -> None:
    model = tmp_path / "stages.yaml"
    model.write_text(MODEL_YAML)

    def touchpoints(*extra: str) -> list[tuple[str, str]]:
        args = ["report", "journey-map", "--model", str(model), "--format", "json"]
        result = CliRunner().invoke(app, [*args, *extra, "--data-dir", str(data_dir)])
        assert result.exit_code == 0, result.output
        return [(t["channel"], t["event"]) for t in json.loads(result.stdout)["touchpoints"]]

    assert touchpoints() == BEHAVIOUR_TOUCHPOINTS
    assert set(touchpoints("--include-internal", "--touchpoints", "20")) >= INTERNAL_TOUCHPOINTS
