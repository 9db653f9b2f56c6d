"""wayline templates validate / apply / list / preview, on both stores."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wayline.cli import app, main
from wayline.events import parse_message
from wayline.settings import Settings
from wayline.store import open_store
from wayline.testing import drain_profiles

REMINDER = """\
name: cart-reminder
subject: "{{ profile.first_name }}, your cart is waiting"
preheader: "Total {{ event.total | default: 0 | money }}"
html: |
  <p>Hi {{ profile.first_name }}, see <a href="https://shop.example.com">the shop</a>.</p>
"""


@pytest.fixture
def cli(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("WAYLINE_DATABASE_URL", database_url)
    monkeypatch.setenv("WAYLINE_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    assert runner.invoke(app, ["workspace", "create", "shop"]).exit_code == 0
    return runner


def _identify(database_url: str, user: str, **traits: object) -> None:
    store = open_store(Settings(database_url=database_url))
    try:
        (workspace,) = store.list_workspaces()
        call = {"type": "identify", "userId": user, "traits": traits, "messageId": f"i-{user}"}
        store.append_events(workspace.id, [parse_message(call, received_at=workspace.created_at)])
        drain_profiles(store)
    finally:
        store.close()


def test_apply_a_directory_versions_templates_like_journeys(cli: CliRunner, tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "cart-reminder.yaml").write_text(REMINDER)
    (folder / "notes.txt").write_text("not a template")
    first = cli.invoke(app, ["templates", "apply", str(folder)])
    assert first.exit_code == 0, first.output
    assert first.output == "cart-reminder: version 1 (stored)\n"
    again = cli.invoke(app, ["templates", "apply", str(folder)])
    assert again.output == "cart-reminder: version 1 (unchanged)\n"
    (folder / "cart-reminder.yaml").write_text(REMINDER.replace("waiting", "still waiting"))
    changed = cli.invoke(app, ["templates", "apply", str(folder)])
    assert changed.output == "cart-reminder: version 2 (stored)\n"
    listed = cli.invoke(app, ["templates", "list"])
    assert listed.output == "cart-reminder\temail\tv2\n"


def test_an_invalid_file_applies_nothing_and_names_its_line(cli: CliRunner, tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(REMINDER)
    bad = tmp_path / "bad.yaml"
    bad.write_text("subject: hi\nhtml: |\n  <p>{% if %}</p>\n")
    result = cli.invoke(app, ["templates", "apply", str(good), str(bad)])
    assert result.exit_code == 1
    assert result.output == f"{bad}:3:9: html: missing expression\n"
    assert cli.invoke(app, ["templates", "list"]).output == ""


def test_preview_renders_for_a_customer_and_names_what_is_missing(
    cli: CliRunner, tmp_path: Path, database_url: str
) -> None:
    path = tmp_path / "cart-reminder.yaml"
    path.write_text(REMINDER)
    assert cli.invoke(app, ["templates", "apply", str(path)]).exit_code == 0
    _identify(database_url, "ann", first_name="Ann", email="ann@example.com")
    _identify(database_url, "bob", email="bob@example.com")

    shown = cli.invoke(app, ["templates", "preview", "cart-reminder", "--profile", "ann"])
    assert shown.exit_code == 0, shown.output
    assert shown.output == (
        "Subject: Ann, your cart is waiting\n"
        "Preheader: Total $0.00\n"
        "\n"
        "Hi Ann, see the shop (https://shop.example.com).\n"
    )
    by_email = cli.invoke(
        app, ["templates", "preview", "cart-reminder", "--profile", "ann@example.com"]
    )
    assert by_email.output == shown.output


def _wayline(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    """The ``wayline`` command as a user runs it: exit code and error output."""
    monkeypatch.setattr(sys, "argv", ["wayline", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    code = exited.value.code
    return (code if isinstance(code, int) else 1), capsys.readouterr().err


def test_preview_errors_are_one_line(
    cli: CliRunner,
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "cart-reminder.yaml"
    path.write_text(REMINDER)
    assert cli.invoke(app, ["templates", "apply", str(path)]).exit_code == 0
    _identify(database_url, "bob", email="bob@example.com")
    capsys.readouterr()

    code, err = _wayline(
        ["templates", "preview", "cart-reminder", "--profile", "bob"], monkeypatch, capsys
    )
    assert code == 1
    assert err == "error: subject: profile.first_name is undefined\n"

    code, err = _wayline(["templates", "preview", "nope", "--profile", "bob"], monkeypatch, capsys)
    assert (code, err) == (1, "error: no template 'nope'\n")

    code, err = _wayline(
        ["templates", "preview", "cart-reminder", "--profile", "zed"], monkeypatch, capsys
    )
    assert (code, err) == (1, "error: no customer 'zed'\n")


def test_a_directorys_variables_file_sets_the_workspace_variables(
    cli: CliRunner, tmp_path: Path, database_url: str
) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "help.yaml").write_text(
        "subject: 'Help from {{ workspace.brand }}'\n"
        "html: '<p>Write to {{ workspace.support_email }} ({{ workspace.name }})</p>'\n"
    )
    (folder / "variables.yaml").write_text(
        "variables:\n  brand: Acme\n  support_email: help@acme.example\n"
    )
    result = cli.invoke(app, ["templates", "apply", str(folder)])
    assert result.exit_code == 0, result.output
    assert result.output == "help: version 1 (stored)\nvariables: 2 set\n"
    _identify(database_url, "ann", email="ann@example.com")
    shown = cli.invoke(app, ["templates", "preview", "help", "--profile", "ann"])
    assert shown.output == ("Subject: Help from Acme\n\nWrite to help@acme.example (shop)\n"), (
        shown.output
    )

    (folder / "variables.yaml").write_text("variables:\n  name: Other\n")
    refused = cli.invoke(app, ["templates", "apply", str(folder)])
    assert refused.exit_code == 1
    assert refused.output == (
        f"{folder / 'variables.yaml'}:2:3: variables.name: "
        "'name' is reserved: workspace.name is built in\n"
    )
