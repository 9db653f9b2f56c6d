"""Rows read back as the store's types, the same on every backend."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from wayline.store.base import InboxEvent, Profile


def profile(row: Any) -> Profile:
    return Profile(
        id=row.id,
        workspace_id=row.workspace_id,
        traits=orjson.loads(row.traits),
        trait_times=orjson.loads(row.trait_times),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def aware(value: Any) -> datetime | None:
    """An aggregate over a time column comes back untyped from SQLite."""
    if value is None:
        return None
    when: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def inbox_event(row: Any) -> InboxEvent:
    return InboxEvent(
        seq=row.seq,
        txid=row.txid or 0,
        workspace_id=row.workspace_id,
        message_id=row.message_id,
        type=row.type,
        event=row.event,
        user_id=row.user_id,
        anonymous_id=row.anonymous_id,
        timestamp=row.timestamp,
        received_at=row.received_at,
        payload=bytes(row.payload),
    )
