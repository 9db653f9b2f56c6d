"""Workspaces and their credentials (write keys, admin tokens) in the store."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.errors import (
    CredentialNotFound,
    CredentialRevoked,
    LastAdminToken,
    WorkspaceExists,
    WorkspaceNotFound,
)
from wayline.store import schema
from wayline.store.base import (
    Credential,
    CredentialInfo,
    CredentialKind,
    NewWorkspace,
    Workspace,
)

_SECRET_PREFIX = {CredentialKind.WRITE_KEY: "wk_", CredentialKind.ADMIN_TOKEN: "wa_"}


def hash_secret(secret: str) -> str:
    # Secrets are 256 random bits, so a fast hash is as safe as a slow one and lets every
    # request be authenticated by one indexed lookup.
    return hashlib.sha256(secret.encode()).hexdigest()


def new_id() -> str:
    return uuid.uuid4().hex


def new_secret(kind: CredentialKind) -> str:
    return _SECRET_PREFIX[kind] + secrets.token_urlsafe(32)


def _credential_row(
    workspace_id: str, kind: CredentialKind, secret: str, now: datetime
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "workspace_id": workspace_id,
        "kind": kind.value,
        "secret_hash": hash_secret(secret),
        "prefix": secret[:10],
        "created_at": now,
    }


def create(conn: Connection, name: str, timezone: str, now: datetime) -> NewWorkspace:
    """A new workspace with a fresh write key and admin token, in ``conn``'s (write)
    transaction."""
    workspace = Workspace(id=new_id(), name=name, timezone=timezone, created_at=now)
    secrets_by_kind = {kind: new_secret(kind) for kind in CredentialKind}
    if (
        conn.scalar(sa.select(schema.workspaces.c.id).where(schema.workspaces.c.name == name))
        is not None
    ):
        raise WorkspaceExists(f"a workspace named {name!r} already exists")
    conn.execute(
        sa.insert(schema.workspaces).values(
            id=workspace.id, name=name, timezone=timezone, created_at=now
        )
    )
    conn.execute(
        sa.insert(schema.credentials),
        [
            _credential_row(workspace.id, kind, secret, now)
            for kind, secret in secrets_by_kind.items()
        ],
    )
    return NewWorkspace(
        workspace=workspace,
        write_key=secrets_by_kind[CredentialKind.WRITE_KEY],
        admin_token=secrets_by_kind[CredentialKind.ADMIN_TOKEN],
    )


def find(conn: Connection, name_or_id: str) -> Workspace | None:
    t = schema.workspaces
    row = conn.execute(
        sa.select(t).where(sa.or_(t.c.id == name_or_id, t.c.name == name_or_id))
    ).first()
    if row is None:
        return None
    return Workspace(id=row.id, name=row.name, timezone=row.timezone, created_at=row.created_at)


def listing(conn: Connection) -> list[Workspace]:
    t = schema.workspaces
    rows = conn.execute(sa.select(t).order_by(t.c.created_at)).all()
    return [
        Workspace(id=r.id, name=r.name, timezone=r.timezone, created_at=r.created_at) for r in rows
    ]


def authenticate(conn: Connection, secret: str, now: datetime) -> Credential | None:
    """The credential of ``secret`` if it is accepted at ``now``: never revoked, or revoked
    from a time still to come (the grace period of a rotation)."""
    t = schema.credentials
    row = conn.execute(
        sa.select(t.c.workspace_id, t.c.kind).where(
            t.c.secret_hash == hash_secret(secret),
            sa.or_(t.c.revoked_at.is_(None), t.c.revoked_at > now),
        )
    ).first()
    if row is None:
        return None
    return Credential(workspace_id=row.workspace_id, kind=CredentialKind(row.kind))


def _info(row: Any) -> CredentialInfo:
    return CredentialInfo(
        id=row.id,
        workspace_id=row.workspace_id,
        kind=CredentialKind(row.kind),
        prefix=row.prefix,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


_LISTED = (
    schema.credentials.c.id,
    schema.credentials.c.workspace_id,
    schema.credentials.c.kind,
    schema.credentials.c.prefix,
    schema.credentials.c.created_at,
    schema.credentials.c.revoked_at,
)


def _lock_workspace(conn: Connection, workspace_id: str) -> None:
    """Hold the workspace's row until the transaction ends, so that two revocations of a
    workspace's credentials take turns (PostgreSQL; SQLite has one writer anyway and
    renders no FOR UPDATE). Without it, two admin tokens revoked at once could each see
    the other still active and leave the workspace with none."""
    t = schema.workspaces
    found = conn.scalar(sa.select(t.c.id).where(t.c.id == workspace_id).with_for_update())
    if found is None:
        raise WorkspaceNotFound(f"no workspace {workspace_id!r}")


def create_credential(
    conn: Connection, workspace_id: str, kind: CredentialKind, now: datetime
) -> tuple[CredentialInfo, str]:
    """A new credential of the workspace and its secret, in ``conn``'s (write) transaction."""
    _lock_workspace(conn, workspace_id)
    secret = new_secret(kind)
    row = _credential_row(workspace_id, kind, secret, now)
    conn.execute(sa.insert(schema.credentials).values(row))
    info = CredentialInfo(
        id=row["id"],
        workspace_id=workspace_id,
        kind=kind,
        prefix=row["prefix"],
        created_at=now,
        revoked_at=None,
    )
    return info, secret


def list_credentials(conn: Connection, workspace_id: str) -> list[CredentialInfo]:
    t = schema.credentials
    rows = conn.execute(
        sa.select(*_LISTED).where(t.c.workspace_id == workspace_id).order_by(t.c.created_at, t.c.id)
    ).all()
    return [_info(r) for r in rows]


def revoke_credential(
    conn: Connection, workspace_id: str, credential_id: str, at: datetime, now: datetime
) -> CredentialInfo:
    """Stop accepting the credential from ``at``, in ``conn``'s (write) transaction.

    A credential still in its grace period may be revoked again, but only sooner: a grace
    period is never lengthened, so that revoking at once always works."""
    _lock_workspace(conn, workspace_id)
    t = schema.credentials
    row = conn.execute(
        sa.select(*_LISTED).where(t.c.id == credential_id, t.c.workspace_id == workspace_id)
    ).first()
    if row is None:
        raise CredentialNotFound(f"no credential {credential_id!r} in this workspace")
    found = _info(row)
    if not found.active(now):
        raise CredentialRevoked(f"credential {credential_id!r} is already revoked")
    if found.kind is CredentialKind.ADMIN_TOKEN:
        # another admin token that will still work once this one stops: one with no end
        lasting = conn.scalar(
            sa.select(sa.func.count())
            .select_from(t)
            .where(
                t.c.workspace_id == workspace_id,
                t.c.kind == CredentialKind.ADMIN_TOKEN.value,
                t.c.id != credential_id,
                t.c.revoked_at.is_(None),
            )
        )
        if not lasting:
            raise LastAdminToken(
                f"credential {credential_id!r} is the workspace's last admin token; "
                "create another before revoking it"
            )
    if found.revoked_at is not None:
        at = min(at, found.revoked_at)
    conn.execute(sa.update(t).where(t.c.id == credential_id).values(revoked_at=at))
    return CredentialInfo(
        id=found.id,
        workspace_id=found.workspace_id,
        kind=found.kind,
        prefix=found.prefix,
        created_at=found.created_at,
        revoked_at=at,
    )
