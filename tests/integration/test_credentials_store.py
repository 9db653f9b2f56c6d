"""Workspace credentials in the state store: create, list, revoke (with a grace period), on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from wayline.errors import CredentialNotFound, CredentialRevoked, LastAdminToken
from wayline.store import Store
from wayline.store.base import CredentialInfo, CredentialKind
from wayline.testing import ManualClock


def _by_kind(store: Store, workspace_id: str, kind: CredentialKind) -> list[CredentialInfo]:
    return [c for c in store.list_credentials(workspace_id) if c.kind is kind]


def test_create_and_list_never_show_the_secret(store: Store, clock: ManualClock) -> None:
    shop = store.create_workspace("shop")
    workspace_id = shop.workspace.id
    listed = store.list_credentials(workspace_id)
    assert sorted(c.kind for c in listed) == sorted(CredentialKind)
    assert {c.prefix for c in listed} == {shop.write_key[:10], shop.admin_token[:10]}

    clock.advance(minutes=1)
    info, secret = store.create_credential(workspace_id, CredentialKind.WRITE_KEY)
    assert secret.startswith("wk_")
    assert info.prefix == secret[:10]
    assert (info.kind, info.created_at, info.revoked_at) == (
        CredentialKind.WRITE_KEY,
        clock.now(),
        None,
    )
    assert store.list_credentials(workspace_id)[-1] == info
    assert all(secret not in repr(c) for c in store.list_credentials(workspace_id))
    found = store.authenticate(secret)
    assert found is not None
    assert (found.workspace_id, found.kind) == (workspace_id, CredentialKind.WRITE_KEY)

    admin, token = store.create_credential(workspace_id, CredentialKind.ADMIN_TOKEN)
    assert token.startswith("wa_")
    found = store.authenticate(token)
    assert found is not None
    assert found.kind is CredentialKind.ADMIN_TOKEN
    other = store.create_workspace("other").workspace.id
    assert admin.id in {c.id for c in store.list_credentials(workspace_id)}
    assert admin.id not in {c.id for c in store.list_credentials(other)}
    assert len(store.list_credentials(other)) == 2


def test_a_revoked_key_is_refused_and_cannot_be_revoked_again(store: Store) -> None:
    shop = store.create_workspace("shop")
    other = store.create_workspace("other")
    [key] = _by_kind(store, shop.workspace.id, CredentialKind.WRITE_KEY)
    with pytest.raises(CredentialNotFound):
        store.revoke_credential(other.workspace.id, key.id)
    with pytest.raises(CredentialNotFound):
        store.revoke_credential(shop.workspace.id, "no-such-id")
    assert store.authenticate(shop.write_key) is not None

    revoked = store.revoke_credential(shop.workspace.id, key.id)
    assert revoked.revoked_at is not None
    assert store.authenticate(shop.write_key) is None
    assert store.authenticate(other.write_key) is not None
    with pytest.raises(CredentialRevoked, match="already revoked"):
        store.revoke_credential(shop.workspace.id, key.id)
    assert _by_kind(store, shop.workspace.id, CredentialKind.WRITE_KEY) == [revoked]


def test_a_grace_period_keeps_the_old_key_until_it_ends(store: Store, clock: ManualClock) -> None:
    shop = store.create_workspace("shop")
    [key] = _by_kind(store, shop.workspace.id, CredentialKind.WRITE_KEY)
    ends = clock.now() + timedelta(hours=1)
    assert store.revoke_credential(shop.workspace.id, key.id, at=ends).revoked_at == ends
    assert store.authenticate(shop.write_key) is not None
    clock.advance(minutes=59)
    assert store.authenticate(shop.write_key) is not None
    # asking for a later end does not lengthen the grace period
    later = store.revoke_credential(shop.workspace.id, key.id, at=ends + timedelta(days=1))
    assert later.revoked_at == ends
    clock.advance(minutes=1)
    assert store.authenticate(shop.write_key) is None
    with pytest.raises(CredentialRevoked):
        store.revoke_credential(shop.workspace.id, key.id)


def test_revoking_during_the_grace_period_ends_it_now(store: Store, clock: ManualClock) -> None:
    shop = store.create_workspace("shop")
    [key] = _by_kind(store, shop.workspace.id, CredentialKind.WRITE_KEY)
    store.revoke_credential(shop.workspace.id, key.id, at=clock.now() + timedelta(days=1))
    assert store.authenticate(shop.write_key) is not None
    assert store.revoke_credential(shop.workspace.id, key.id).revoked_at == clock.now()
    assert store.authenticate(shop.write_key) is None


def test_the_last_admin_token_cannot_be_revoked(store: Store, clock: ManualClock) -> None:
    shop = store.create_workspace("shop")
    workspace_id = shop.workspace.id
    [first] = _by_kind(store, workspace_id, CredentialKind.ADMIN_TOKEN)
    with pytest.raises(LastAdminToken, match="last admin token"):
        store.revoke_credential(workspace_id, first.id)
    assert store.authenticate(shop.admin_token) is not None

    second, token = store.create_credential(workspace_id, CredentialKind.ADMIN_TOKEN)
    # a rotation: the first ends in an hour, the second has no end
    store.revoke_credential(workspace_id, first.id, at=clock.now() + timedelta(hours=1))
    # the first is ending: it does not count as a token the workspace keeps
    with pytest.raises(LastAdminToken):
        store.revoke_credential(workspace_id, second.id)
    clock.advance(hours=1)
    assert store.authenticate(shop.admin_token) is None
    assert store.authenticate(token) is not None
    # write keys may all go: an admin token can make new ones
    [key] = _by_kind(store, workspace_id, CredentialKind.WRITE_KEY)
    store.revoke_credential(workspace_id, key.id)
    assert store.authenticate(shop.write_key) is None


def test_a_revocation_through_another_handle_is_seen_at_once(
    store: Store, clock: ManualClock
) -> None:
    from wayline.settings import Settings
    from wayline.store import open_store
    from wayline.store.sql import SqlStore

    assert isinstance(store, SqlStore)
    shop = store.create_workspace("shop")
    [key] = _by_kind(store, shop.workspace.id, CredentialKind.WRITE_KEY)
    url = store.engine.url.render_as_string(hide_password=False)
    other = open_store(Settings(database_url=url), clock)
    try:
        assert store.authenticate(shop.write_key) is not None
        other.revoke_credential(shop.workspace.id, key.id)
    finally:
        other.close()
    # the store itself keeps no answers: the next lookup sees the revocation
    assert store.authenticate(shop.write_key) is None
