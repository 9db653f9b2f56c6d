"""wayline placements validate / apply / list, the placements admin API, and the preview
of in-app templates, on both stores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from wayline.cli import app
from wayline.runtime import Role
from wayline.server import Process
from wayline.settings import Settings
from wayline.store.base import NewWorkspace
from wayline.testing import drain_profiles

HERO = """\
description: The banner at the top of the home page
rules:
  - when: {event: Product Configured}
    content: {title: "Your {{ event.properties.product }}"}
  - content: {title: Hello}
"""


@pytest.fixture
def cli(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("WAYLINE_DATABASE_URL", database_url)
    monkeypatch.setenv("WAYLINE_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    assert runner.invoke(app, ["workspace", "create", "shop"]).exit_code == 0
    return runner


def test_apply_a_directory_of_placements(cli: CliRunner, tmp_path: Path) -> None:
    folder = tmp_path / "placements"
    folder.mkdir()
    (folder / "home-hero.yaml").write_text(HERO)
    (folder / "cart.yaml").write_text("rules: []\n")
    r = cli.invoke(app, ["placements", "validate", str(folder)])
    assert (r.exit_code, r.output) == (0, "cart: ok (0 rules)\nhome-hero: ok (2 rules)\n")
    r = cli.invoke(app, ["placements", "apply", str(folder)])
    assert (r.exit_code, r.output) == (0, "cart: stored\nhome-hero: stored\n")
    r = cli.invoke(app, ["placements", "apply", str(folder)])
    assert r.output == "cart: unchanged\nhome-hero: unchanged\n"
    r = cli.invoke(app, ["placements", "list"])
    assert r.output == "cart\t0 rules\nhome-hero\t2 rules\n"


def test_an_invalid_file_applies_nothing_and_says_where(cli: CliRunner, tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(HERO)
    bad = tmp_path / "bad.yaml"
    bad.write_text(HERO.replace("when: {event: Product Configured}", "when: {event: X, trait: y}"))
    r = cli.invoke(app, ["placements", "apply", str(good), str(bad)])
    assert r.exit_code == 1
    assert r.output == f"{bad}:3:5: rules.0.when: when needs exactly one of event or trait\n"
    assert "Traceback" not in r.output
    assert cli.invoke(app, ["placements", "list"]).output == ""
    r = cli.invoke(app, ["placements", "validate", str(tmp_path / "missing.yaml")])
    assert r.exit_code == 1
    assert r.output.startswith(f"{tmp_path / 'missing.yaml'}: cannot read:")


@pytest.fixture
def api(settings: Settings) -> Iterator[tuple[TestClient, NewWorkspace, Process]]:
    process = Process(settings, {Role.API})
    process.migrate()
    created = process.store.create_workspace("acme")
    with TestClient(process.app()) as client:
        yield client, created, process


def test_the_admin_api_manages_placements(api: Any) -> None:
    client, created, _ = api
    admin = {"Authorization": f"Bearer {created.admin_token}"}
    body = {"rules": [{"content": {"title": "Hello {{ profile.first_name }}"}}]}
    r = client.put("/api/v1/placements/home-hero", json=body, headers=admin)
    assert (r.status_code, r.json()) == (200, {"name": "home-hero", "changed": True})
    r = client.put("/api/v1/placements/home-hero", json=body, headers=admin)
    assert r.json()["changed"] is False
    listed = client.get("/api/v1/placements", headers=admin).json()["data"]
    assert [(p["name"], p["placement"]["rules"]) for p in listed] == [("home-hero", body["rules"])]
    assert client.get("/api/v1/placements/home-hero", headers=admin).status_code == 200

    r = client.put(
        "/api/v1/placements/home-hero",
        json={"rules": [{"when": {"trait": "plan", "within": "1d"}, "html": "x"}]},
        headers=admin,
    )
    assert r.status_code == 422
    assert r.json()["error"] == "rules.0.when: where and within go with event, not trait"
    assert r.json()["field"] == "rules.0.when"
    r = client.put("/api/v1/placements/bad%20name", json={}, headers=admin)
    assert (r.status_code, r.json()["field"]) == (422, "name")
    r = client.put("/api/v1/placements/x", json={"name": "y"}, headers=admin)
    assert (r.status_code, r.json()["field"]) == (422, "name")
    r = client.put("/api/v1/placements/x", json={}, headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401

    assert client.delete("/api/v1/placements/home-hero", headers=admin).status_code == 200
    assert client.delete("/api/v1/placements/home-hero", headers=admin).status_code == 404
    assert client.get("/api/v1/placements", headers=admin).json()["data"] == []


def test_an_inapp_template_is_applied_and_previewed(api: Any) -> None:
    client, created, process = api
    admin = {"Authorization": f"Bearer {created.admin_token}"}
    template = {
        "channel": "inapp",
        "placement": "home-hero",
        "ttl": "3d",
        "content": {"title": "Hi {{ profile.first_name }}", "n": 2},
        "html": "<b>{{ event.product }}</b>",
    }
    r = client.put("/api/v1/templates/hero", json=template, headers=admin)
    assert r.status_code == 201, r.text
    r = client.post(
        "/v1/identify",
        json={"userId": "ann", "traits": {"first_name": "Ann"}},
        auth=(created.write_key, ""),
    )
    drain_profiles(process.store)
    r = client.post(
        "/api/v1/templates/hero/preview",
        json={"profile": "ann", "event": {"product": "Domane"}},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["channel"], out["placement"], out["priority"]) == ("inapp", "home-hero", 0)
    assert out["content"] == {"title": "Hi Ann", "n": 2}
    assert out["html"] == "<b>Domane</b>"
    assert out["expires_at"] is not None
    r = client.put("/api/v1/templates/hero", json={**template, "placement": None}, headers=admin)
    assert r.status_code == 422
    assert r.json()["error"] == "an in-app template needs a placement"


def test_the_cli_previews_an_inapp_template(
    cli: CliRunner, tmp_path: Path, database_url: str
) -> None:
    path = tmp_path / "hero.yaml"
    path.write_text(
        "channel: inapp\nplacement: home-hero\npriority: 2\n"
        'content: {title: "Hi {{ profile.first_name }}"}\nhtml: "<b>x</b>"\n'
    )
    r = cli.invoke(app, ["templates", "apply", str(path)])
    assert (r.exit_code, r.output) == (0, "hero: version 1 (stored)\n")
    from wayline.events import parse_message
    from wayline.store import open_store

    store = open_store(Settings(database_url=database_url))
    try:
        (workspace,) = store.list_workspaces()
        call = {"type": "identify", "userId": "ann", "traits": {"first_name": "Ann"}}
        store.append_events(workspace.id, [parse_message(call, received_at=workspace.created_at)])
        drain_profiles(store)
    finally:
        store.close()
    r = cli.invoke(app, ["templates", "preview", "hero", "--profile", "ann"])
    assert r.exit_code == 0, r.output
    assert r.output == ('Placement: home-hero (priority 2)\n{\n  "title": "Hi Ann"\n}\n<b>x</b>\n')
