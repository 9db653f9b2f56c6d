"""The stage tracker: each customer's current stage follows their events, and every change
becomes a ``Stage Entered`` event on their timeline.

It reads the inbox behind the profile consumer (so every event's customer is known), and
places only the customers the new events concern, from their history: the furthest stage
of the workspace's model they have entered. A change is saved in the transaction that moves
the tracker's cursor, so a restart neither loses nor repeats one; it is announced
afterwards in a transaction of its own (an insert into the inbox must be the first write of
its transaction), under a message id derived from the change, so announcing again after a
crash adds nothing twice. This is the pattern of the segment consumer.

Changes are placed in time order: a customer who viewed a product and ordered in the same
batch enters consideration, then purchase, exactly as if the events had come one by one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from wayline.announcements import Announcement, announce
from wayline.clock import Clock
from wayline.segments.consumer import owners
from wayline.segments.store import SegmentStore
from wayline.stages.placement import Entry, Plan, entries, moves
from wayline.stages.store import (
    STAGES_CONSUMER,
    Place,
    StageStore,
    StoredModel,
    recheck_segments,
)
from wayline.store.base import InboxEvent
from wayline.store.dead_letters import DeadLetterStore
from wayline.store.sql import PROFILES_CONSUMER, SqlStore

#: The event that announces a change of stage (Segment-style Title Case).
STAGE_ENTERED_EVENT = "Stage Entered"


def histories(
    store: SqlStore,
    conn: Connection,
    stored: StoredModel,
    profile_ids: Sequence[str],
    *,
    above: int = -1,
) -> dict[str, list[Entry]]:
    """Per existing profile, the stages entered (in time order), from its history.

    Only stages further than ``above`` are looked for (stages only move forward: a customer
    in stage 2 can only enter stage 3 or later), so only their events are read."""
    model = stored.model
    wanted = [s for i, s in enumerate(model.stages) if i > above]
    names = {r.event for s in wanted for r in s.rules()}
    filtered = {r.event for s in wanted for r in s.rules() if r.where or r.distinct}
    facts = SegmentStore(store).facts(conn, stored.workspace_id, profile_ids, names, filtered)
    said = (
        StageStore(store).said(conn, stored.workspace_id, list(facts))
        if any(s.traits for s in wanted)
        else {}
    )
    plan = Plan.of(model)
    return {p: entries(plan, known.events, said.get(p, [])) for p, known in facts.items()}


class StageTracker:
    consumer = STAGES_CONSUMER

    def __init__(self, store: SqlStore, clock: Clock, *, batch_size: int = 2000) -> None:
        self.store = store
        self.clock = clock
        self.stages = StageStore(store)
        self.batch_size = batch_size
        self.letters = DeadLetterStore(store)

    def park(self, error: str, attempts: int) -> bool:
        return self.letters.park_next(self.consumer, error, attempts, downstream=True)

    def replay(self, events: Sequence[InboxEvent]) -> None:
        """Apply these events (a dead letter retried), the cursor left where it is."""
        with self.store._write() as conn:
            self.store._lock_cursor(conn, STAGES_CONSUMER)
            self._apply(conn, list(events))
        self.announce()

    def step(self) -> int:
        done = self.announce()
        store = self.store
        with store.engine.connect() as conn:
            if not store._cursor(conn, STAGES_CONSUMER) < store._cursor(conn, PROFILES_CONSUMER):
                return done
        with store._write() as conn:
            cursor = store._lock_cursor(conn, STAGES_CONSUMER)
            ceiling = store._cursor(conn, PROFILES_CONSUMER)
            events: list[InboxEvent] = []
            if cursor < ceiling:
                events = [
                    e
                    for e in store._read_inbox(conn, cursor, self.batch_size)
                    if e.cursor <= ceiling
                ]
            if events:
                self._apply(conn, events)
                store._set_cursor(conn, STAGES_CONSUMER, cursor, events[-1].cursor)
        return done + len(events) + self.announce()

    def _apply(self, conn: Connection, events: list[InboxEvent]) -> None:
        models = self.stages.models(conn)
        # the tracker's own announcements change nothing
        relevant = [
            e for e in events if e.workspace_id in models and e.event != STAGE_ENTERED_EVENT
        ]
        if not relevant:
            return
        found = owners(conn, relevant)
        touched: dict[str, set[str]] = defaultdict(set)
        for e in relevant:
            profile_id = found.get((e.workspace_id, e.user_id or "")) or found.get(
                (e.workspace_id, "\0" + (e.anonymous_id or ""))
            )
            if profile_id is not None:
                touched[e.workspace_id].add(profile_id)
        for ws, profiles in touched.items():
            self.place(conn, models[ws], sorted(profiles))

    def place(self, conn: Connection, stored: StoredModel, profile_ids: Sequence[str]) -> int:
        """Bring these customers' stages up to date, logging each change to announce."""
        ws = stored.workspace_id
        names = stored.model.names
        now = self.stages.places(conn, ws, profile_ids)
        at = {p: names.index(place.stage) for p, place in now.items() if place.stage in names}
        # a customer in the last stage has nowhere further to go
        open_ = [p for p in profile_ids if at.get(p, -1) < len(names) - 1]
        floor = min((at.get(p, -1) for p in open_), default=len(names))
        found = histories(self.store, conn, stored, open_, above=floor)
        gone = [p for p in open_ if p not in found]
        if gone:
            self.stages.forget(conn, ws, gone)
        changed: dict[str, Place] = {}
        logged: list[dict[str, Any]] = []
        first: dict[str, datetime] = {}
        for profile_id, history in found.items():
            current = now.get(profile_id)
            index = names.index(current.stage) if current and current.stage in names else None
            since = current.entered_at if current else None
            steps = moves(history, index, since)
            for step in steps:
                previous = None if step.previous is None else names[step.previous]
                duration = (
                    None if step.since is None else max(0.0, (step.at - step.since).total_seconds())
                )
                logged.append(
                    {
                        "profile_id": profile_id,
                        "stage": names[step.index],
                        "previous_stage": previous,
                        "previous_stage_duration": duration,
                        "at": step.at,
                    }
                )
            if steps:
                first[profile_id] = min(step.at for step in steps)
                last = steps[-1]
                changed[profile_id] = Place(
                    stage=names[last.index],
                    entered_at=last.at,
                    previous_stage=None if last.previous is None else names[last.previous],
                )
        self.stages.put(conn, ws, changed)
        self.stages.log(conn, ws, logged)
        recheck_segments(self.store, conn, ws, first)
        return len(logged)

    def announce(self, limit: int = 1000) -> int:
        """Send the pending changes as ``Stage Entered`` events."""
        with self.store.engine.connect() as conn:
            changes = self.stages.pending(conn, limit)
            if not changes:
                return 0
            senders = SegmentStore(self.store).senders(conn, {c.profile_id for c in changes})
        announce(
            self.store,
            self.clock,
            (
                Announcement(
                    workspace_id=change.workspace_id,
                    profile_id=change.profile_id,
                    event=STAGE_ENTERED_EVENT,
                    message_id=f"wl-stage-{change.workspace_id[:12]}-{change.id}",
                    at=change.at,
                    properties={
                        "stage": change.stage,
                        "previous_stage": change.previous_stage,
                        "previous_stage_duration": change.previous_stage_duration,
                    },
                    library="wayline-stages",
                )
                for change in changes
            ),
            senders,
        )
        self.stages.sent([c.id for c in changes])
        return len(changes)
