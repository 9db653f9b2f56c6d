"""Each workspace's settings of its channels (SMTP server, sender, …), secrets apart.

The settings are plain JSON in ``channel_configs``; passwords and keys go to
``workspace_secrets`` and are never returned or logged.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import orjson
import sqlalchemy as sa

from wayline.store import schema
from wayline.store.sql import SqlStore


class ChannelConfigs:
    """Reads (with a short cache, so a dispatcher does not ask per message) and writes."""

    def __init__(self, store: SqlStore, ttl: float = 10.0) -> None:
        self.store = store
        self.ttl = ttl
        self._cache: dict[tuple[str, str], tuple[dict[str, Any] | None, float]] = {}
        self._lock = threading.Lock()

    def get(self, workspace_id: str, channel: str) -> dict[str, Any] | None:
        key = (workspace_id, channel)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[1] > now:
            return hit[0]
        t = schema.channel_configs
        with self.store.engine.connect() as conn:
            text = conn.scalar(
                sa.select(t.c.config).where(
                    t.c.workspace_id == workspace_id, t.c.channel == channel
                )
            )
        found: dict[str, Any] | None = None if text is None else orjson.loads(text)
        with self._lock:
            self._cache[key] = (found, now + self.ttl)
        return found

    def set(self, workspace_id: str, channel: str, config: dict[str, Any]) -> None:
        t = schema.channel_configs
        stmt = self.store._insert(t).values(
            workspace_id=workspace_id,
            channel=channel,
            config=orjson.dumps(config).decode(),
            updated_at=self.store.clock.now(),
        )
        with self.store._write() as conn:
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["workspace_id", "channel"],
                    set_={"config": stmt.excluded.config, "updated_at": stmt.excluded.updated_at},
                )
            )
        with self._lock:
            self._cache.pop((workspace_id, channel), None)
