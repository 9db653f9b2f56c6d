"""``wayline journeys validate`` and ``wayline journeys schema``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.unit.journeys.example import EXAMPLE
from wayline.cli import app, main

runner = CliRunner()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    good = tmp_path / "cart.yaml"
    good.write_text(EXAMPLE, encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        EXAMPLE.replace("timeout: 1h", "timeout: 1 hour").replace(
            "default: split", "default: spilt"
        ),
        encoding="utf-8",
    )
    return {"good": good, "bad": bad, "missing": tmp_path / "missing.yaml"}


def test_a_valid_file_prints_ok(files: dict[str, Path]) -> None:
    result = runner.invoke(app, ["journeys", "validate", str(files["good"])])
    assert result.exit_code == 0, result.output
    assert result.output == f"{files['good']}: ok\n"


def test_every_problem_one_per_line_and_exit_1(files: dict[str, Path]) -> None:
    result = runner.invoke(app, ["journeys", "validate", str(files["good"]), str(files["bad"])])
    assert result.exit_code == 1
    bad = files["bad"]
    assert result.output.splitlines() == [
        f"{files['good']}: ok",
        f"{bad}:14:5: node 'wait_checkout': timeout: not a duration: '1 hour' (use 30s, 15m, 1h, "
        "7d or ISO 8601 like PT1H)",
        f"{bad}:36:5: node 'opened': default: no node 'spilt' (did you mean 'split'?)",
    ]
    assert "Traceback" not in result.output


def test_an_unreadable_file_is_one_line(files: dict[str, Path]) -> None:
    result = runner.invoke(app, ["journeys", "validate", str(files["missing"])])
    assert result.exit_code == 1
    assert result.output == f"{files['missing']}: cannot read: No such file or directory\n"


def test_a_yaml_syntax_error_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"id": "j",\n "entry": {"api": true}\n "nodes": []}\n', encoding="utf-8")
    result = runner.invoke(app, ["journeys", "validate", str(path)])
    assert result.exit_code == 1
    assert (
        result.output == f"{path}:3:2: not valid YAML: expected ',' or '}}', but got '<scalar>'\n"
    )


def test_the_wayline_command_exits_1_on_a_problem(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["wayline", "journeys", "validate", str(files["bad"])])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    assert capsys.readouterr().out.count("\n") == 2


def test_schema_prints_the_json_schema() -> None:
    result = runner.invoke(app, ["journeys", "schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["title"] == "Wayline journey"
    assert "WaitForEventNode" in schema["$defs"]
