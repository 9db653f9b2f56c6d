"""The segment consumer: memberships follow each event, and each window as it runs out.

It reads the inbox behind the profile consumer, so every event's customer and traits are
known, and evaluates only the customers the new events concern: never every profile.
In the same transaction it re-checks the customers whose re-check has fallen due (an event
leaving a window, a date growing old enough), dating their changes at that moment. Its
cursor row is held for the whole step, so one process at a time changes memberships.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.clock import Clock
from wayline.segments.evaluate import Happening
from wayline.segments.histories import Histories
from wayline.segments.membership import EVERYTHING, Membership, Touch, in_order
from wayline.segments.spec import event_names, filtered_names
from wayline.segments.store import SEGMENTS_CONSUMER, SegmentRecord
from wayline.store import schema
from wayline.store.base import Cursor, InboxEvent
from wayline.store.dead_letters import DeadLetterStore
from wayline.store.sql import PROFILES_CONSUMER, SqlStore


def owners(conn: Connection, events: list[InboxEvent]) -> dict[tuple[str, str], str]:
    """(workspace, userId) and (workspace, "\\0" + anonymousId) -> profile id."""
    t = schema.identities
    found: dict[tuple[str, str], str] = {}
    for kind, attr, prefix in (("user_id", "user_id", ""), ("anonymous_id", "anonymous_id", "\0")):
        by_ws: dict[str, set[str]] = defaultdict(set)
        for e in events:
            value = getattr(e, attr)
            if value:
                by_ws[e.workspace_id].add(value)
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


def _touch(event: InboxEvent) -> Touch:
    """What an event may change. A call other than ``track`` may merge identities or set
    traits: everything."""
    if event.type != "track":
        return EVERYTHING
    if b'"traits"' not in event.payload:
        # no key named so anywhere in the message: no traits, and no need to parse it
        return Touch(events=frozenset({event.event or ""}), traits=False)
    context = orjson.loads(event.payload).get("context")
    traits = isinstance(context, dict) and bool(context.get("traits"))
    # an event no segment looks at still counts: its customer may be new
    return Touch(events=frozenset({event.event or ""}), traits=traits)


def _merged(conn: Connection, events: list[InboxEvent]) -> list[tuple[str, str]]:
    """(workspace, surviving profile) of the merges these events caused."""
    m = schema.profile_merges
    by_ws: dict[str, list[str]] = defaultdict(list)
    for e in events:
        by_ws[e.workspace_id].append(e.message_id)
    found: list[tuple[str, str]] = []
    for ws, ids in by_ws.items():
        for start in range(0, len(ids), 500):
            found += [
                (ws, into)
                for into in conn.scalars(
                    sa.select(m.c.into_profile_id).where(
                        m.c.workspace_id == ws, m.c.message_id.in_(ids[start : start + 500])
                    )
                )
            ]
    return found


class SegmentConsumer:
    consumer = SEGMENTS_CONSUMER

    def __init__(
        self, store: SqlStore, clock: Clock, *, batch_size: int = 2000, rechecks: int = 1000
    ) -> None:
        self.store = store
        self.clock = clock
        self.membership = Membership(store, clock)
        self.batch_size = batch_size
        self.rechecks = rechecks
        #: The histories of the customers evaluated last, valid while this consumer is
        #: the one moving the cursor.
        self.histories = Histories()
        self.letters = DeadLetterStore(store)

    def step(self) -> int:
        done = self.membership.announce()
        store = self.store
        now = self.clock.now()
        if not self._work_waiting(now):
            return done
        with store._write() as conn:
            cursor = store._lock_cursor(conn, SEGMENTS_CONSUMER)
            ceiling = store._cursor(conn, PROFILES_CONSUMER)
            events: list[InboxEvent] = []
            if cursor < ceiling:
                events = [
                    e
                    for e in store._read_inbox(conn, cursor, self.batch_size)
                    if e.cursor <= ceiling
                ]
            due = self.membership.segments.due(conn, now, self.rechecks)
            try:
                if events or due:
                    self._apply(conn, cursor, events, due, now)
                if events:
                    store._set_cursor(conn, SEGMENTS_CONSUMER, cursor, events[-1].cursor)
            except BaseException:
                self.histories.clear()
                raise
        done += self.membership.announce()
        return done + len(events) + len(due)

    def park(self, error: str, attempts: int) -> bool:
        self.histories.clear()
        return self.letters.park_next(self.consumer, error, attempts, downstream=True)

    def replay(self, events: Sequence[InboxEvent]) -> None:
        """Apply these events (a dead letter retried), the cursor left where it is."""
        store = self.store
        now = self.clock.now()
        with store._write() as conn:
            cursor = store._lock_cursor(conn, SEGMENTS_CONSUMER)
            # the kept histories follow the cursor: rebuilt for these customers, then again
            self.histories.clear()
            try:
                self._apply(conn, cursor, list(events), [], now)
            finally:
                self.histories.clear()
        self.membership.announce()

    def _work_waiting(self, now: datetime) -> bool:
        """Whether a step has anything to do, found without the write lock (on SQLite every
        writer waits for it, so an idle consumer must not take it)."""
        store = self.store
        with store.engine.connect() as conn:
            cursor = store._cursor(conn, SEGMENTS_CONSUMER)
            if cursor < store._cursor(conn, PROFILES_CONSUMER):
                return True
            return bool(self.membership.segments.due(conn, now, 1))

    def _apply(
        self,
        conn: Connection,
        cursor: Cursor,
        events: list[InboxEvent],
        due: list[tuple[str, str, datetime]],
        now: datetime,
    ) -> None:
        by_ws: dict[str, list[SegmentRecord]] = defaultdict(list)
        for record in self.membership.segments.records(conn):
            by_ws[record.workspace_id].append(record)
        ordered = {ws: in_order(records) for ws, records in by_ws.items()}
        self._keep_histories(cursor, events, by_ws)
        touched: dict[str, dict[str, Touch]] = defaultdict(dict)
        relevant = [(e, _touch(e)) for e in events if e.workspace_id in ordered]
        if relevant:
            found = owners(conn, [e for e, _ in relevant])
            for e, touch in relevant:
                profile_id = found.get((e.workspace_id, e.user_id or "")) or found.get(
                    (e.workspace_id, "\0" + (e.anonymous_id or ""))
                )
                if profile_id is None:
                    continue
                mine = touched[e.workspace_id]
                mine[profile_id] = mine[profile_id] | touch if profile_id in mine else touch
                self._remember(e, profile_id, found)
        for ws, profile_id in _merged(conn, [e for e in events if e.workspace_id in ordered]):
            # a merge brings the other profile's history along: anything may change
            touched[ws][profile_id] = EVERYTHING
            self.histories.drop(ws, profile_id)
        dated: dict[str, dict[str, datetime]] = defaultdict(dict)
        for ws, profile_id, at in due:
            if profile_id not in touched[ws]:
                dated[ws][profile_id] = at
            touched[ws][profile_id] = EVERYTHING  # a re-check evaluates everything
        for ws, profiles in touched.items():
            records = ordered.get(ws, [])
            if not records:
                self.membership.segments.schedule(conn, ws, dict.fromkeys(profiles))
                continue
            self.membership.evaluate(
                conn,
                records,
                ws,
                sorted(profiles),
                now,
                changed_at=dated[ws],
                touched=profiles,
                histories=self.histories,
            )

    def _keep_histories(
        self, cursor: Cursor, events: list[InboxEvent], by_ws: dict[str, list[SegmentRecord]]
    ) -> None:
        """Keep the histories if they were built up to this cursor for these segments; once
        this step's events are added they are built up to its last event."""
        segments = tuple(
            (r.workspace_id, r.segment_id, r.version) for rs in by_ws.values() for r in rs
        )
        self.histories.check((cursor, segments))
        for ws, records in by_ws.items():
            wheres = [r.segment.where for r in records]
            self.histories.names[ws] = frozenset(n for w in wheres for n in event_names(w))
            self.histories.filtered[ws] = frozenset(n for w in wheres for n in filtered_names(w))
        self.histories.rebase((events[-1].cursor if events else cursor, segments))

    def _remember(
        self, event: InboxEvent, profile_id: str, found: dict[tuple[str, str], str]
    ) -> None:
        """Add the event to its customer's kept history. A call linking a userId and an
        anonymousId, or an alias, may change whose history an event of either id belongs
        to: both histories are read again."""
        ws = event.workspace_id
        if event.type == "alias" or (event.user_id and event.anonymous_id):
            self.histories.drop(ws, profile_id)
            other = found.get((ws, "\0" + (event.anonymous_id or "")))
            if other is not None:
                self.histories.drop(ws, other)
            return
        if event.type != "track" or event.event is None:
            return
        ws_filtered = self.histories.filtered.get(ws, frozenset())
        self.histories.add(
            ws,
            profile_id,
            Happening(
                name=event.event,
                at=event.timestamp,
                seq=event.seq,
                raw=event.payload if event.event in ws_filtered else b"{}",
            ),
        )
