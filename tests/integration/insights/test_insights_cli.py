"""``wayline report`` for the discovered journey, conformance, attribution and experiments."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.integration.insights.conftest import ev, load
from wayline.analytics.warehouse import open_warehouse
from wayline.cli import app
from wayline.settings import Settings
from wayline.store import open_store

H = timedelta(hours=1)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An embedded data dir: workspace "shop" and a few events in its warehouse."""
    for name in ("WAYLINE_DATABASE_URL", "WAYLINE_WAREHOUSE_URL", "WAYLINE_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(data_dir=tmp_path / "data")
    store = open_store(settings)
    store.migrate()
    workspace = store.create_workspace("shop").workspace.id
    store.close()
    warehouse = open_warehouse(settings)
    source = {"campaign": {"source": "email"}}
    load(
        warehouse,
        [
            ev("u1", "Page Viewed", 0 * H, context=source),
            ev("u1", "Order Completed", 1 * H, {"revenue": 12.5}),
            ev("u2", "Page Viewed", 0 * H),
        ],
        workspace=workspace,
    )
    warehouse.close()
    return settings.data_dir


def report(data_dir: Path, *args: str) -> Any:
    result = CliRunner().invoke(app, ["report", *args, "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_discovered_journey_as_json_csv_and_table(data_dir: Path) -> None:
    rows = json.loads(report(data_dir, "discovered-journey", "--json"))
    assert {
        "source": "Page Viewed",
        "target": "Order Completed",
        "frequency": 1,
        "median_seconds": 3600.0,
    } in rows
    table = list(csv.DictReader(io.StringIO(report(data_dir, "discovered-journey", "--csv"))))
    assert len(table) == len(rows)
    assert "Order Completed" in report(data_dir, "discovered-journey")
    variants = json.loads(report(data_dir, "variants", "--json"))
    # one case each: ties in path order
    assert [v["variant"] for v in variants] == [["Page Viewed"], ["Page Viewed", "Order Completed"]]


def test_the_table_shows_repeated_steps_once(data_dir: Path) -> None:
    table = report(data_dir, "variants", "--activity", "type")
    assert "track (2)" in table  # u1: two events


def test_conformance(data_dir: Path) -> None:
    out = json.loads(
        report(data_dir, "conformance", "--sequence", "Page Viewed,Order Completed", "--json")
    )
    assert (out["cases"], out["fitting_cases"]) == (2, 1)
    assert "log fitness" in report(data_dir, "conformance", "--sequence", "Page Viewed")


def test_attribution(data_dir: Path) -> None:
    rows = json.loads(report(data_dir, "attribution", "--model", "markov", "--json"))
    assert rows == [{"model": "markov", "channel": "email", "conversions": 1.0, "revenue": 12.5}]
    assert "email" in report(data_dir, "attribution")


def test_a_bad_parameter_is_one_line_and_exit_1(data_dir: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from wayline.cli import main; main()",
            "report",
            "attribution",
            "--markov-order",
            "5",
            "--data-dir",
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "1000"},
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == ["error: markov_order: is 1, 2 or 3"]
    assert "Traceback" not in done.stderr


def test_experiments_of_an_unknown_journey(data_dir: Path) -> None:
    result = CliRunner().invoke(app, ["report", "experiments", "nope", "--data-dir", str(data_dir)])
    assert result.exit_code != 0
    assert "no journey 'nope'" in str(result.exception)
