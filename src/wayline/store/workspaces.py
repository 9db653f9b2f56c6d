"""Workspaces and their credentials (write keys, admin tokens) in the store."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.errors import WorkspaceExists
from wayline.store import schema
from wayline.store.base import Credential, CredentialKind, NewWorkspace, Workspace

_SECRET_PREFIX = {CredentialKind.WRITE_KEY: "wk_", CredentialKind.ADMIN_TOKEN: "wa_"}


def hash_secret(secret: str) -> str:
    # Secrets are 256 random bits, so a fast hash is as safe as a slow one and lets every
    # request be authenticated by one indexed lookup.
    return hashlib.sha256(secret.encode()).hexdigest()


def new_id() -> str:
    return uuid.uuid4().hex


def create(conn: Connection, name: str, timezone: str, now: datetime) -> NewWorkspace:
    """A new workspace with a fresh write key and admin token, in ``conn``'s (write)
    transaction."""
    workspace = Workspace(id=new_id(), name=name, timezone=timezone, created_at=now)
    secrets_by_kind = {
        kind: _SECRET_PREFIX[kind] + secrets.token_urlsafe(32) for kind in CredentialKind
    }
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
            {
                "id": new_id(),
                "workspace_id": workspace.id,
                "kind": kind.value,
                "secret_hash": hash_secret(secret),
                "prefix": secret[:10],
                "created_at": now,
            }
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


def authenticate(conn: Connection, secret: str) -> Credential | None:
    t = schema.credentials
    row = conn.execute(
        sa.select(t.c.workspace_id, t.c.kind).where(
            t.c.secret_hash == hash_secret(secret), t.c.revoked_at.is_(None)
        )
    ).first()
    if row is None:
        return None
    return Credential(workspace_id=row.workspace_id, kind=CredentialKind(row.kind))
