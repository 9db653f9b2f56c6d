"""wayline controls apply / show / validate and GET/PUT /api/v1/controls, on both stores."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from wayline.cli import app
from wayline.engine.compile import spec_of
from wayline.events import parse_message
from wayline.journeys import load_journey_text
from wayline.runtime import Role
from wayline.server import Process
from wayline.settings import Settings
from wayline.store import open_store
from wayline.store.journeys import JourneyStore
from wayline.store.sql import SqlStore
from wayline.testing import ManualClock, TimeMachine

CONTROLS = """\
frequency_caps:
  - {channel: email, limit: 3, per: 7d}
  - {channel: sms, limit: 1, per: 1d}
quiet_hours:
  - {channels: [email, sms], from: "21:00", to: "08:00", timezone: customer, action: postpone}
"""
NEWS = """
id: news
entry: {event: Newsletter Due}
nodes:
  - id: message
    type: send
    channel: email
    template: news
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


def test_a_bad_file_is_reported_at_its_line_and_stores_nothing(
    cli: CliRunner, tmp_path: Path
) -> None:
    bad = tmp_path / "controls.yaml"
    bad.write_text(CONTROLS.replace("limit: 1", "limit: none").replace("postpone}", "later}"))
    result = cli.invoke(app, ["controls", "apply", str(bad)])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # a message, not a traceback
    assert result.output.splitlines() == [
        f"{bad}:3:20: frequency_caps[1].limit: must be a whole number, not 'none'",
        f"{bad}:5:78: quiet_hours[0].action: must be 'postpone' or 'drop', not 'later'",
    ]
    shown = cli.invoke(app, ["controls", "show", "--json"])
    assert shown.output.strip() == '{"frequency_caps": [], "quiet_hours": []}'
    typo = tmp_path / "typo.yaml"
    typo.write_text("frequency_caps:\n  - {channel: emial, limit: 3, per: 7d}\n")
    result = cli.invoke(app, ["controls", "validate", str(typo)])
    assert result.exit_code == 1
    assert result.output.startswith(f"{typo}:2:6: frequency_caps[0].channel: unknown channel")
    assert "did you mean 'email'?" in result.output


