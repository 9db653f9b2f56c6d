"""``wayline origins``: list, add and remove a workspace's allowed web origins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from wayline.cli.origins import origins_app
from wayline.cli.support import open_migrated, settings_for


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    store = open_migrated(settings_for(tmp_path))
    try:
        store.create_workspace("shop")
    finally:
        store.close()
    return tmp_path


def _run(data_dir: Path, *args: str) -> Any:
    return CliRunner().invoke(origins_app, [*args, "--data-dir", str(data_dir)])


def test_add_list_remove(data_dir: Path) -> None:
    listed = _run(data_dir, "list")
    assert listed.exit_code == 0, listed.output
    assert "any origin" in listed.output
    added = _run(data_dir, "add", "HTTPS://Shop.Example.com:443/")
    assert added.exit_code == 0, added.output
    assert "https://shop.example.com added" in added.output
    again = _run(data_dir, "add", "https://shop.example.com")
    assert "already allowed" in again.output
    assert _run(data_dir, "add", "http://localhost:3000").exit_code == 0
    listed = _run(data_dir, "list")
    assert listed.output.splitlines() == ["http://localhost:3000", "https://shop.example.com"]
    as_json = _run(data_dir, "list", "--json")
    assert '"any_origin": false' in as_json.output
    removed = _run(data_dir, "remove", "http://localhost:3000")
    assert removed.exit_code == 0
    assert "any origin" not in removed.output
    last = _run(data_dir, "remove", "https://shop.example.com")
    assert last.exit_code == 0
    assert "any origin may send" in last.output
    assert "any origin" in _run(data_dir, "list").output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("add", "shop.example.com"), "expected scheme://host"),
        (("add", "https://shop.example.com/cart"), "no path"),
        (("remove", "https://never.example.com"), "is not among shop's origins"),
        (("list", "--workspace", "nope"), "no workspace named 'nope'"),
    ],
)
def test_a_problem_is_one_line_and_exit_status_1(
    data_dir: Path, args: tuple[str, ...], message: str
) -> None:
    result = _run(data_dir, *args)
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert message in lines[0]
    assert lines[0].startswith("error: ")
