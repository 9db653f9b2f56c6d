"""``wayline report`` analytics commands on an embedded data dir: table, --json, --csv,
file exports and one-line errors."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.integration.analytics.conftest import at, ev, write
from wayline.analytics.eventlog import InvalidAnalysis
from wayline.analytics.warehouse import open_warehouse
from wayline.cli import app
from wayline.cli.support import open_migrated
from wayline.settings import Settings


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("WAYLINE_DATABASE_URL", "WAYLINE_WAREHOUSE_URL", "WAYLINE_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(data_dir=tmp_path / "data")
    store = open_migrated(settings)
    ws = store.create_workspace("shop").workspace.id
    store.close()
    warehouse = open_warehouse(settings)
    try:
        write(
            warehouse,
            *(ev("a", "A", at(0), properties={"country": "FR"}), ev("a", "B", at(1))),
            *(ev("b", "A", at(0)), ev("b", "C", at(1))),
            workspace_id=ws,
        )
    finally:
        warehouse.close()
    return tmp_path / "data"


def report(data_dir: Path, *args: str) -> str:
    result = CliRunner().invoke(
        app, ["report", *args, "--workspace", "shop", "--data-dir", str(data_dir)]
    )
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def test_funnel_as_table_json_and_csv(data_dir: Path) -> None:
    steps = ("funnel", "--step", "A", "--step", "B")
    rows = json.loads(report(data_dir, *steps, "--json"))
    assert [r["customers"] for r in rows] == [2, 1]
    assert rows[1]["median_seconds_from_previous"] == 60.0
    table = list(csv.DictReader(io.StringIO(report(data_dir, *steps, "--csv"))))
    assert [r["customers"] for r in table] == ["2", "1"]
    assert "Funnel: A → B" in report(data_dir, *steps)
    assert json.loads(report(data_dir, *steps, "--dropped", "2", "--json")) == [{"customer": "b"}]


def test_funnel_breakdown_by_a_channel_of_your_own(data_dir: Path) -> None:
    rows = json.loads(
        report(
            data_dir,
            *("funnel", "--step", "A", "--step", "B", "--breakdown", "channel"),
            *("--channel", "properties.country", "--json"),
        )
    )
    assert {(r["breakdown"], r["step"]): r["customers"] for r in rows} == {
        ("FR", 1): 1,
        ("FR", 2): 1,
        ("direct", 1): 1,
        ("direct", 2): 0,
    }


def test_paths_retention_stages_and_map(data_dir: Path, tmp_path: Path) -> None:
    links = json.loads(report(data_dir, "paths", "--start-event", "A", "--json"))
    assert {(r["source"], r["target"]) for r in links} == {("A", "B"), ("A", "C")}
    cohorts = json.loads(report(data_dir, "retention", "--period", "day", "--json"))
    assert cohorts == [
        {"cohort": "2026-01-05", "cohort_size": 2, "period": 0, "customers": 2, "rate": 1.0}
    ]
    assert "2026-01-05" in report(data_dir, "retention", "--period", "day")
    model = tmp_path / "stages.yaml"
    model.write_text(
        "stages:\n  - name: tried\n    events: [A]\n  - name: liked\n    events: [B]\n"
    )
    stages = json.loads(report(data_dir, "stages", "--model", str(model), "--json"))
    assert [(s["stage"], s["entered"], s["current"]) for s in stages] == [
        ("tried", 2, 1),
        ("liked", 1, 1),
    ]
    who = json.loads(report(data_dir, "stages", "--model", str(model), "--customers", "--json"))
    assert [(c["customer"], c["stage"]) for c in who] == [("a", "liked"), ("b", "tried")]
    listed = report(data_dir, "stages", "--model", str(model), "--customers", "--csv")
    assert [(r["customer"], r["stage"]) for r in csv.DictReader(io.StringIO(listed))] == [
        ("a", "liked"),
        ("b", "tried"),
    ]
    one = report(data_dir, "stages", "--model", str(model), "--customers", "--limit", "1", "--csv")
    assert len(list(csv.DictReader(io.StringIO(one)))) == 1
    nobody = report(data_dir, "stages", "--model", str(model), "--stage", "liked", "--stalled",
                    "--csv")  # fmt: skip
    assert nobody.splitlines()[0].startswith("customer,stage")
    out = tmp_path / "map.svg"
    report(data_dir, "journey-map", "--model", str(model), "--format", "svg", "-o", str(out))
    assert out.read_text().startswith("<svg")
    assert not out.with_name("map.svg.partial").exists()


def test_bad_parameters_are_named(data_dir: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            *("report", "funnel", "--step", "A", "--step", "B", "--window", "soon"),
            *("--workspace", "shop", "--data-dir", str(data_dir)),
        ],
    )
    assert result.exit_code != 0
    assert isinstance(result.exception, InvalidAnalysis)
    assert result.exception.field == "window"


def test_errors_are_one_line_without_traceback(data_dir: Path, tmp_path: Path) -> None:
    model = tmp_path / "stages.yaml"
    model.write_text("stages:\n  - name: tried\n    events: [A]\n    colour: red\n")
    for args, message in (
        (("funnel", "--step", "A", "--mode", "sideways"), "mode: 'sideways'"),
        (("stages", "--model", str(model)), f"{model}:4:13: stages[0].colour"),
    ):
        run = subprocess.run(
            [
                sys.executable,
                *("-c", "from wayline.cli import main; main()"),
                *("report", *args, "--workspace", "shop", "--data-dir", str(data_dir)),
            ],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "COLUMNS": "1000"},
        )
        assert run.returncode == 1
        assert "Traceback" not in run.stderr
        assert message in run.stderr
        assert len(run.stderr.strip().splitlines()) == 1
