"""Times outside 1970 to 2100 are refused at the door, by the API and by import, on both stores,
and the calls beside them land and flow on to profiles."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.polling import wait_until
from wayline import cli
from wayline.runtime import Role
from wayline.server import Process
from wayline.settings import Settings
from wayline.store import Store

OUT_OF_RANGE = [
    {"timestamp": "0001-01-01T00:00:00Z"},
    {"timestamp": "2100-01-01T00:00:00Z"},
    {"timestamp": "9999-12-31T23:59:59-05:00"},
    {"originalTimestamp": "0001-01-01T00:00:00+05:00"},
    {"timestamp": "1971-01-01T00:00:00Z", "sentAt": "2099-01-01T00:00:00Z"},
    {"timestamp": -1},
]


@pytest.fixture
def wl(settings: Settings) -> Iterator[tuple[TestClient, Any]]:
    process = Process(settings, {Role.API, Role.PROFILES})
    process.migrate()
    created = process.store.create_workspace("acme")
    with TestClient(process.app()) as client:
        yield client, created


def _stats_reach(client: TestClient, admin: dict[str, str], **want: int) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        stats: dict[str, Any] = client.get("/api/v1/stats", headers=admin).json()
        return stats if all(stats.get(k) == v for k, v in want.items()) else None

    return wait_until(reached, what=f"stats {want}")


@pytest.mark.parametrize("times", OUT_OF_RANGE)
def test_single_call_out_of_range_is_a_400_naming_the_field(
    wl: tuple[TestClient, Any], times: dict[str, Any]
) -> None:
    client, created = wl
    body = {"userId": "u", "event": "E", **times}
    r = client.post("/v1/track", json=body, auth=(created.write_key, ""))
    assert r.status_code == 400, r.text
    error = r.json()
    assert error["field"] == ("originalTimestamp" if "originalTimestamp" in times else "timestamp")
    assert "1970-01-01" in error["error"]
    assert "2100-01-01" in error["error"]


def test_a_year_one_item_is_rejected_and_the_rest_flow_to_profiles(
    wl: tuple[TestClient, Any],
) -> None:
    client, created = wl
    batch = {
        "batch": [
            {"type": "identify", "userId": "ann", "traits": {"plan": "pro"}, "messageId": "a1"},
            {
                "type": "track",
                "userId": "ann",
                "event": "Poison",
                "timestamp": "0001-01-01T00:00:00Z",
                "messageId": "bad",
            },
            {"type": "track", "userId": "bob", "event": "Order Completed", "messageId": "b1"},
        ]
    }
    r = client.post("/v1/batch", json=batch, auth=(created.write_key, ""))
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 2
    assert [(x["index"], x["field"]) for x in r.json()["rejected"]] == [(1, "timestamp")]
    admin = {"Authorization": f"Bearer {created.admin_token}"}
    _stats_reach(client, admin, events=2, profiles=2, rejected=1)
    # later calls are not held up by the refused one
    later = {"userId": "cy", "event": "Signed Up", "timestamp": "1970-01-01T00:00:00Z"}
    assert client.post("/v1/track", json=later, auth=(created.write_key, "")).status_code == 200
    _stats_reach(client, admin, events=3, profiles=3)


def test_import_reports_out_of_range_rows_by_line(
    store: Store, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = store.create_workspace("shop").workspace.id
    monkeypatch.setenv("WAYLINE_DATABASE_URL", database_url)
    path = tmp_path / "events.csv"
    path.write_text(
        "userId,event,timestamp\n"
        "u1,Order Completed,2011-01-01T10:00:00Z\n"
        "u2,Order Completed,0001-01-01T00:00:00Z\n"
        "u3,Order Completed,2150-06-01T00:00:00Z\n"
        "u4,Order Completed,2099-12-31T23:59:59Z\n"
    )
    result = CliRunner().invoke(
        cli.app, ["import", "events", str(path), "--json", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert (report["landed"], report["rejected"]) == (2, 2)
    assert [(r["line"], r["field"]) for r in report["rejections"]] == [
        (3, "timestamp"),
        (4, "timestamp"),
    ]
    assert store.stats(workspace).events == 2