def test_apply_then_show_round_trips(cli: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "controls.yaml"
    path.write_text(CONTROLS)
    assert cli.invoke(app, ["controls", "validate", str(path)]).output == f"{path}: ok\n"
    applied = cli.invoke(app, ["controls", "apply", str(path)])
    assert (applied.exit_code, applied.output) == (
        0,
        "controls applied to shop: 2 frequency cap(s), 1 quiet hours rule(s)\n",
    )
    shown = cli.invoke(app, ["controls", "show"]).output
    again = tmp_path / "shown.yaml"
    again.write_text(shown)
    assert cli.invoke(app, ["controls", "apply", str(again)]).exit_code == 0
    assert cli.invoke(app, ["controls", "show"]).output.splitlines()[1:] == (shown.splitlines()[1:])
    assert '"per": "7d"' in cli.invoke(app, ["controls", "show", "--json"]).output


def test_controls_applied_by_the_cli_hold_messages_and_the_trace_says_why(
    cli: CliRunner, tmp_path: Path, database_url: str
) -> None:
    path = tmp_path / "controls.yaml"
    path.write_text(CONTROLS)
    assert cli.invoke(app, ["controls", "apply", str(path)]).exit_code == 0
    clock = ManualClock(datetime(2026, 6, 1, 20, 0, tzinfo=UTC))  # 22:00 in Berlin (CEST)
    store = open_store(Settings(data_dir=tmp_path, database_url=database_url), clock)
    assert isinstance(store, SqlStore)
    try:
        ws = store.list_workspaces()[0].id
        journey = load_journey_text(NEWS, "news.yaml")
        JourneyStore(store).apply(ws, journey.id, journey.id, spec_of(journey))
        store.append_events(
            ws,
            [
                parse_message(
                    {
                        "type": "identify",
                        "userId": "ann",
                        "traits": {"timezone": "Europe/Berlin"},
                        "messageId": "i1",
                    },
                    received_at=clock.now(),
                ),
                parse_message(
                    {"type": "track", "userId": "ann", "event": "Newsletter Due", "messageId": "n"},
                    received_at=clock.now(),
                ),
            ],
        )
        TimeMachine.for_journeys(store, clock).advance(days=1)
    finally:
        store.close()
    out = cli.invoke(app, ["journeys", "trace", "news", "ann"]).output.splitlines()
    assert [line.split()[3] for line in out] == ["entered", "postponed", "queued", "completed"]
    assert out[1].endswith("send postponed by quiet hours until 2026-06-02T08:00 Europe/Berlin")
    assert out[2].startswith("2026-06-02T06:00:00+00:00")


@pytest.fixture
def api(settings: Settings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    process = Process(settings, {Role.API})
    process.migrate()
    created = process.store.create_workspace("shop")
    with TestClient(process.app()) as client:
        yield client, {"Authorization": f"Bearer {created.admin_token}"}


def test_put_replaces_and_get_reads_the_controls(api: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = api
    empty = client.get("/api/v1/controls", headers=headers)
    assert empty.json() == {"frequency_caps": [], "quiet_hours": [], "updated_at": None}
    body = {
        "frequency_caps": [{"channel": "*", "limit": 5, "per": "P7D"}],
        "quiet_hours": [{"channels": ["sms"], "from": "22:00", "to": "9:00", "action": "drop"}],
    }
    put = client.put("/api/v1/controls", json=body, headers=headers)
    assert put.status_code == 200, put.text
    got = client.get("/api/v1/controls", headers=headers).json()
    assert got["frequency_caps"] == [{"channel": "*", "limit": 5, "per": "7d"}]
    assert got["quiet_hours"] == [
        {
            "channels": ["sms"],
            "from": "22:00",
            "to": "09:00",
            "timezone": "customer",
            "action": "drop",
        }
    ]
    assert got["updated_at"] is not None
    cleared = client.put("/api/v1/controls", json={}, headers=headers).json()
    assert (cleared["frequency_caps"], cleared["quiet_hours"]) == ([], [])


def test_put_with_a_bad_field_names_it_and_stores_nothing(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    client, headers = api
    good = {"frequency_caps": [{"channel": "email", "limit": 3, "per": "7d"}]}
    assert client.put("/api/v1/controls", json=good, headers=headers).status_code == 200
    cases = [
        (
            {"quiet_hours": [{"channels": ["email"], "from": "21:00", "to": "8", "action": "x"}]},
            "quiet_hours[0].to",
            "not a time of day",
        ),
        (
            {"frequency_caps": [{"channel": "fax", "limit": 3, "per": "7d"}]},
            "frequency_caps[0].channel",
            "unknown channel 'fax'",
        ),
        (
            {"frequency_caps": [{"channel": "email", "limit": 3}]},
            "frequency_caps[0]",
            "missing field 'per'",
        ),
        ({"frequency_cap": []}, "frequency_cap", "did you mean 'frequency_caps'?"),
        (
            {"quiet_hours": [{"channels": ["sms"], "from": "21:00", "to": "21:00"}]},
            "quiet_hours[0].to",
            "nothing is quiet",
        ),
    ]
    for body, field, needle in cases:
        r = client.put("/api/v1/controls", json=body, headers=headers)
        assert r.status_code == 422, r.text
        answer = r.json()
        assert answer["field"] == field, answer
        assert needle in answer["error"], answer
    assert client.put("/api/v1/controls", json=[1], headers=headers).status_code == 422
    assert (
        client.get("/api/v1/controls", headers=headers).json()["frequency_caps"]
        == (good["frequency_caps"])
    )
    assert client.get("/api/v1/controls").status_code == 401
    assert client.put("/api/v1/controls", json=good).status_code == 401
