"""``wayline report`` on the data dir of a running server: the embedded warehouse is the
server's to hold, so the report reaches it through the server, and gives the API's numbers."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import uuid
from pathlib import Path
from typing import Any

from tests.acceptance.harness import WaylineServer, Workspace, wait_until, wayline_executable

STEPS = ("Product Viewed", "Order Completed")


def _send(server: WaylineServer, ws: Workspace, viewers: int, buyers: int, tag: str) -> None:
    batch = [
        {"type": "track", "userId": f"{tag}-{i}", "event": STEPS[0], "messageId": f"{tag}-v{i}"}
        for i in range(viewers)
    ] + [
        {"type": "track", "userId": f"{tag}-{i}", "event": STEPS[1], "messageId": f"{tag}-o{i}"}
        for i in range(buyers)
    ]
    r = server.http.post("/v1/batch", json={"batch": batch}, auth=ws.auth)
    assert r.status_code == 200, r.text


def _api_funnel(server: WaylineServer, ws: Workspace) -> list[dict[str, Any]]:
    r = server.http.get("/api/v1/analytics/funnel", params={"steps": list(STEPS)}, headers=ws.admin)
    assert r.status_code == 200, r.text
    steps: list[dict[str, Any]] = r.json()["steps"]
    return steps


def _cli_funnel(server: WaylineServer, ws: Workspace) -> list[dict[str, Any]]:
    out = server.cli(
        "report", "funnel", "--workspace", ws.name, "--step", STEPS[0], "--step", STEPS[1], "--json"
    )
    steps: list[dict[str, Any]] = json.loads(out)
    return steps


def _counts(steps: list[dict[str, Any]]) -> list[int]:
    return [int(s["customers"]) for s in steps]


def test_report_on_a_running_server_gives_the_api_numbers(server: WaylineServer) -> None:
    ws = server.create_workspace("reports")
    _send(server, ws, viewers=5, buyers=3, tag=uuid.uuid4().hex[:6])
    server.barrier()
    api = wait_until(lambda: _api_funnel(server, ws), lambda s: _counts(s) == [5, 3], timeout=60)
    assert _counts(api) == [5, 3]

    assert _cli_funnel(server, ws) == api

    # the note the reports follow is the owner's alone
    note = server.data_dir / "warehouse.server.json"
    assert stat.S_IMODE(note.stat().st_mode) == 0o600


def test_imported_events_reach_reports_without_a_restart(
    server: WaylineServer, tmp_path: Path
) -> None:
    ws = server.create_workspace("imported")
    tag = uuid.uuid4().hex[:6]
    rows = ["userId,event,timestamp"]
    rows += [f"{tag}-{i},{STEPS[0]},2026-01-0{1 + i}T10:00:00Z" for i in range(4)]
    rows += [f"{tag}-{i},{STEPS[1]},2026-01-0{1 + i}T11:00:00Z" for i in range(2)]
    path = tmp_path / "history.csv"
    path.write_text("\n".join(rows) + "\n")
    server.cli("import", "events", str(path), "--workspace", ws.name, "--json")
    server.barrier()
    api = wait_until(lambda: _api_funnel(server, ws), lambda s: _counts(s) == [4, 2], timeout=60)
    assert _counts(api) == [4, 2]
    assert _cli_funnel(server, ws) == api


def test_the_server_answers_no_query_without_its_token(server: WaylineServer) -> None:
    r = server.http.post(
        "/api/v1/warehouse/query",
        json={"sql": "SELECT 1"},
        headers={"Authorization": "Bearer not-the-token"},
    )
    assert r.status_code == 401
    token = json.loads((server.data_dir / "warehouse.server.json").read_text())["token"]
    r = server.http.post(
        "/api/v1/warehouse/query",
        json={"sql": "DELETE FROM events"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 400
    assert r.json()["field"] == "sql"


def test_without_a_server_a_held_warehouse_is_one_plain_line(tmp_path: Path) -> None:
    import duckdb

    data = tmp_path / "data"
    subprocess.run(
        [wayline_executable(), "workspace", "create", "shop", "--data-dir", str(data)],
        check=True,
        capture_output=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("WAYLINE_")},
    )
    holder = duckdb.connect(str(data / "warehouse.duckdb"))  # held, with no note beside it
    try:
        done = subprocess.run(
            [
                wayline_executable(),
                "report",
                "events-per-day",
                "--workspace=shop",
                f"--data-dir={data}",
            ],
            capture_output=True,
            text=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("WAYLINE_")},
            check=False,
        )
    finally:
        holder.close()
    assert done.returncode == 1
    assert "in use by another process" in done.stderr
    assert "Traceback" not in done.stderr
