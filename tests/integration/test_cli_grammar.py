"""One grammar for every ``wayline`` command group: ``-w/--workspace`` (the only workspace by
default), ``--data-dir``, one plain error line, no store created by a command that only
reads, CSV that parses, tables that keep within the terminal."""

from __future__ import annotations

import ast
import csv
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from wayline.cli import GROUPS, app, load_group, main

#: A command of each group that reads one workspace, and the output it succeeds with.
READS: dict[str, list[str]] = {
    "report": ["report", "events-per-day"],
    "journeys": ["journeys", "list"],
    "segments": ["segments", "list"],
    "stages": ["stages", "show"],
    "controls": ["controls", "show"],
    "subscription-groups": ["subscription-groups", "show"],
    "templates": ["templates", "list"],
    "placements": ["placements", "list"],
    "origins": ["origins", "list"],
    "keys": ["keys", "list"],
    "deadletters": ["deadletters", "list"],
}
#: The groups that take no workspace: what they act on is named otherwise.
NO_WORKSPACE = {"workspace", "sample", "demo", "secrets"}

HEAVY = (
    "fastapi",
    "uvicorn",
    "sqlalchemy",
    "ibis",
    "duckdb",
    "pandas",
    "pyarrow",
    "numpy",
    "scipy",
    "pm4py",
    "mjml",
    "liquid",
)


