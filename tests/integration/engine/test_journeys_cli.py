"""wayline journeys apply / list / pause / trace, on both stores."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from wayline.cli import app
from wayline.events import parse_message
from wayline.settings import Settings
from wayline.store import open_store
from wayline.store.sql import SqlStore
from wayline.testing import ManualClock, TimeMachine

JOURNEY = """
id: welcome
name: Welcome
entry: {event: Signed Up}
nodes:
  - id: pause
    type: delay
    duration: 2d
    next: done
  - id: done
    type: exit
"""


@pytest.fixture
def cli(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("WAYLINE_DATABASE_URL", database_url)
    monkeypatch.setenv("WAYLINE_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    assert runner.invoke(app, ["workspace", "create", "shop"]).exit_code == 0
    return runner


def test_apply_stores_a_version_only_when_the_journey_changed(
    cli: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "welcome.yaml"
    path.write_text(JOURNEY)
    first = cli.invoke(app, ["journeys", "apply", str(path)])
    assert (first.exit_code, first.output) == (0, "welcome: version 1 (stored)\n")
    again = cli.invoke(app, ["journeys", "apply", str(path)])
    assert again.output == "welcome: version 1 (unchanged)\n"
    path.write_text(JOURNEY.replace("2d", "3d"))
    assert cli.invoke(app, ["journeys", "apply", str(path)]).output == (
        "welcome: version 2 (stored)\n"
    )
    listed = cli.invoke(app, ["journeys", "list"]).output
    assert listed.split("\t")[:3] == ["welcome", "active", "v2"]
    assert cli.invoke(app, ["journeys", "pause", "welcome"]).exit_code == 0
    assert "paused" in cli.invoke(app, ["journeys", "list"]).output


def test_an_invalid_file_applies_nothing(cli: CliRunner, tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(JOURNEY)
    bad.write_text(JOURNEY.replace("duration: 2d", "duration: soon"))
    result = cli.invoke(app, ["journeys", "apply", str(good), str(bad)])
    assert result.exit_code == 1
    assert "bad.yaml:8:" in result.output
    assert cli.invoke(app, ["journeys", "list"]).output == ""


def test_trace_tells_each_step_and_why(cli: CliRunner, tmp_path: Path, database_url: str) -> None:
    path = tmp_path / "welcome.yaml"
    path.write_text(JOURNEY)
    assert cli.invoke(app, ["journeys", "apply", str(path)]).exit_code == 0
    clock = ManualClock()
    store = open_store(Settings(data_dir=tmp_path, database_url=database_url), clock)
    assert isinstance(store, SqlStore)
    try:
        ws = store.list_workspaces()[0].id
        store.append_events(
            ws,
            [
                parse_message(
                    {"type": "track", "userId": "ann", "event": "Signed Up", "messageId": "s1"},
                    received_at=clock.now(),
                )
            ],
        )
        machine = TimeMachine.for_journeys(store, clock)
        machine.advance(days=3)
    finally:
        store.close()
    out = cli.invoke(app, ["journeys", "trace", "welcome", "ann"]).output.splitlines()
    kinds = [line.split()[3] for line in out]
    assert kinds == ["entered", "waiting", "passed", "completed"]
    assert "Signed Up" in out[0]
    missing = cli.invoke(app, ["journeys", "trace", "welcome", "nobody"])
    assert missing.exit_code == 1


def test_apply_has_nothing_to_warn_about_once_every_part_runs(
    cli: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "scored.yaml"
    path.write_text(
        """
id: scored
entry: {segment: vip}
exit_when: [{segment: churned}, {event: Unsubscribed}]
nodes:
  - id: pause
    type: branch
    branches:
      - when: {segment: big-spenders}
        next: score
      - when: {event: Order Completed, at_least: 2, within: 30d}
        next: score
    default: done
  - {id: score, type: score, trait: loyalty, add: 10, next: tell}
  - {id: tell, type: webhook, url: "https://crm.example.com/hook", capture_as: crm, next: move}
  - {id: move, type: goto, journey: welcome}
  - {id: done, type: exit}
"""
    )
    result = CliRunner().invoke(app, ["journeys", "apply", str(path)])
    assert result.exit_code == 0, result.output
    assert "scored: version 1 (stored)" in result.output
    assert "warning" not in result.output
