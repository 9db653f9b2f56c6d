"""The suppression list: addresses a workspace sends nothing to, whoever they belong to.

An address lands here when its mailbox hard-bounces, when its owner marks a message as
spam (a complaint), when an admin adds it, and when its customer is erased. Every row is
found by a salted SHA-256 of the normalised address (the salt is a secret of the
workspace), so that an erased customer's address can stay suppressed without being kept:
erasure blanks the ``address`` column and keeps only the hash.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline import addresses
from wayline.store import schema
from wayline.store.profiles import traits_of

if TYPE_CHECKING:
    from wayline.store.sql import SqlStore

#: The name of the salt in ``workspace_secrets``.
SUPPRESSION_SALT = "suppression_salt"
#: The channels with addresses.
CHANNELS = ("email", "sms")


class Reason(StrEnum):
    HARD_BOUNCE = "hard_bounce"
    COMPLAINT = "complaint"
    MANUAL = "manual"
    #: Its customer was erased: only the hash is kept.
    ERASED = "erased"


@dataclass(frozen=True, kw_only=True, slots=True)
class Suppression:
    channel: str
    address: str | None
    reason: str
    detail: str | None
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "address": self.address,
            "reason": self.reason,
            "detail": self.detail,
            "created_at": self.created_at.isoformat(),
        }


def _normalised(conn: Connection, workspace_id: str, channel: str, address: str) -> str:
    region = None
    if channel == "sms":
        t = schema.channel_configs
        config = conn.scalar(
            sa.select(t.c.config).where(t.c.workspace_id == workspace_id, t.c.channel == "sms")
        )
        if config is not None:
            found = orjson.loads(config).get("default_region")
            region = found if isinstance(found, str) else None
    return addresses.normalise(channel, address, region)


def _salt_query(workspace_id: str) -> sa.Select[Any]:
    t = schema.workspace_secrets
    return sa.select(t.c.value).where(
        t.c.workspace_id == workspace_id, t.c.name == SUPPRESSION_SALT
    )


def existing_salt(conn: Connection, workspace_id: str) -> str | None:
    """The workspace's salt; None before anything was suppressed (so nothing is)."""
    found = conn.scalar(_salt_query(workspace_id))
    return None if found is None else str(found)


def salt(store: SqlStore, conn: Connection, workspace_id: str, now: datetime) -> str:
    """The workspace's salt, created in ``conn``'s (write) transaction the first time."""
    t = schema.workspace_secrets
    query = _salt_query(workspace_id)
    found = conn.scalar(query)
    if found is None:
        conn.execute(
            store._insert(t)
            .values(
                workspace_id=workspace_id,
                name=SUPPRESSION_SALT,
                value=secrets.token_hex(32),
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["workspace_id", "name"])
        )
        found = conn.execute(query).scalar_one()
    return str(found)


def address_hash(salt_value: str, channel: str, normalised: str) -> str:
    text = f"{salt_value}:{channel}:{normalised}"
    return hashlib.sha256(text.encode()).hexdigest()


def suppress(
    store: SqlStore,
    conn: Connection,
    workspace_id: str,
    channel: str,
    address: str,
    reason: Reason,
    now: datetime,
    detail: str | None = None,
) -> bool:
    """Add the address (kept as it was first suppressed). Returns whether it was new."""
    address = _normalised(conn, workspace_id, channel, address)
    key = address_hash(salt(store, conn, workspace_id, now), channel, address)
    t = schema.suppressions
    inserted = conn.execute(
        store._insert(t)
        .values(
            workspace_id=workspace_id,
            channel=channel,
            address_hash=key,
            address=address,
            reason=reason.value,
            detail=None if detail is None else detail[:2000],
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["workspace_id", "channel", "address_hash"])
        .returning(t.c.address_hash)
    ).first()
    return inserted is not None


def unsuppress(conn: Connection, workspace_id: str, channel: str, address: str) -> bool:
    """Remove the address from the list (an admin who knows the mailbox works again)."""
    salt_value = existing_salt(conn, workspace_id)
    if salt_value is None:
        return False
    key = address_hash(salt_value, channel, _normalised(conn, workspace_id, channel, address))
    t = schema.suppressions
    deleted = conn.execute(
        sa.delete(t).where(
            t.c.workspace_id == workspace_id, t.c.channel == channel, t.c.address_hash == key
        )
    ).rowcount
    return bool(deleted)


def find(conn: Connection, workspace_id: str, channel: str, address: str) -> Suppression | None:
    """The address's row of the suppression list, if it is on it (reads only)."""
    salt_value = existing_salt(conn, workspace_id)
    if salt_value is None:
        return None
    key = address_hash(salt_value, channel, _normalised(conn, workspace_id, channel, address))
    t = schema.suppressions
    row = conn.execute(
        sa.select(t).where(
            t.c.workspace_id == workspace_id, t.c.channel == channel, t.c.address_hash == key
        )
    ).first()
    return None if row is None else _suppression(row)


def _suppression(row: Any) -> Suppression:
    return Suppression(
        channel=row.channel,
        address=row.address,
        reason=row.reason,
        detail=row.detail,
        created_at=row.created_at,
    )


def listing(
    conn: Connection, workspace_id: str, *, channel: str | None = None, limit: int = 100
) -> list[Suppression]:
    t = schema.suppressions
    query = sa.select(t).where(t.c.workspace_id == workspace_id)
    if channel is not None:
        query = query.where(t.c.channel == channel)
    rows = conn.execute(query.order_by(t.c.created_at.desc(), t.c.address_hash).limit(limit))
    return [_suppression(r) for r in rows]


def forget_customer(
    store: SqlStore,
    conn: Connection,
    workspace_id: str,
    profile_id: str,
    identities: list[tuple[str, str]],
    now: datetime,
) -> None:
    """Erasure: each email address and phone number of the customer (identities and
    ``email``/``phone`` traits) stays suppressed, by its hash only (a row that named the
    address loses the address)."""
    kinds = {"email": "email", "phone": "sms"}
    addresses = set(identities)
    traits = traits_of(conn, [profile_id]).get(profile_id, {})
    for kind in kinds:
        if isinstance(traits.get(kind), str) and traits[kind].strip():
            addresses.add((kind, traits[kind]))
    t = schema.suppressions
    for kind, value in sorted(addresses):
        channel = kinds.get(kind)
        if channel is None:
            continue
        normalised = _normalised(conn, workspace_id, channel, value)
        key = address_hash(salt(store, conn, workspace_id, now), channel, normalised)
        conn.execute(
            store._insert(t)
            .values(
                workspace_id=workspace_id,
                channel=channel,
                address_hash=key,
                address=None,
                reason=Reason.ERASED.value,
                detail=None,
                created_at=now,
            )
            .on_conflict_do_update(
                index_elements=["workspace_id", "channel", "address_hash"],
                set_={"address": None, "detail": None},
            )
        )
