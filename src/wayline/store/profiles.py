"""Profiles in the store: one looked up by any of its ids, its events, its traits."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.store import schema
from wayline.store.base import Identity, IdentityKind, InboxEvent, ProfileView
from wayline.store.rows import aware, inbox_event, profile

#: Identity kinds searched, in order, when a profile is looked up by any id.
LOOKUP_ORDER = (
    IdentityKind.USER_ID,
    IdentityKind.ANONYMOUS_ID,
    IdentityKind.EMAIL,
    IdentityKind.PHONE,
)


def find(conn: Connection, workspace_id: str, any_id: str) -> ProfileView | None:
    """The profile ``any_id`` names (its id, or a userId, anonymousId, email or phone)."""
    t = schema.identities
    profile_id = conn.scalar(
        sa.select(schema.profiles.c.id).where(
            schema.profiles.c.id == any_id, schema.profiles.c.workspace_id == workspace_id
        )
    )
    if profile_id is None:
        candidates = {
            kind: owner
            for kind, owner in conn.execute(
                sa.select(t.c.kind, t.c.profile_id).where(
                    t.c.workspace_id == workspace_id,
                    t.c.value.in_({any_id, any_id.strip().lower()}),
                )
            )
        }
        profile_id = next(
            (candidates[k.value] for k in LOOKUP_ORDER if k.value in candidates), None
        )
    if profile_id is None:
        return None
    row = conn.execute(sa.select(schema.profiles).where(schema.profiles.c.id == profile_id)).first()
    if row is None:
        return None
    identities = [
        Identity(
            workspace_id=r.workspace_id,
            kind=IdentityKind(r.kind),
            value=r.value,
            profile_id=r.profile_id,
        )
        for r in conn.execute(
            sa.select(t).where(t.c.profile_id == profile_id).order_by(t.c.kind, t.c.value)
        )
    ]
    ids = [(i.kind.value, i.value) for i in identities]
    first, last = conn.execute(
        sa.select(
            sa.func.min(schema.inbox.c.timestamp), sa.func.max(schema.inbox.c.timestamp)
        ).where(event_filter(workspace_id, ids))
    ).one()
    return ProfileView(
        profile=profile(row),
        identities=identities,
        first_seen=aware(first),
        last_seen=aware(last),
    )


def event_filter(workspace_id: str, ids: list[tuple[str, str]]) -> Any:
    users = [v for k, v in ids if k == IdentityKind.USER_ID]
    anonymous = [v for k, v in ids if k == IdentityKind.ANONYMOUS_ID]
    t = schema.inbox
    return sa.and_(
        t.c.workspace_id == workspace_id,
        sa.or_(t.c.user_id.in_(users), t.c.anonymous_id.in_(anonymous)),
    )


def identity_keys(conn: Connection, profile_id: str) -> list[tuple[str, str]]:
    """The profile's identities as (kind, value)."""
    t = schema.identities
    return [
        (r.kind, r.value)
        for r in conn.execute(sa.select(t.c.kind, t.c.value).where(t.c.profile_id == profile_id))
    ]


def events(
    conn: Connection,
    workspace_id: str,
    profile_id: str,
    *,
    limit: int,
    before: tuple[datetime, int] | None = None,
) -> list[InboxEvent]:
    """The profile's events, newest first (``before``: those before that moment and seq)."""
    t = schema.inbox
    ids = identity_keys(conn, profile_id)
    query = sa.select(t).where(event_filter(workspace_id, ids))
    if before is not None:
        when, seq = before
        query = query.where(
            sa.or_(t.c.timestamp < when, sa.and_(t.c.timestamp == when, t.c.seq < seq))
        )
    rows = conn.execute(query.order_by(t.c.timestamp.desc(), t.c.seq.desc()).limit(limit))
    return [inbox_event(r) for r in rows]


def traits_of(conn: Connection, profile_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Each profile's traits, with its first userId under ``__user_id``."""
    wanted = sorted(set(profile_ids))
    found: dict[str, dict[str, Any]] = {p: {} for p in wanted}
    p, i = schema.profiles, schema.identities
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        for pid, traits in conn.execute(sa.select(p.c.id, p.c.traits).where(p.c.id.in_(chunk))):
            found[pid].update(orjson.loads(traits))
        for pid, value in conn.execute(
            sa.select(i.c.profile_id, i.c.value)
            .where(i.c.profile_id.in_(chunk), i.c.kind == "user_id")
            .order_by(i.c.profile_id, i.c.first_seen)
        ):
            found[pid].setdefault("__user_id", value)
    return found
