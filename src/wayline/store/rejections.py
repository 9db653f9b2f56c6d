"""Rejected items: kept with their payload so that nothing is lost silently, and found by
the ids they carry so that an erase removes them with the rest of the customer.

A rejected item never reached the inbox, so no identity links it to a profile. Its ids are
read from the payload when it is stored (``userId``, ``anonymousId``, an ``email`` trait or
property) and kept in indexed columns; the erase deletes the rows whose columns name one
of the erased customer's identities.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.addresses import normalise_email, text_of
from wayline.store import schema
from wayline.store.base import IdentityKind, Rejection

#: Where an email address may sit in a rejected item (Segment calls, imported rows).
_EMAIL_PLACES = (("traits",), ("context", "traits"), ("properties",), ())


def keys_of(payload: bytes | None) -> dict[str, str | None]:
    """The ids a rejected item carries, as the ``rejections`` columns that index them."""
    keys: dict[str, str | None] = {"user_id": None, "anonymous_id": None, "email": None}
    if not payload:
        return keys
    try:
        item = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return keys  # cut at 32 KB: ids are read from what is whole, or not at all
    if not isinstance(item, dict):
        return keys
    keys["user_id"] = text_of(item.get("userId", item.get("user_id")))
    keys["anonymous_id"] = text_of(item.get("anonymousId", item.get("anonymous_id")))
    for place in _EMAIL_PLACES:
        found: Any = item
        for step in place:
            found = found.get(step) if isinstance(found, dict) else None
        if isinstance(found, dict) and (email := normalise_email(found.get("email"))):
            keys["email"] = email
            break
    return keys


def _storable(text: str | None, limit: int | None = None) -> str | None:
    """Text of a rejected item as a text column keeps it on every store: PostgreSQL refuses
    the NUL character (often the very reason the item was rejected), so it is shown as
    U+FFFD; the payload keeps the item as sent."""
    if text is None:
        return None
    return text.replace("\x00", "\ufffd")[:limit]


def insert(
    conn: Connection, workspace_id: str, rejections: Sequence[Rejection], now: datetime
) -> None:
    rows = []
    for r in rejections:
        payload = r.payload[:32768] if r.payload else None
        keys = {column: _storable(value, 255) for column, value in keys_of(payload).items()}
        rows.append(
            {
                "workspace_id": workspace_id,
                "received_at": now,
                "source": r.source,
                "position": r.position,
                "message_id": _storable(r.message_id, 255),
                "field": _storable(r.field, 100),
                "error": _storable(r.error),
                "payload": payload,
                **keys,
            }
        )
    conn.execute(sa.insert(schema.rejections), rows)


def listing(conn: Connection, workspace_id: str, limit: int) -> list[dict[str, Any]]:
    t = schema.rejections
    rows = conn.execute(
        sa.select(
            t.c.id,
            t.c.received_at,
            t.c.source,
            t.c.position,
            t.c.message_id,
            t.c.field,
            t.c.error,
        )
        .where(t.c.workspace_id == workspace_id)
        .order_by(t.c.id.desc())
        .limit(limit)
    ).all()
    return [
        {
            "id": r.id,
            "received_at": r.received_at.isoformat(),
            "source": r.source,
            "position": r.position,
            "message_id": r.message_id,
            "field": r.field,
            "error": r.error,
        }
        for r in rows
    ]


def erase(conn: Connection, workspace_id: str, ids: list[tuple[str, str]]) -> int:
    """Delete the rejected items that carry any of these identities; returns how many."""
    t = schema.rejections
    by_column = {
        "user_id": [v for k, v in ids if k == IdentityKind.USER_ID],
        "anonymous_id": [v for k, v in ids if k == IdentityKind.ANONYMOUS_ID],
        "email": [v for k, v in ids if k == IdentityKind.EMAIL],
    }
    gone = 0
    # one statement per column, so that each is an index lookup
    for column, values in by_column.items():
        if values:
            gone += conn.execute(
                sa.delete(t).where(t.c.workspace_id == workspace_id, t.c[column].in_(values))
            ).rowcount
    return gone
