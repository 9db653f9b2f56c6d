"""wayline journeys plan / apply --migrate / show, on both stores."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.integration.engine.test_journey_versions import V1, V2
from wayline import cli
from wayline.cli import app
from wayline.events import parse_message
from wayline.settings import Settings
from wayline.store import open_store
from wayline.store.sql import SqlStore
from wayline.testing import ManualClock, TimeMachine

EARLY, LATE = 20, 10


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    v1, v2 = tmp_path / "v1" / "winback.yaml", tmp_path / "v2" / "winback.yaml"
    for path, text in ((v1, V1), (v2, V2)):
        path.parent.mkdir()
        path.write_text(text)
    return v1, v2


@pytest.fixture
def cli_env(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: tuple[Path, Path]
) -> CliRunner:
    """Version 1 applied, and 30 customers inside: 20 at hold, 10 at first_wait."""
    monkeypatch.setenv("WAYLINE_DATABASE_URL", database_url)
    monkeypatch.setenv("WAYLINE_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    assert runner.invoke(app, ["workspace", "create", "shop"]).exit_code == 0
    assert runner.invoke(app, ["journeys", "apply", str(files[0])]).exit_code == 0
    clock = ManualClock()
    store = open_store(Settings(data_dir=tmp_path, database_url=database_url), clock)
    assert isinstance(store, SqlStore)
    try:
        ws = store.list_workspaces()[0].id
        machine = TimeMachine.for_journeys(store, clock)
        for batch, then in ((range(EARLY), 25), (range(EARLY, EARLY + LATE), 0)):
            store.append_events(
                ws,
                [
                    parse_message(
                        {
                            "type": "track",
                            "userId": f"u{n}",
                            "event": "Signed Up",
                            "messageId": f"s{n}",
                        },
                        received_at=clock.now(),
                    )
                    for n in batch
                ],
            )
            machine.advance(hours=then)
    finally:
        store.close()
    return runner


def test_plan_shows_the_difference_and_who_is_inside(
    cli_env: CliRunner, files: tuple[Path, Path]
) -> None:
    result = cli_env.invoke(app, ["journeys", "plan", str(files[1])])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "winback: new version 2 (latest is version 1)",
        "  nodes added: greet, thanks",
        "  nodes removed: first_wait",
        "  node changed: tail (duration, next)",
        "  journey fields changed: name",
        "  inside: 30 customers",
        "    version 1 node first_wait: 10 (removed in version 2)",
        "    version 1 node hold: 20 (unchanged in version 2)",
        "  version 1: 30 customers stay on it (--migrate moves them)",
    ]
    refused = cli_env.invoke(app, ["journeys", "plan", str(files[1]), "--migrate"])
    assert refused.exit_code == 0
    assert refused.output.splitlines()[-4:] == [
        "  with --migrate:",
        "    version 1 node hold -> version 2 node hold: 20 customers (continue their wait)",
        "    refused: version 1 node first_wait: 10 customers and no node 'first_wait' in "
        "version 2; map it with --map first_wait=NODE",
        "  apply --migrate refuses this: map every removed node with customers",
    ]
    same = cli_env.invoke(app, ["journeys", "plan", str(files[0])])
    assert same.output.splitlines()[0] == "winback: unchanged, version 1"


def test_apply_migrate_does_what_plan_said(cli_env: CliRunner, files: tuple[Path, Path]) -> None:
    args = [str(files[1]), "--migrate", "--map", "first_wait=greet", "--json"]
    planned = cli_env.invoke(app, ["journeys", "plan", *args])
    assert planned.exit_code == 0, planned.output
    applied = cli_env.invoke(app, ["journeys", "apply", *args])
    assert applied.exit_code == 0, applied.output
    assert json.loads(applied.stdout) == json.loads(planned.stdout)
    (plan,) = json.loads(planned.stdout)
    assert [(m["from_node"], m["to_node"], m["customers"], m["how"]) for m in plan["moves"]] == [
        ("first_wait", "greet", LATE, "re_enters"),
        ("hold", "hold", EARLY, "continues"),
    ]
    shown = cli_env.invoke(app, ["journeys", "show", "winback"])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[:2] == ["winback: Win back", "status: active"]
    assert "  version 2 node greet: 10" in lines
    assert "  version 2 node hold: 20" in lines
    assert not any(line.startswith("  version 1 node") for line in lines)
    # applying again changes nothing and moves nobody
    again = cli_env.invoke(app, ["journeys", "apply", str(files[1]), "--migrate"])
    assert again.output == "winback: version 2 (unchanged)\n"


def test_apply_without_migrate_says_who_stays(cli_env: CliRunner, files: tuple[Path, Path]) -> None:
    result = cli_env.invoke(app, ["journeys", "apply", str(files[1])])
    assert (result.exit_code, result.output) == (
        0,
        "winback: version 2 (stored)\n"
        "  version 1: 30 customers stay on it (--migrate moves them)\n",
    )
    shown = cli_env.invoke(app, ["journeys", "show", "winback", "--version", "1"])
    lines = shown.output.splitlines()
    assert lines[lines.index("versions:") + 2].endswith("(current)")
    assert "  version 1 node first_wait: 10" in lines
    spec = lines[lines.index("spec of version 1:") + 1 :]
    assert spec[:3] == ["id: winback", "entry:", "  event: Signed Up"]
    assert "  duration: 1d" in spec


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ([], "customers are at nodes version 2 removed: 'first_wait' (version 1, 10 customers)"),
        (["--map", "nowhere=greet"], "winback has no node 'nowhere' in a version before 2"),
        (["--map", "first_wait=nowhere"], "version 2 of winback has no node 'nowhere'"),
        (["--map", "first_wait"], "expected OLD=NEW"),
    ],
)
def test_a_refused_migration_is_one_line_and_stores_nothing(
    cli_env: CliRunner,
    files: tuple[Path, Path],
    extra: list[str],
    says: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["wayline", "journeys", "apply", str(files[1]), "--migrate", *extra]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 1
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert "Traceback" not in output
    assert output.count("error:") == 1
    assert says in " ".join(output.split())
    listed = cli_env.invoke(app, ["journeys", "list"]).output
    assert listed.split("\t")[:3] == ["winback", "active", "v1"]
    shown = cli_env.invoke(app, ["journeys", "show", "winback"]).output
    assert "  version 1 node first_wait: 10" in shown.splitlines()


def test_show_an_unknown_version_or_journey_fails(cli_env: CliRunner) -> None:
    missing = cli_env.invoke(app, ["journeys", "show", "winback", "--version", "7"])
    assert missing.exit_code == 1
    assert "winback has no version 7" in str(missing.exception)
    nobody = cli_env.invoke(app, ["journeys", "show", "nope"])
    assert nobody.exit_code == 1
    assert "no journey 'nope'" in str(nobody.exception)
