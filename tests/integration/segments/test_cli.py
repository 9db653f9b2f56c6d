"""wayline segments apply / list / show / size / members / why / check, on both stores."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wayline.analytics.loader import WarehouseLoader
from wayline.analytics.warehouse import open_warehouse
from wayline.cli import app
from wayline.events import parse_message
from wayline.segments.consumer import SegmentConsumer
from wayline.settings import Settings
from wayline.store import open_store
from wayline.store.sql import SqlStore
from wayline.testing import drain_profiles

BUYERS = """\
id: buyers
name: Bought something
where: {event: Order Completed}
"""
REPEAT = """\
id: repeat
where:
  all:
    - {segment: buyers}
    - {event: Order Completed, at_least: 2}
"""


@pytest.fixture
def cli(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("WAYLINE_DATABASE_URL", database_url)
    monkeypatch.setenv("WAYLINE_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    assert runner.invoke(app, ["workspace", "create", "shop"]).exit_code == 0
    return runner


def ingest(tmp_path: Path, database_url: str, orders: dict[str, int]) -> None:
    store = open_store(Settings(data_dir=tmp_path, database_url=database_url))
    try:
        (ws,) = store.list_workspaces()
        now = datetime.now(UTC)
        rows = [
            parse_message(
                {
                    "type": "track",
                    "userId": user,
                    "event": "Order Completed",
                    "messageId": f"{user}{i}",
                },
                received_at=now,
            )
            for user, count in orders.items()
            for i in range(count)
        ]
        store.append_events(ws.id, rows)
        drain_profiles(store)
        assert isinstance(store, SqlStore)
        consumer = SegmentConsumer(store, store.clock)
        while consumer.step():
            pass
        warehouse = open_warehouse(Settings(data_dir=tmp_path, database_url=database_url))
        try:
            WarehouseLoader(store, warehouse, batch_size=1000).drain()
        finally:
            warehouse.close()
    finally:
        store.close()


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_apply_fills_from_history_then_lists_and_shows(
    cli: CliRunner, tmp_path: Path, database_url: str
) -> None:
    ingest(tmp_path, database_url, {"ann": 2, "bob": 1})
    buyers, repeat = write(tmp_path, "b.yaml", BUYERS), write(tmp_path, "r.yaml", REPEAT)
    out = cli.invoke(app, ["segments", "apply", buyers, repeat])
    assert (out.exit_code, out.output) == (
        0,
        "buyers: version 1 (created), 2 members\nrepeat: version 1 (created), 1 members\n",
    )
    listed = cli.invoke(app, ["segments", "list"]).output.splitlines()
    assert [line.split("\t")[:3] for line in listed] == [
        ["buyers", "2", "v1"],
        ["repeat", "1", "v1"],
    ]
    assert cli.invoke(app, ["segments", "size", "repeat"]).output == "1\n"
    shown = json.loads(cli.invoke(app, ["segments", "show", "repeat", "--json"]).output)
    assert (shown["size"], shown["spec"]["where"]["all"][0]) == (1, {"segment": "buyers"})
    members = cli.invoke(app, ["segments", "members", "buyers"]).output.splitlines()
    assert sorted(line.split("\t")[1] for line in members) == ["ann", "bob"]
    page = cli.invoke(app, ["segments", "members", "buyers", "--limit", "1"]).output.splitlines()
    rest = cli.invoke(
        app, ["segments", "members", "buyers", "--after", page[0].split("\t")[0]]
    ).output.splitlines()
    assert len(page) == 1
    assert len(rest) == 1
    assert rest[0] != page[0]
    why = json.loads(cli.invoke(app, ["segments", "why", "repeat", "bob"]).output)
    assert (why["member"], why["decided_by"][0]["count"]) == (False, 1)
    for source in ("warehouse", "inbox"):
        check = cli.invoke(app, ["segments", "check", "--source", source])
        assert check.exit_code == 0, check.output
        assert "buyers: ok: real-time 2, batch 2" in check.output


def test_invalid_files_apply_nothing(cli: CliRunner, tmp_path: Path) -> None:
    good = write(tmp_path, "b.yaml", BUYERS)
    bad = write(tmp_path, "r.yaml", REPEAT.replace("segment: buyers", "segment: buyer"))
    out = cli.invoke(app, ["segments", "apply", good, bad])
    assert out.exit_code == 1
    assert out.output == (
        f"{bad}:4:8: where.all[0].segment: no segment 'buyer' in this workspace "
        "(did you mean 'buyers'?)\n"
    )
    assert cli.invoke(app, ["segments", "list"]).output == ""
    missing = cli.invoke(app, ["segments", "size", "nope"])
    assert missing.exit_code == 1


def test_validate_and_schema(cli: CliRunner, tmp_path: Path) -> None:
    good = write(tmp_path, "b.yaml", BUYERS)
    assert cli.invoke(app, ["segments", "validate", good]).output == f"{good}: ok\n"
    assert "Wayline segment" in cli.invoke(app, ["segments", "schema"]).output
