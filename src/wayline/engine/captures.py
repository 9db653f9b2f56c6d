"""Webhook responses kept in the journey (``capture_as``).

A webhook node with ``capture_as`` queues its request and holds the customer there, with
nothing due: no worker looks at them. The dispatcher calls :meth:`WebhookAnswers.on_sent`
in the transaction that records the delivery, so the response lands in the instance
context (``journey.<capture_as>``) and the customer is made due in the same commit; a
crash records both or neither, and the request, queued once under its idempotency key, is
not repeated once recorded. A delivery given up on (:meth:`on_dead`) lets the customer go
on without the response, the failure in their trace.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from wayline.engine.steps import RESUMED, message_key
from wayline.store.journeys import InstanceState, JourneyStore
from wayline.store.outbox import OutboxMessage

#: The payload key that names where the response goes (the node's ``capture_as``).
CAPTURE = "capture_as"


class WebhookAnswers:
    def __init__(self, journeys: JourneyStore) -> None:
        self.journeys = journeys

    def on_sent(self, conn: Connection, message: OutboxMessage, result: Any) -> None:
        answer = result if isinstance(result, dict) else {}
        status = answer.get("status")
        self._resume(
            conn,
            message,
            lambda name: (
                {"webhook": "answered", "status": status},
                answer.get("body"),
                f"webhook answered (HTTP {status}): kept as journey.{name}",
            ),
        )

    def on_dead(self, conn: Connection, message: OutboxMessage, error: str) -> None:
        self._resume(
            conn,
            message,
            lambda name: (
                {"webhook": "failed", "error": error},
                None,
                f"webhook failed: {error}; going on without journey.{name}",
            ),
        )

    def _resume(self, conn: Connection, message: OutboxMessage, outcome: Any) -> None:
        name = message.payload.get(CAPTURE)
        if not name or message.instance_id is None or message.channel != "webhook":
            return
        (inst,) = self.journeys.lock(conn, [message.instance_id]) or (None,)
        if (
            inst is None
            or inst.state is not InstanceState.WAITING
            or inst.node != message.node
            or message_key(inst, inst.node) != message.idempotency_key
        ):
            return  # exited meanwhile, or an answer to an earlier visit: nothing waits for it
        resumed, body, reason = outcome(name)
        if resumed["webhook"] == "answered":
            inst.context[name] = body
        else:
            inst.context.pop(name, None)
        now = self.journeys.store.clock.now()
        inst.context["_resumed"] = resumed
        inst.state, inst.wake_at = InstanceState.READY, now
        self.journeys.add_steps(conn, [inst.step(RESUMED, reason, now)])
        self.journeys.save(conn, inst, now)