def wayline(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """Run ``wayline`` as the console script does: exit code, stdout, stderr."""
    code = 0
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def data_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    where = tmp_path / "data"
    code, _, err = wayline(capsys, "workspace", "create", "shop", "--data-dir", where)
    assert code == 0, err
    # A stage model, so that ``stages show`` has one to show.
    code, _, err = wayline(capsys, "stages", "apply", "--preset", "ecommerce", "--data-dir", where)
    assert code == 0, err
    return where


def test_every_group_with_a_workspace_is_covered() -> None:
    assert set(GROUPS) - NO_WORKSPACE == set(READS) | {"import"}


@pytest.mark.parametrize("group", sorted(READS))
def test_w_names_the_workspace(
    group: str, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = wayline(capsys, *READS[group], "-w", "shop", "--data-dir", data_dir)
    assert (code, err) == (0, "")


@pytest.mark.parametrize("group", sorted(READS))
def test_the_only_workspace_is_the_default(
    group: str, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = wayline(capsys, *READS[group], "--data-dir", data_dir)
    assert (code, err) == (0, "")


@pytest.mark.parametrize("group", sorted(READS))
def test_an_unknown_workspace_is_one_line(
    group: str, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = wayline(capsys, *READS[group], "-w", "nope", "--data-dir", data_dir)
    assert code == 1
    assert out == ""
    assert err == "error: no workspace named 'nope'\n"


def test_two_workspaces_ask_which(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert wayline(capsys, "workspace", "create", "blog", "--data-dir", data_dir)[0] == 0
    code, _, err = wayline(capsys, "journeys", "list", "--data-dir", data_dir)
    assert code == 1
    assert err.count("\n") == 1
    assert "choose with --workspace" in err


def test_import_takes_w(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = tmp_path / "events.csv"
    rows.write_text("userId,event,timestamp,messageId\nann,Signed Up,2026-01-02T03:04:05Z,m1\n")
    code, out, err = wayline(
        capsys, "import", "events", rows, "-w", "shop", "--json", "--data-dir", data_dir
    )
    assert code == 0, err
    assert json.loads(out)["landed"] == 1


@pytest.mark.parametrize(
    "command",
    [*READS.values(), ["workspace", "list"], ["journeys", "show", "j"], ["report", "stages"]],
    ids=" ".join,
)
def test_a_reading_command_creates_no_store(
    command: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WAYLINE_DATA_DIR", raising=False)
    code, _, err = wayline(capsys, *command)
    assert code == 1
    assert err == (
        "error: no data directory 'wayline-data'; give --data-dir or set WAYLINE_DATA_DIR\n"
    )
    assert list(tmp_path.iterdir()) == []

    missing = tmp_path / "elsewhere"
    code, _, err = wayline(capsys, *command, "--data-dir", missing)
    assert code == 1
    assert err.count("\n") == 1
    assert not missing.exists()


@pytest.mark.parametrize(
    "command",
    [
        ["journeys", "pause", "j"],
        ["stages", "apply", "--preset", "ecommerce"],
        ["segments", "remove-members", "s", "--file", "{ids}"],
    ],
    ids=" ".join,
)
def test_a_command_that_writes_into_a_workspace_creates_no_store(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("ann\n")
    missing = tmp_path / "data"
    args = [a.format(ids=ids) for a in command]
    code, _, err = wayline(capsys, *args, "--data-dir", missing)
    assert code == 1
    assert err == (
        f"error: no data directory {str(missing)!r}; give --data-dir or set WAYLINE_DATA_DIR\n"
    )
    assert not missing.exists()


def test_an_empty_data_dir_stays_empty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = wayline(
        capsys, "report", "funnel", "--step", "A", "--step", "B", "--data-dir", tmp_path
    )
    assert code == 1
    assert "no Wayline store in" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args",
    [
        ["report", "funnel", "--bogus"],
        ["journeys", "list", "--bogus"],
        ["workspace", "list", "--bogus"],
        ["report", "nonsense"],
        ["report", "stages", "--limit", "many"],
    ],
    ids=" ".join,
)
def test_usage_errors_are_one_plain_line(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = wayline(capsys, *args)
    assert code == 2
    assert out == ""
    assert err.startswith("error: ")
    assert err.count("\n") == 1
    assert "Error" not in err  # no class name: NoSuchOption, BadParameter, UsageError
    assert "Traceback" not in err
    assert f"wayline {args[0]}" in err  # where to look: ``wayline report … --help``


def test_a_missing_option_names_it(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = wayline(capsys, "report", "funnel")
    assert code == 2
    assert err.count("\n") == 1
    assert "--step" in err
    assert "MissingParameter" not in err


def test_csv_has_a_header_and_parses(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = wayline(capsys, "report", "stages", "--csv", "--data-dir", data_dir)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0]["stage"] == "awareness"
    assert {"stage", "entered", "current", "moved_on"} <= set(rows[0])

    code, out, _ = wayline(capsys, "workspace", "list", "--csv", "--data-dir", data_dir)
    assert code == 0
    assert [r["name"] for r in csv.DictReader(io.StringIO(out))] == ["shop"]

    code, out, _ = wayline(capsys, "journeys", "list", "--csv", "--data-dir", data_dir)
    assert (code, out) == (0, "id,status,version,name\n")


def test_json_and_csv_together_are_refused(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = wayline(capsys, "workspace", "list", "--json", "--csv", "--data-dir", data_dir)
    assert code == 1
    assert err == "error: choose one of --json and --csv\n"


def test_a_table_keeps_within_80_columns(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = wayline(capsys, "report", "stages", "--data-dir", data_dir)
    assert code == 0
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    header = lines[2]
    assert "stage" in header
    bottom = max(i for i, line in enumerate(lines) if line.startswith("└"))
    note = " ".join(line.strip() for line in lines[bottom + 1 :])  # Rich wraps it too
    assert note.endswith("(--json or --csv gives every column)")
    code, out, _ = wayline(capsys, "report", "stages", "--json", "--data-dir", data_dir)
    every = set(json.loads(out)[0])
    dropped = {c for c in every if f" {c} " not in header}
    assert dropped, "some column had to be dropped at 80 columns"
    assert all(c in note for c in dropped)


def test_the_root_help_lists_every_group_with_its_own_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = wayline(capsys, "--help")
    assert code == 0
    for name, group in GROUPS.items():
        loaded = load_group(name)
        assert (loaded.help or "").strip().splitlines()[0] == group.help
        assert name in out


def test_importing_the_cli_loads_nothing_heavy() -> None:
    listed = subprocess.run(
        [sys.executable, "-c", "import wayline.cli, sys; print(sorted(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    loaded = {name.split(".")[0] for name in ast.literal_eval(listed)}
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    """Every command under ``command``, by its path: ``report funnel``."""
    if hasattr(command, "commands"):
        for name in command.list_commands(None):
            sub = command.commands.get(name) or load_group(name)
            yield from _commands(sub, (*path, name))
    else:
        yield " ".join(path), command


def test_every_command_with_a_workspace_takes_w_and_data_dir() -> None:
    every = dict(_commands(typer.main.get_command(app)))
    assert "report funnel" in every
    with_workspace = {
        path: command
        for path, command in every.items()
        if any(p.name == "workspace" for p in command.params)
    }
    assert len(with_workspace) > 30
    for path, command in with_workspace.items():
        options = {o for p in command.params for o in p.opts}
        assert {"-w", "--workspace", "--data-dir"} <= options, path
