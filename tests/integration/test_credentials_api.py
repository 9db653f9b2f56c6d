"""``/api/v1/workspace/credentials`` through the app, on both stores: a revoked key is refused
on the next request, and within a second when another process revoked it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.polling import wait_until
from wayline.runtime import Role
from wayline.server import Process
from wayline.settings import Settings
from wayline.store import open_store
from wayline.store.base import NewWorkspace
from wayline.testing import ManualClock

PATH = "/api/v1/workspace/credentials"


@dataclass
class App:
    client: TestClient
    created: NewWorkspace
    settings: Settings
    clock: ManualClock


@pytest.fixture
def app(settings: Settings, clock: ManualClock) -> Iterator[App]:
    process = Process(settings, {Role.API}, clock=clock)
    process.migrate()
    created = process.store.create_workspace("shop")
    with TestClient(process.app()) as client:
        yield App(client, created, settings, clock)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _listed(app: App) -> list[dict[str, Any]]:
    r = app.client.get(PATH, headers=_bearer(app.created.admin_token))
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["credentials"]
    return found


def _id_of(app: App, secret: str) -> str:
    [found] = [c["id"] for c in _listed(app) if secret.startswith(c["prefix"])]
    return str(found)


def _create(app: App, kind: str) -> dict[str, Any]:
    r = app.client.post(PATH, json={"kind": kind}, headers=_bearer(app.created.admin_token))
    assert r.status_code == 201, r.text
    made: dict[str, Any] = r.json()
    return made


def _track(app: App, write_key: str) -> int:
    return app.client.post(
        "/v1/track", json={"userId": "u", "event": "E"}, auth=(write_key, "")
    ).status_code


def test_list_shows_prefixes_never_secrets(app: App) -> None:
    r = app.client.get(PATH, headers=_bearer(app.created.admin_token))
    assert r.status_code == 200
    assert app.created.write_key not in r.text
    assert app.created.admin_token not in r.text
    listed = r.json()["credentials"]
    assert {c["kind"] for c in listed} == {"write_key", "admin_token"}
    assert {c["prefix"] for c in listed} == {
        app.created.write_key[:10],
        app.created.admin_token[:10],
    }
    assert all(set(c) == {"id", "kind", "prefix", "created_at", "revoked_at"} for c in listed)
    assert all(c["revoked_at"] is None for c in listed)


def test_create_shows_the_secret_once_and_it_works(app: App) -> None:
    made = _create(app, "write_key")
    assert made["secret"].startswith("wk_")
    assert made["prefix"] == made["secret"][:10]
    assert _track(app, made["secret"]) == 200
    assert made["secret"] not in app.client.get(PATH, headers=_bearer(app.created.admin_token)).text
    token = _create(app, "admin_token")["secret"]
    assert token.startswith("wa_")
    assert app.client.get(PATH, headers=_bearer(token)).status_code == 200


def test_a_revoked_key_is_refused_on_the_very_next_request(app: App) -> None:
    token = _create(app, "admin_token")["secret"]
    # both keys answered once already, so a cache would hold them as good
    assert app.client.get(PATH, headers=_bearer(token)).status_code == 200
    assert _track(app, app.created.write_key) == 200

    admin = _bearer(app.created.admin_token)
    gone = app.client.delete(f"{PATH}/{_id_of(app, token)}", headers=admin)
    assert gone.status_code == 200, gone.text
    assert gone.json()["revoked_at"] is not None
    refused = app.client.get(PATH, headers=_bearer(token))
    assert refused.status_code == 401
    assert refused.json() == {"error": "unknown or revoked token"}

    key_id = _id_of(app, app.created.write_key)
    assert app.client.delete(f"{PATH}/{key_id}", headers=admin).status_code == 200
    assert _track(app, app.created.write_key) == 401


def test_a_key_revoked_by_another_process_is_refused_within_a_second(app: App) -> None:
    key_id = _id_of(app, app.created.write_key)
    assert _track(app, app.created.write_key) == 200
    # another process (``wayline keys revoke`` while the server runs): its own store handle
    other = open_store(app.settings, app.clock)
    try:
        other.revoke_credential(app.created.workspace.id, key_id)
    finally:
        other.close()
    wait_until(
        lambda: _track(app, app.created.write_key) == 401,
        what="the revoked write key to be refused",
        timeout=10,
    )


def test_a_grace_period_keeps_the_old_key_working_until_it_ends(app: App) -> None:
    key_id = _id_of(app, app.created.write_key)
    admin = _bearer(app.created.admin_token)
    r = app.client.delete(f"{PATH}/{key_id}", params={"grace_seconds": 3600}, headers=admin)
    assert r.status_code == 200, r.text
    ends = app.clock.now() + timedelta(hours=1)
    assert datetime.fromisoformat(r.json()["revoked_at"]) == ends
    assert _track(app, app.created.write_key) == 200
    app.clock.advance(minutes=59)
    assert _track(app, app.created.write_key) == 200
    app.clock.advance(minutes=1)
    wait_until(
        lambda: _track(app, app.created.write_key) == 401,
        what="the write key to be refused once its grace period is over",
        timeout=10,
    )


def test_rotate_gives_a_working_new_admin_token(app: App) -> None:
    old_id = _id_of(app, app.created.admin_token)
    new = _create(app, "admin_token")
    r = app.client.delete(
        f"{PATH}/{old_id}", params={"grace_seconds": 60}, headers=_bearer(new["secret"])
    )
    assert r.status_code == 200, r.text
    # the old token works through its grace period, then stops; the new one goes on
    assert app.client.get(PATH, headers=_bearer(app.created.admin_token)).status_code == 200
    app.clock.advance(seconds=60)
    wait_until(
        lambda: app.client.get(PATH, headers=_bearer(app.created.admin_token)).status_code == 401,
        what="the old admin token to be refused",
        timeout=10,
    )
    assert app.client.get(PATH, headers=_bearer(new["secret"])).status_code == 200


def test_the_last_admin_token_is_refused_with_409(app: App) -> None:
    admin = _bearer(app.created.admin_token)
    r = app.client.delete(f"{PATH}/{_id_of(app, app.created.admin_token)}", headers=admin)
    assert r.status_code == 409
    assert "last admin token" in r.json()["error"]
    assert app.client.get(PATH, headers=admin).status_code == 200


def test_unknown_foreign_and_revoked_ids(app: App) -> None:
    admin = _bearer(app.created.admin_token)
    r = app.client.delete(f"{PATH}/nope", headers=admin)
    assert r.status_code == 404
    assert "no credential 'nope'" in r.json()["error"]

    other = open_store(app.settings, app.clock)
    try:
        elsewhere = other.create_workspace("elsewhere").workspace.id
        foreign = other.list_credentials(elsewhere)[0].id
    finally:
        other.close()
    assert app.client.delete(f"{PATH}/{foreign}", headers=admin).status_code == 404

    key_id = _id_of(app, app.created.write_key)
    assert app.client.delete(f"{PATH}/{key_id}", headers=admin).status_code == 200
    again = app.client.delete(f"{PATH}/{key_id}", headers=admin)
    assert again.status_code == 409
    assert "already revoked" in again.json()["error"]


@pytest.mark.parametrize(
    ("body", "field"),
    [({"kind": "root"}, "body.kind"), ({}, "body.kind"), ([], "body")],
)
def test_a_bad_kind_is_422_naming_the_field(app: App, body: Any, field: str) -> None:
    r = app.client.post(PATH, json=body, headers=_bearer(app.created.admin_token))
    assert r.status_code == 422
    assert r.json()["field"] == field


@pytest.mark.parametrize("grace", ["-1", "2592001", "soon"])
def test_a_bad_grace_is_422_naming_the_field(app: App, grace: str) -> None:
    key_id = _id_of(app, app.created.write_key)
    r = app.client.delete(
        f"{PATH}/{key_id}",
        params={"grace_seconds": grace},
        headers=_bearer(app.created.admin_token),
    )
    assert r.status_code == 422
    assert r.json()["field"] == "grace_seconds"
    assert _track(app, app.created.write_key) == 200


def test_a_write_key_may_not_manage_credentials(app: App) -> None:
    key = _bearer(app.created.write_key)
    key_id = _id_of(app, app.created.write_key)
    assert app.client.get(PATH, headers=key).status_code == 403
    assert app.client.post(PATH, json={"kind": "admin_token"}, headers=key).status_code == 403
    assert app.client.delete(f"{PATH}/{key_id}", headers=key).status_code == 403
    assert app.client.get(PATH).status_code == 401
    assert _track(app, app.created.write_key) == 200


def test_openapi_describes_the_routes(app: App) -> None:
    spec = app.client.get("/openapi.json").json()
    listed = spec["paths"][PATH]
    assert set(listed) == {"get", "post"}
    created = listed["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    assert created == {"$ref": "#/components/schemas/CreatedCredential"}
    revoke = spec["paths"][PATH + "/{credential_id}"]["delete"]
    assert {p["name"] for p in revoke["parameters"]} == {"credential_id", "grace_seconds"}
    assert "secret" in spec["components"]["schemas"]["CreatedCredential"]["properties"]
    assert "secret" not in spec["components"]["schemas"]["CredentialOut"]["properties"]
