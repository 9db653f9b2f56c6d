"""``wayline journeys simulate``: table and JSON output, the period read in the workspace's
time zone, and bad input as one line and exit status 1, on both stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from tests.integration.engine.simulation_data import JOURNEY, make_carts
from tests.integration.engine.test_simulate import JOURNEY_TABLES, rows
from wayline.cli import app
from wayline.settings import Settings
from wayline.store import open_store
from wayline.store.sql import SqlStore
from wayline.testing import drain_profiles


@pytest.fixture
def cli(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A workspace in Paris time holding 40 customers' carts, and the journey's file."""
    monkeypatch.setenv("WAYLINE_DATABASE_URL", database_url)
    monkeypatch.setenv("WAYLINE_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    created = runner.invoke(app, ["workspace", "create", "shop", "--timezone", "Europe/Paris"])
    assert created.exit_code == 0
    store = open_store(Settings(data_dir=tmp_path, database_url=database_url))
    assert isinstance(store, SqlStore)
    try:
        workspace = store.list_workspaces()[0].id
        store.append_events(workspace, [rows(m) for m in make_carts(customers=40).messages])
        drain_profiles(store)
    finally:
        store.close()
    (tmp_path / "cart.yaml").write_text(JOURNEY)
    return runner


def journey_rows(database_url: str, tmp_path: Path) -> int:
    store = open_store(Settings(data_dir=tmp_path, database_url=database_url))
    assert isinstance(store, SqlStore)
    try:
        with store.engine.connect() as conn:
            return sum(
                int(conn.scalar(sa.select(sa.func.count()).select_from(t)) or 0)
                for t in JOURNEY_TABLES
            )
    finally:
        store.close()


def test_json_report(cli: CliRunner, tmp_path: Path, database_url: str) -> None:
    result = cli.invoke(
        app,
        [
            "journeys",
            "simulate",
            str(tmp_path / "cart.yaml"),
            "--from",
            "2026-03-02",
            "--to",
            "2026-03-07",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    # dates without an offset are midnights in the workspace's zone (Paris: UTC+1 in March)
    assert report["start"] == "2026-03-01T23:00:00+00:00"
    assert report["end"] == "2026-03-06T23:00:00+00:00"
    assert report["journey_id"] == "abandoned-cart"
    assert report["entries"] > 0
    assert report["refused_total"] == sum(report["refused"].values()) > 0
    nodes = {n["id"]: n for n in report["nodes"]}
    assert nodes["wait_checkout"]["reached"] == report["entries"]
    sends = {m["node"]: m for m in report["messages"]}
    assert sends["reminder"]["channel"] == "log"
    assert sends["reminder"]["template"] == "cart-reminder"
    assert sends["notify_crm"]["channel"] == "webhook"
    assert sends["reminder"]["messages"] == nodes["reminder"]["reached"]
    assert journey_rows(database_url, tmp_path) == 0


def test_table_report(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(
        app,
        [
            "journeys",
            "simulate",
            str(tmp_path / "cart.yaml"),
            "--from",
            "2026-03-02T00:00Z",
            "--to",
            "2026-03-07T00:00+00:00",
        ],
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "abandoned-cart: simulated 2026-03-02T00:00:00+00:00 to 2026-03-07" in out
    assert "nothing was sent" in out
    for words in ("entries", "refused by re-entry", "converted", "wait_checkout", "Would send"):
        assert words in out
    assert "cart-discount" in out
    assert "replaying" not in result.output  # no progress bar off a terminal


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--from", "yesterday", "--to", "2026-03-07"], "--from: not a date: 'yesterday'"),
        (["--from", "2026-03-02", "--to", "2026-13-01"], "--to: not a date: '2026-13-01'"),
        (["--from", "2026-03-07", "--to", "2026-03-02"], "must be after --from"),
        (["--from", "2026-03-02", "--to", "2026-03-02"], "must be after --from"),
    ],
)
def test_bad_dates(cli: CliRunner, tmp_path: Path, args: list[str], says: str) -> None:
    result = cli.invoke(app, ["journeys", "simulate", str(tmp_path / "cart.yaml"), *args])
    assert result.exit_code == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ")
    assert says in line


def test_a_missing_file(cli: CliRunner, tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = cli.invoke(
        app, ["journeys", "simulate", str(missing), "--from", "2026-03-02", "--to", "2026-03-07"]
    )
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"{missing}: cannot read")


def test_an_invalid_journey(cli: CliRunner, tmp_path: Path, database_url: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(JOURNEY.replace("timeout: 1h", "timeout: soon"))
    result = cli.invoke(
        app, ["journeys", "simulate", str(bad), "--from", "2026-03-02", "--to", "2026-03-07"]
    )
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"{bad}:")
    assert "timeout: not a duration: 'soon'" in line
    assert journey_rows(database_url, tmp_path) == 0
