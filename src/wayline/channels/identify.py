"""The ``identify`` channel: a journey's profile change, told to Wayline's own inbox.

``update_profile`` and ``score`` write the profile in the journey worker's transaction;
this channel then appends an ``identify`` call with the values they gave, stamped with the
time of the change, so that the change shows in the customer's timeline and reaches the
warehouse like any other trait. It runs in a transaction of its own whose first write is
the inbox insert, as the inbox requires on PostgreSQL. Its messageId is derived from the
outbox message, so a repeated delivery is dropped by the inbox's deduplication.
"""

from __future__ import annotations

import sqlalchemy as sa

from wayline.channels.base import Delivery
from wayline.clock import Clock
from wayline.events import parse_message
from wayline.store import schema
from wayline.store.base import Store
from wayline.store.outbox import OutboxMessage
from wayline.store.sql import SqlStore


class IdentifyChannel:
    def __init__(self, store: Store, clock: Clock) -> None:
        assert isinstance(store, SqlStore)
        self.store = store
        self.clock = clock

    def _sender(self, profile_id: str) -> dict[str, str] | None:
        """The id to send as: the profile's first userId, else its first anonymousId."""
        t = schema.identities
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.c.kind, t.c.value)
                .where(t.c.profile_id == profile_id, t.c.kind.in_(["user_id", "anonymous_id"]))
                .order_by(t.c.first_seen, t.c.value)
            ).all()
        for kind, field in (("user_id", "userId"), ("anonymous_id", "anonymousId")):
            for row in rows:
                if row.kind == kind:
                    return {field: row.value}
        return None

    def deliver(self, message: OutboxMessage) -> Delivery:
        sender = self._sender(message.profile_id or "")
        if sender is None:
            return Delivery.permanent("the customer's profile no longer exists")
        message_id = f"journey-{message.idempotency_key}"
        call = {
            "type": "identify",
            **sender,
            "messageId": message_id,
            "timestamp": message.payload["timestamp"],
            "traits": message.payload["traits"],
            "context": {"wayline": {"journey_id": message.journey_id, "node": message.node}},
        }
        row = parse_message(call, received_at=self.clock.now())
        self.store.append_events(message.workspace_id, [row])
        return Delivery.ok({"message_id": message_id})

    def close(self) -> None:
        pass
