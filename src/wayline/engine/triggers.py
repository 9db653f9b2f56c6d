"""The trigger consumer: inbox events enrol customers, resume their waits, reach goals.

It reads the inbox behind the profile consumer (so every event's customer is known) and
finds the instances an event concerns through the wait index on (workspace, event, key
path, key value): never by scanning instances. Each batch, with the instances it enrols
or wakes and its cursor, is one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.clock import Clock
from wayline.engine.catalog import Catalog
from wayline.engine.enrolment import Candidate, enrol_many, exit_index
from wayline.engine.steps import EXITED, GOAL, RESUMED
from wayline.journeys.filters import lookup, matches
from wayline.store import schema
from wayline.store.base import InboxEvent
from wayline.store.dead_letters import DeadLetterStore
from wayline.store.journeys import InstanceState, JourneyStore, Step, Wait
from wayline.store.sql import PROFILES_CONSUMER, SqlStore

TRIGGERS_CONSUMER = "triggers"
ENTERED = "entered"
#: The order in which one event's matches of one instance are applied (exits last).
_ORDER = {"wait": 0, "goal": 1}


def _key(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)[:255]


class Triggers:
    consumer = TRIGGERS_CONSUMER

    def __init__(
        self, store: SqlStore, catalog: Catalog, clock: Clock, *, batch_size: int = 2000
    ) -> None:
        self.store = store
        self.journeys = JourneyStore(store)
        self.catalog = catalog
        self.clock = clock
        self.batch_size = batch_size
        self.letters = DeadLetterStore(store)

    def park(self, error: str, attempts: int) -> bool:
        return self.letters.park_next(self.consumer, error, attempts, downstream=True)

    def replay(self, events: Sequence[InboxEvent]) -> None:
        """Apply these events (a dead letter retried), the cursor left where it is."""
        with self.store._write() as conn:
            self.store._lock_cursor(conn, TRIGGERS_CONSUMER)
            self._apply(conn, list(events), self.clock.now())

    def step(self) -> int:
        store = self.store
        now = self.clock.now()
        # An idle consumer only reads: on SQLite every writer waits for the write lock.
        with store.engine.connect() as conn:
            if not store._cursor(conn, TRIGGERS_CONSUMER) < store._cursor(conn, PROFILES_CONSUMER):
                return 0
        with store._write() as conn:
            cursor = store._lock_cursor(conn, TRIGGERS_CONSUMER)
            ceiling = store._cursor(conn, PROFILES_CONSUMER)
            if not cursor < ceiling:
                return 0
            events = [
                e for e in store._read_inbox(conn, cursor, self.batch_size) if e.cursor <= ceiling
            ]
            if not events:
                return 0
            self._apply(conn, events, now)
            store._set_cursor(conn, TRIGGERS_CONSUMER, cursor, events[-1].cursor)
        return len(events)

    def _apply(self, conn: Connection, events: list[InboxEvent], now: datetime) -> None:
        """Enrol, resume and convert as these events say, in ``conn``'s transaction."""
        # a journey applied or paused by another process (the CLI) counts from the
        # next event on, not from the catalog's next periodic refresh
        self.catalog.follow(self.journeys.stamp(conn))
        owners = self._owners(conn, events)
        paths = self.journeys.wait_paths(conn)
        steps: list[Step] = []
        entering: list[Candidate] = []
        for event in events:
            if event.type != "track" or not event.event:
                continue
            profile_id = owners.get((event.workspace_id, event.user_id or "")) or owners.get(
                (event.workspace_id, "\0" + (event.anonymous_id or ""))
            )
            if profile_id is None:
                continue
            payload = orjson.loads(event.payload)
            if entering and (event.workspace_id, event.event) in paths:
                # customers who entered earlier in the batch may be waiting for this
                enrol_many(self.journeys, conn, entering, now, steps)
                entering = []
            self._resume(conn, event, payload, profile_id, paths, now, steps)
            entering.extend(self._entries(event, payload, profile_id))
        enrol_many(self.journeys, conn, entering, now, steps)
        self.journeys.add_steps(conn, steps)

    def _owners(self, conn: Connection, events: list[InboxEvent]) -> dict[tuple[str, str], str]:
        """(workspace, userId) and (workspace, "\\0" + anonymousId) -> profile id."""
        t = schema.identities
        found: dict[tuple[str, str], str] = {}
        for kind, attr, prefix in (
            ("user_id", "user_id", ""),
            ("anonymous_id", "anonymous_id", "\0"),
        ):
            by_ws: dict[str, set[str]] = {}
            for e in events:
                value = getattr(e, attr)
                if value:
                    by_ws.setdefault(e.workspace_id, set()).add(value)
            for ws, values in by_ws.items():
                ordered = sorted(values)
                for start in range(0, len(ordered), 500):
                    for value, profile_id in conn.execute(
                        sa.select(t.c.value, t.c.profile_id).where(
                            t.c.workspace_id == ws,
                            t.c.kind == kind,
                            t.c.value.in_(ordered[start : start + 500]),
                        )
                    ):
                        found[(ws, prefix + value)] = profile_id
        return found

    def _resume(
        self,
        conn: Connection,
        event: InboxEvent,
        payload: dict[str, Any],
        profile_id: str,
        paths: dict[tuple[str, str], set[str]],
        now: datetime,
        steps: list[Step],
    ) -> None:
        name = event.event or ""
        for path in sorted(paths.get((event.workspace_id, name), ())):
            value = profile_id if path == "" else _key(lookup(payload, path))
            if value is None:
                continue
            waits = self.journeys.matching_waits(conn, event.workspace_id, name, path, [value])
            # a wait resumes, then a goal is counted, then an exit condition ends the journey
            for wait in sorted(waits, key=lambda w: (w.instance_id, _ORDER.get(w.kind, 2))):
                self._wake(conn, wait, event, payload, now, steps)

    def _wake(
        self,
        conn: Connection,
        wait: Wait,
        event: InboxEvent,
        payload: dict[str, Any],
        now: datetime,
        steps: list[Step],
    ) -> None:
        (inst,) = self.journeys.lock(conn, [wait.instance_id]) or (None,)
        if inst is None or inst.state is InstanceState.DONE:
            return
        compiled = self.catalog.version(inst.workspace_id, inst.journey_id, inst.version)

        def record(kind: str, reason: str) -> None:
            steps.append(inst.step(kind, reason, now))

        if wait.kind == "wait":
            node = compiled.nodes.get(inst.node)
            if inst.state is not InstanceState.WAITING or getattr(node, "event", None) != (
                event.event
            ):
                return
            where = getattr(node, "where", None)
            if where and not matches(where, payload):
                return
            inst.state, inst.wake_at = InstanceState.READY, now
            inst.context["_resumed"] = _summary(event, payload)
            self.journeys.remove_waits(conn, inst.id, ["wait"])
            record(RESUMED, f"{event.event} arrived ({_describe(wait)})")
            self.journeys.save(conn, inst, now)
        elif wait.kind == "goal":
            within = compiled.goal_within
            if within is not None and event.timestamp - inst.entered_at > within:
                return
            if compiled.goal_where and not matches(compiled.goal_where, payload):
                return
            self.journeys.remove_waits(conn, inst.id, ["goal"])
            inst.context["converted_at"] = now.isoformat()
            record(GOAL, f"goal reached: {event.event} ({_describe(wait)})")
            if compiled.goal_exits:
                inst.state, inst.outcome, inst.wake_at = InstanceState.DONE, "goal", None
                w = schema.journey_waits
                conn.execute(sa.delete(w).where(w.c.instance_id == inst.id))
            self.journeys.save(conn, inst, now)
        elif (index := exit_index(wait.kind)) is not None and index < len(compiled.exits):
            condition = compiled.exits[index]
            if condition.where and not matches(condition.where, payload):
                return
            record(EXITED, f"exit_when: {event.event} arrived ({_describe(wait)})")
            inst.state, inst.outcome, inst.wake_at = InstanceState.DONE, "exited", None
            w = schema.journey_waits
            conn.execute(sa.delete(w).where(w.c.instance_id == inst.id))
            self.journeys.save(conn, inst, now)

    def _entries(
        self, event: InboxEvent, payload: dict[str, Any], profile_id: str
    ) -> list[Candidate]:
        """The journeys this event lets its customer enter."""
        found: list[Candidate] = []
        for journey in self.catalog.entries_for(event.workspace_id, event.event or ""):
            if journey.entry_where and not matches(journey.entry_where, payload):
                continue
            key = ""
            if journey.entry_key:
                value = _key(lookup(payload, journey.entry_key))
                if value is None:
                    continue  # no correlation key, no entry: documented
                key = value
            found.append(
                Candidate(
                    journey=journey,
                    profile_id=profile_id,
                    key=key,
                    trigger=_summary(event, payload),
                    reason=f"{event.event} (message {event.message_id})",
                )
            )
        return found


def _summary(event: InboxEvent, payload: dict[str, Any]) -> dict[str, Any]:
    """What templates and traces need of an event, not the whole message."""
    return {
        "event": event.event,
        "message_id": event.message_id,
        "timestamp": event.timestamp.isoformat(),
        "properties": payload.get("properties") or {},
    }


def _describe(wait: Wait) -> str:
    return f"{wait.key_path} = {wait.key_value}" if wait.key_path else "same customer"
