"""``wayline keys``: list, create, revoke and rotate a workspace's write keys and admin tokens."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.polling import wait_until
from wayline.cli import main
from wayline.cli.support import open_migrated, settings_for
from wayline.runtime import Role
from wayline.server import Process
from wayline.store import Store
from wayline.store.base import NewWorkspace


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
def shop(tmp_path: Path) -> Iterator[tuple[Path, NewWorkspace, Store]]:
    """A data dir with the workspace ``shop``, and a store handle on it to check keys with."""
    store = open_migrated(settings_for(tmp_path))
    created = store.create_workspace("shop")
    yield tmp_path, created, store
    store.close()


def _keys(capsys: pytest.CaptureFixture[str], data_dir: Path) -> list[dict[str, Any]]:
    code, out, err = wayline(capsys, "keys", "list", "--json", "--data-dir", data_dir)
    assert code == 0, err
    rows: list[dict[str, Any]] = json.loads(out)
    return rows


def _id_of(capsys: pytest.CaptureFixture[str], data_dir: Path, secret: str) -> str:
    [found] = [r["id"] for r in _keys(capsys, data_dir) if secret.startswith(r["prefix"])]
    return str(found)


def test_list_shows_every_key_and_no_secret(
    shop: tuple[Path, NewWorkspace, Store], capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir, created, _ = shop
    code, out, err = wayline(capsys, "keys", "list", "--data-dir", data_dir)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert len(lines) == 2
    assert all(line.endswith("\tactive") for line in lines)
    assert created.write_key not in out
    assert created.admin_token not in out
    assert {r["kind"] for r in _keys(capsys, data_dir)} == {"write_key", "admin_token"}
    code, out, _ = wayline(capsys, "keys", "list", "--csv", "--data-dir", data_dir)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["prefix"] for r in rows} == {created.write_key[:10], created.admin_token[:10]}
    assert {r["state"] for r in rows} == {"active"}


def test_create_prints_the_secret_once(
    shop: tuple[Path, NewWorkspace, Store], capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir, created, store = shop
    code, out, err = wayline(
        capsys, "keys", "create", "--kind", "write-key", "--data-dir", data_dir
    )
    assert code == 0, err
    header, secret = out.splitlines()
    assert header.startswith("shop: new write key ")
    assert secret.startswith("wk_")
    assert "cannot be shown again" in err
    found = store.authenticate(secret)
    assert found is not None
    assert found.workspace_id == created.workspace.id
    code, out, _ = wayline(capsys, "keys", "list", "--data-dir", data_dir)
    assert secret not in out
    assert secret[:10] in out

    code, out, _ = wayline(
        capsys, "keys", "create", "--kind", "admin-token", "--json", "--data-dir", data_dir
    )
    made = json.loads(out)
    assert (made["kind"], made["revoked_at"]) == ("admin_token", None)
    assert made["secret"].startswith("wa_")
    assert store.authenticate(made["secret"]) is not None


def test_revoke_refuses_the_key_at_once(
    shop: tuple[Path, NewWorkspace, Store], capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir, created, store = shop
    key_id = _id_of(capsys, data_dir, created.write_key)
    code, out, err = wayline(capsys, "keys", "revoke", key_id, "--data-dir", data_dir)
    assert code == 0, err
    assert out.startswith(f"shop: write key {key_id} ({created.write_key[:10]}…) revoked")
    assert store.authenticate(created.write_key) is None
    [row] = [r for r in _keys(capsys, data_dir) if r["id"] == key_id]
    assert row["state"] == "revoked"


def test_rotate_with_grace_keeps_both_until_the_grace_ends(
    shop: tuple[Path, NewWorkspace, Store], capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir, created, store = shop
    old_id = _id_of(capsys, data_dir, created.admin_token)
    code, out, err = wayline(
        capsys, "keys", "rotate", old_id, "--grace", "24h", "--data-dir", data_dir
    )
    assert code == 0, err
    header, secret, revoked = out.splitlines()
    assert header.startswith("shop: new admin token ")
    assert secret.startswith("wa_")
    assert revoked.startswith(f"shop: admin token {old_id} ")
    assert "stops working at" in revoked
    assert store.authenticate(secret) is not None
    # the old token works through its grace period
    assert store.authenticate(created.admin_token) is not None
    states = {r["id"]: r["state"] for r in _keys(capsys, data_dir)}
    assert states[old_id] == "ending"
    assert sorted(states.values()) == ["active", "active", "ending"]


def test_rotate_without_grace_replaces_the_key_at_once(
    shop: tuple[Path, NewWorkspace, Store], capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir, created, store = shop
    old_id = _id_of(capsys, data_dir, created.write_key)
    code, out, err = wayline(capsys, "keys", "rotate", old_id, "--json", "--data-dir", data_dir)
    assert code == 0, err
    made = json.loads(out)
    assert made["kind"] == "write_key"
    assert made["replaces"]["id"] == old_id
    assert store.authenticate(made["secret"]) is not None
    assert store.authenticate(created.write_key) is None


def test_a_revoke_while_the_server_runs_is_refused_within_a_second(
    shop: tuple[Path, NewWorkspace, Store], capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir, created, _ = shop
    process = Process(settings_for(data_dir), {Role.API})
    with TestClient(process.app()) as client:

        def track() -> int:
            body = {"userId": "u", "event": "E"}
            return client.post("/v1/track", json=body, auth=(created.write_key, "")).status_code

        assert track() == 200
        key_id = _id_of(capsys, data_dir, created.write_key)
        assert wayline(capsys, "keys", "revoke", key_id, "--data-dir", data_dir)[0] == 0
        wait_until(lambda: track() == 401, what="the revoked write key to be refused", timeout=10)
    process.store.close()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("revoke", "{admin}"), 1, "is the workspace's last admin token"),
        (("revoke", "nope"), 1, "no credential 'nope' in this workspace"),
        (("rotate", "nope"), 1, "no credential 'nope' in this workspace"),
        (("revoke", "{key}", "--grace", "soon"), 2, "is not a duration such as 30m"),
        (("revoke", "{key}", "--grace", "31d"), 2, "longer than the limit of 30d"),
        (("create", "--kind", "root"), 2, "--kind"),
        (("create",), 2, "--kind"),
        (("list", "-w", "nope"), 1, "no workspace named 'nope'"),
        (("list", "--json", "--csv"), 1, "choose one of --json and --csv"),
    ],
)
def test_a_problem_is_one_line_and_a_non_zero_exit(
    shop: tuple[Path, NewWorkspace, Store],
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    code: int,
    message: str,
) -> None:
    data_dir, created, store = shop
    ids = {
        "admin": _id_of(capsys, data_dir, created.admin_token),
        "key": _id_of(capsys, data_dir, created.write_key),
    }
    given = [a.format(**ids) for a in args]
    got, out, err = wayline(capsys, "keys", *given, "--data-dir", data_dir)
    assert got == code
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith("error: ")
    assert message in err
    assert "Traceback" not in err
    # nothing was revoked
    assert store.authenticate(created.admin_token) is not None
    assert store.authenticate(created.write_key) is not None


def test_revoking_an_already_revoked_key_is_one_line(
    shop: tuple[Path, NewWorkspace, Store], capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir, created, _ = shop
    key_id = _id_of(capsys, data_dir, created.write_key)
    assert wayline(capsys, "keys", "revoke", key_id, "--data-dir", data_dir)[0] == 0
    for command in ("revoke", "rotate"):
        code, _, err = wayline(capsys, "keys", command, key_id, "--data-dir", data_dir)
        assert code == 1
        assert err == f"error: credential {key_id!r} is already revoked\n"
