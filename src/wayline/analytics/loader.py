"""The warehouse loader: inbox events become warehouse rows, incrementally and exactly once.

The loader's cursor lives in the warehouse, not in the store, and moves in the same
warehouse transaction that writes the rows it covers. A crash before that commit leaves
neither rows nor cursor behind, so the next step loads the same slice again; a crash after
it leaves both. Either way nothing is lost and nothing is doubled.

Erasure runs through the loader too: the store deletes a customer's inbox events and
records which identities to remove from the warehouse; the loader deletes their rows and
marks the erasure done. One lock covers both, so an erasure can never run between a load
reading the customer's events and committing them (which would bring them back).

Deleted rows leave their values in the warehouse's storage until it is compacted (DuckDB:
the file rewritten; PostgreSQL: VACUUM). The loader compacts when erasures deleted rows,
at most once per ``compact_every``, so that a run of erasures pays for one rewrite.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import orjson

from wayline.analytics.warehouse import EventColumns, Warehouse
from wayline.clock import Clock, SystemClock
from wayline.store.base import IdentityKind, InboxEvent, Store

if TYPE_CHECKING:
    from wayline.store.dead_letters import DeadLetterStore

log = logging.getLogger("wayline.loader")


def _json(value: object) -> str | None:
    return orjson.dumps(value).decode() if isinstance(value, dict) else None


def event_columns(events: Sequence[InboxEvent]) -> EventColumns:
    """The warehouse columns of these events; each payload is parsed once."""
    messages = [orjson.loads(e.payload) for e in events]
    return {
        "workspace_id": [e.workspace_id for e in events],
        "seq": [e.seq for e in events],
        "message_id": [e.message_id for e in events],
        "type": [e.type for e in events],
        "event": [e.event for e in events],
        "user_id": [e.user_id for e in events],
        "anonymous_id": [e.anonymous_id for e in events],
        "timestamp": [e.timestamp for e in events],
        "received_at": [e.received_at for e in events],
        "properties": [_json(m.get("properties")) for m in messages],
        "context": [_json(m.get("context")) for m in messages],
        "traits": [_json(m.get("traits")) for m in messages],
        "payload": [e.payload.decode() for e in events],
    }


class WarehouseLoader:
    """Moves the inbox into the warehouse, a batch per :meth:`step`, and applies erasures.

    Safe to share between threads: the runtime's loop calls :meth:`step` while API
    threads call :meth:`apply_erasures` to report an erasure's warehouse rows at once.
    """

    consumer = "loader"

    def __init__(
        self,
        store: Store,
        warehouse: Warehouse,
        *,
        batch_size: int,
        letters: DeadLetterStore | None = None,
        clock: Clock | None = None,
        compact_every: timedelta = timedelta(minutes=10),
    ) -> None:
        self.store = store
        self.warehouse = warehouse
        self.batch_size = batch_size
        #: Where rows the loader cannot load are parked (the state store).
        self.letters = letters
        self.clock = clock or SystemClock()
        self.compact_every = compact_every
        self._lock = threading.Lock()
        self._compacted: datetime | None = None

    def step(self) -> int:
        """Apply pending erasures, compact the warehouse when that is due, then load the
        next batch; returns how many events it took."""
        with self._lock:
            self._erase()
            self._compact()
            with self.warehouse.load() as batch:
                events = self.store.read_inbox(batch.cursor, self.batch_size)
                if events:
                    batch.append(event_columns(events), events[-1].cursor)
            return len(events)

    def park(self, error: str, attempts: int) -> bool:
        """Park the row after the warehouse cursor: the dead letter goes to the state store
        first (recording it again changes nothing), then the cursor moves past the row in
        a load of no rows. A failure between the two leaves the row where it was."""
        if self.letters is None:
            return False
        with self._lock, self.warehouse.load() as batch:
            events = self.store.read_inbox(batch.cursor, 1)
            if not events:
                return False
            self.letters.record(self.consumer, events[0], error, attempts)
            batch.append(event_columns([]), events[0].cursor)
        return True

    def replay(self, events: Sequence[InboxEvent]) -> None:
        """Load these events (a dead letter retried), the cursor left where it is."""
        with self._lock, self.warehouse.load() as batch:
            batch.append(event_columns(events), batch.cursor)

    def apply_erasures(self) -> int:
        """Delete the warehouse rows of every pending erasure; returns how many went."""
        with self._lock:
            return self._erase()

    def _compact(self) -> None:
        now = self.clock.now()
        if self._compacted is not None and now - self._compacted < self.compact_every:
            return
        if self.warehouse.compaction_due():
            self.warehouse.compact()
            self._compacted = now
            log.info("warehouse compacted after erasures")

    def drain(self) -> int:
        """Load until the warehouse has caught up with the inbox; returns how many events."""
        total = 0
        while taken := self.step():
            total += taken
        return total

    def _erase(self) -> int:
        deleted = 0
        for erasure in self.store.pending_erasures():
            users = [v for k, v in erasure.identities if k == IdentityKind.USER_ID]
            anonymous = [v for k, v in erasure.identities if k == IdentityKind.ANONYMOUS_ID]
            if users or anonymous:
                gone = self.warehouse.delete_events(erasure.workspace_id, users, anonymous)
                log.info("erasure %d: %d warehouse events deleted", erasure.id, gone)
                deleted += gone
            self.store.finish_erasure(erasure.id)
        return deleted
