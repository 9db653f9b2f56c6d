"""wayline report funnel --breakdown segment / --dropped N --save-segment, and wayline
segments add-members / remove-members, on both stores (embedded DuckDB warehouse)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.integration.segments.test_cli import cli
from wayline.analytics.loader import WarehouseLoader
from wayline.analytics.warehouse import open_warehouse
from wayline.cli import app
from wayline.events import parse_message
from wayline.segments.consumer import SegmentConsumer
from wayline.settings import Settings
from wayline.store import open_store
from wayline.store.sql import SqlStore
from wayline.testing import drain_profiles

__all__ = ["cli"]


@pytest.fixture
def shop(cli: CliRunner, tmp_path: Path, database_url: str) -> CliRunner:
    """ann: A B C; bob: A B; cat: A."""
    store = open_store(Settings(data_dir=tmp_path, database_url=database_url))
    try:
        (ws,) = store.list_workspaces()
        now = datetime.now(UTC)
        rows = [
            parse_message(
                {"type": "track", "userId": user, "event": step, "messageId": f"{user}{step}"},
                received_at=now,
            )
            for user, steps in (("ann", "ABC"), ("bob", "AB"), ("cat", "A"))
            for step in steps
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
    return cli


FUNNEL = ("report", "funnel", "--workspace", "shop", "--step", "A", "--step", "B", "--step", "C")


def ok(cli: CliRunner, *args: str) -> str:
    out = cli.invoke(app, list(args))
    assert out.exit_code == 0, (out.output, out.exception)
    return out.output


def test_save_dropped_manage_members_and_break_down(shop: CliRunner, tmp_path: Path) -> None:
    said = ok(shop, *FUNNEL, "--dropped", "3", "--save-segment", "stalled", "--name", "Stalled")
    assert said == "stalled: static segment with 1 members (1 customers dropped before step 3)\n"
    assert ok(shop, "segments", "size", "stalled") == "1\n"
    shown = json.loads(ok(shop, "segments", "show", "stalled", "--json"))
    assert shown["spec"] == {"id": "stalled", "name": "Stalled", "static": True}
    members = ok(shop, "segments", "members", "stalled").splitlines()
    assert [line.split("\t")[1] for line in members] == ["bob"]

    ids = tmp_path / "ids.txt"
    ids.write_text("# customers to call\ncat\n\nbob\n")
    assert ok(shop, "segments", "add-members", "stalled", "--file", str(ids)) == (
        "stalled: added 1, 1 already members, 2 members\n"
    )
    rows = json.loads(ok(shop, *FUNNEL, "--breakdown", "segment:stalled", "--json"))
    got: dict[str, list[int]] = {}
    for r in rows:
        got.setdefault(r["breakdown"], []).append(r["customers"])
    assert got == {"stalled": [2, 1, 0], "(none)": [1, 1, 1]}
    # a customer list streams out of the warehouse with the memberships joined in
    streamed = json.loads(ok(shop, *FUNNEL, "--dropped", "2", "--breakdown", "segment", "--json"))
    assert streamed == [{"customer": "cat", "breakdown": "stalled"}]
    ids.write_text("bob\n")
    assert ok(shop, "segments", "remove-members", "stalled", "--file", str(ids)) == (
        "stalled: removed 1, 0 not members, 1 members\n"
    )
    listed = [line.split("\t")[:2] for line in ok(shop, "segments", "list").splitlines()]
    assert listed == [["stalled", "1"]]
    check = shop.invoke(app, ["segments", "check"])
    assert check.exit_code == 0, check.output
    assert "stalled: ok: real-time 1, batch 1" in check.output
    saved = json.loads(ok(shop, *FUNNEL, "--dropped", "2", "--save-segment", "at-b", "--json"))
    assert saved == {"segment_id": "at-b", "name": "at-b", "dropped": 1, "size": 1}


def test_unknown_customers_in_the_file_change_nothing(shop: CliRunner, tmp_path: Path) -> None:
    ok(shop, *FUNNEL, "--dropped", "3", "--save-segment", "stalled")
    ids = tmp_path / "ids.txt"
    ids.write_text("cat\nzed\n\nyan\n")
    out = shop.invoke(app, ["segments", "add-members", "stalled", "--file", str(ids)])
    assert (out.exit_code, out.output) == (
        1,
        f"{ids}:2: no customer 'zed' (a profile id or userId)\n"
        f"{ids}:4: no customer 'yan' (a profile id or userId)\n",
    )
    assert ok(shop, "segments", "size", "stalled") == "1\n"


def run_main(tmp_path: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from wayline.cli import main; main()", *args],
        capture_output=True,
        text=True,
        check=False,
        env={
            **os.environ,
            "COLUMNS": "1000",
            "WAYLINE_DATABASE_URL": database_url,
            "WAYLINE_DATA_DIR": str(tmp_path),
            "PYTHONPATH": os.pathsep.join(sys.path),
        },
    )


def test_errors_are_one_line_and_a_non_zero_exit(
    shop: CliRunner, tmp_path: Path, database_url: str
) -> None:
    ok(shop, *FUNNEL, "--dropped", "3", "--save-segment", "stalled")
    buyers = tmp_path / "buyers.yaml"
    buyers.write_text("id: buyers\nwhere: {event: C}\n")
    ok(shop, "segments", "apply", str(buyers))
    ids = tmp_path / "ids.txt"
    ids.write_text("cat\n")
    for args, message in (
        ((*FUNNEL, "--dropped", "3", "--save-segment", "stalled"), "'stalled' exists already"),
        ((*FUNNEL, "--save-segment", "x"), "save-segment: say which step"),
        ((*FUNNEL, "--dropped", "3", "--save-segment", "no way"), "save-segment: not a segment id"),
        ((*FUNNEL, "--dropped", "5", "--save-segment", "later"), "step: must be between 2"),
        ((*FUNNEL, "--breakdown", "segment:nope"), "breakdown: no segment 'nope'"),
        ((*FUNNEL, "--breakdown", "segment:"), "breakdown: 'segment:'"),
        (("segments", "add-members", "buyers", "--file", str(ids)), "'buyers' is not static"),
        (("segments", "add-members", "nope", "--file", str(ids)), "no segment 'nope'"),
    ):
        run = run_main(tmp_path, database_url, *args)
        assert run.returncode != 0, (args, run.stdout, run.stderr)
        assert "Traceback" not in run.stderr
        assert message in run.stderr, (args, run.stderr)
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr
