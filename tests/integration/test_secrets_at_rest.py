"""Workspace secrets are encrypted at rest: the table holds no clear text, a wrong key is
one clear line (never a crash), rotation re-encrypts everything (clear rows from earlier
versions too), and a real SMTP server still accepts the decrypted password."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from tests.integration.messaging.mailbox import Mailbox
from tests.integration.messaging.test_email_channel import _post
from tests.integration.test_cli_grammar import wayline
from wayline.channels.email import SMTP_PASSWORD
from wayline.channels.secrets import set_secret, stored_secret, webhook_secret
from wayline.errors import ConfigurationError
from wayline.settings import Settings
from wayline.store import Store, open_store, schema
from wayline.store.secret_box import SecretKeyError
from wayline.store.sql import SqlStore
from wayline.testing import ManualClock

PASSWORD = "s3cret-pw-4471"


def _raw(store: SqlStore) -> dict[str, str]:
    t = schema.workspace_secrets
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(t.c.name, sa.type_coerce(t.c.value, sa.Text()))).all()
    return {name: value for name, value in rows}


def _store(settings: Settings, **keys: str | Path) -> SqlStore:
    opened = open_store(
        Settings(data_dir=settings.data_dir, database_url=settings.database_url, **keys)  # type: ignore[arg-type]
    )
    assert isinstance(opened, SqlStore)
    return opened


def test_the_table_holds_no_secret_in_clear(store: Store) -> None:
    assert isinstance(store, SqlStore)
    ws = store.create_workspace("shop").workspace.id
    set_secret(store, ws, SMTP_PASSWORD, PASSWORD)
    signing = webhook_secret(store, ws)

    raw = _raw(store)
    assert set(raw) == {SMTP_PASSWORD, "webhook_signing"}
    assert all(v.startswith("fernet:") for v in raw.values())
    assert PASSWORD not in "".join(raw.values())
    assert signing not in "".join(raw.values())
    assert stored_secret(store, ws, SMTP_PASSWORD) == PASSWORD
    assert webhook_secret(store, ws) == signing


def test_without_a_key_the_embedded_store_makes_one_only_its_owner_reads(
    tmp_path: Path, clock: ManualClock
) -> None:
    settings = Settings(data_dir=tmp_path)
    first = _store(settings)
    first.migrate()
    ws = first.create_workspace("shop").workspace.id
    assert not (tmp_path / "secret.key").exists()  # made on first use, not on open
    set_secret(first, ws, SMTP_PASSWORD, PASSWORD)
    first.close()
    key_file = tmp_path / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = _store(settings)
    try:
        assert stored_secret(again, ws, SMTP_PASSWORD) == PASSWORD
    finally:
        again.close()
    # the same key given by file works as well
    moved = tmp_path / "elsewhere.key"
    os.replace(key_file, moved)
    by_file = _store(settings, secret_key_file=moved)
    try:
        assert stored_secret(by_file, ws, SMTP_PASSWORD) == PASSWORD
    finally:
        by_file.close()


def test_a_wrong_key_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(data_dir=tmp_path)
    assert wayline(capsys, "workspace", "create", "shop", "--data-dir", tmp_path)[0] == 0
    store = _store(settings, secret_key=Fernet.generate_key().decode())
    ws = store.create_workspace("blog").workspace.id
    set_secret(store, ws, SMTP_PASSWORD, PASSWORD)
    store.close()

    wrong = _store(settings, secret_key=Fernet.generate_key().decode())
    try:
        with pytest.raises(SecretKeyError) as caught:
            stored_secret(wrong, ws, SMTP_PASSWORD)
    finally:
        wrong.close()
    assert "WAYLINE_SECRET_KEYS_OLD" in str(caught.value)
    assert "\n" not in str(caught.value)

    monkeypatch.setenv("WAYLINE_SECRET_KEY", Fernet.generate_key().decode())
    code, out, err = wayline(capsys, "secrets", "rotate", "--data-dir", tmp_path)
    assert code == 1
    assert out == ""
    assert err.startswith("error: a workspace secret could not be decrypted")
    assert err.count("\n") == 1

    with pytest.raises(ConfigurationError, match=r"^WAYLINE_SECRET_KEY: not a secret key"):
        _store(settings, secret_key="not-a-key")
    monkeypatch.setenv("WAYLINE_SECRET_KEY", "not-a-key")
    code, out, err = wayline(capsys, "secrets", "rotate", "--data-dir", tmp_path)
    assert code == 1
    assert err.startswith("error: WAYLINE_SECRET_KEY: not a secret key")
    assert err.count("\n") == 1


def test_rotation_re_encrypts_everything_with_the_new_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings = Settings(data_dir=tmp_path)
    assert wayline(capsys, "workspace", "create", "shop", "--data-dir", tmp_path)[0] == 0
    store = _store(settings, secret_key=old)
    ws = store.workspace("shop")
    assert ws is not None
    set_secret(store, ws.id, SMTP_PASSWORD, PASSWORD)
    signing = webhook_secret(store, ws.id)
    # a secret an earlier version kept in clear
    with store._write() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO workspace_secrets (workspace_id, name, value, created_at)"
                " VALUES (:ws, 'sms_auth_token', 'clear-token-9', '2026-01-01 00:00:00')"
            ),
            {"ws": ws.id},
        )
    assert stored_secret(store, ws.id, "sms_auth_token") == "clear-token-9"
    before = _raw(store)
    store.close()

    monkeypatch.setenv("WAYLINE_SECRET_KEY", new)
    monkeypatch.setenv("WAYLINE_SECRET_KEYS_OLD", old)
    code, out, err = wayline(capsys, "secrets", "rotate", "--data-dir", tmp_path)
    assert (code, err) == (0, "")
    assert out == "3 secrets encrypted with the current key (1 were in clear)\n"

    rotated = _store(settings, secret_key=new)
    try:
        after = _raw(rotated)
        assert all(v.startswith("fernet:") for v in after.values())
        assert "clear-token-9" not in "".join(after.values())
        assert all(after[name] != before[name] for name in before)
        assert stored_secret(rotated, ws.id, SMTP_PASSWORD) == PASSWORD
        assert stored_secret(rotated, ws.id, "sms_auth_token") == "clear-token-9"
        assert webhook_secret(rotated, ws.id) == signing
    finally:
        rotated.close()
    stale = _store(settings, secret_key=old)
    try:
        with pytest.raises(SecretKeyError):
            stored_secret(stale, ws.id, SMTP_PASSWORD)
    finally:
        stale.close()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_a_real_smtp_server_accepts_the_decrypted_password(
    store: Store, clock: ManualClock
) -> None:
    box = Mailbox(login=("wl", PASSWORD))
    box.start()
    try:
        post = _post(store, clock, box, username="wl")
        set_secret(post.store, post.workspace, SMTP_PASSWORD, PASSWORD)
        assert PASSWORD not in "".join(_raw(post.store).values())
        post.queue(post.customer("ann", email="ann@example.com"))
        post.deliver()
        assert [r.state for r in post.rows()] == ["sent"]
        assert len(box.received()) == 1
        post.dispatcher.close()
    finally:
        box.stop()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_a_send_under_a_wrong_key_waits_with_the_reason(
    store: Store, clock: ManualClock, settings: Settings
) -> None:
    box = Mailbox(login=("wl", PASSWORD))
    box.start()
    try:
        post = _post(store, clock, box, username="wl")
        set_secret(post.store, post.workspace, SMTP_PASSWORD, PASSWORD)
        assert isinstance(store, SqlStore)
        wrong = _store(settings, secret_key=Fernet.generate_key().decode())
        try:
            post.store.use_secret_box(wrong.secret_box)
        finally:
            wrong.close()
        post.queue(post.customer("ann", email="ann@example.com"))
        post.deliver()
        (row,) = post.rows()
        assert row.state != "sent"
        assert "could not be decrypted" in row.last_error
        assert box.received() == []
        post.dispatcher.close()
    finally:
        box.stop()
