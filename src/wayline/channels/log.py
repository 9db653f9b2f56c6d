"""The ``log`` channel: a message becomes one structured log line.

For journeys that have no real channel yet, for simulation, and for tests, which read the
last messages from memory instead of parsing logs.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any

import orjson

from wayline.channels.base import Delivery
from wayline.store.outbox import OutboxMessage

log = logging.getLogger("wayline.channels.log")


class LogChannel:
    """Always delivers: logs the message and keeps the last ``keep`` of them in memory."""

    def __init__(self, keep: int = 1000) -> None:
        self._recent: deque[dict[str, Any]] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def deliver(self, message: OutboxMessage) -> Delivery:
        line = {
            "id": message.idempotency_key,
            "workspace_id": message.workspace_id,
            "journey_id": message.journey_id,
            "node": message.node,
            "profile_id": message.profile_id,
            "payload": message.payload,
        }
        log.info("message %s", orjson.dumps(line).decode())
        with self._lock:
            self._recent.append(line)
        return Delivery.ok({"logged": True})

    @property
    def recent(self) -> list[dict[str, Any]]:
        """The last messages delivered, oldest first."""
        with self._lock:
            return list(self._recent)

    def close(self) -> None:
        pass
