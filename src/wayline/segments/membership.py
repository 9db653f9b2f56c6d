"""Keeping memberships current: evaluate customers, record who entered and who left, and
schedule each customer's next re-check.

Every change is logged in ``segment_changes`` in the transaction that makes it. Changes to
announce become ``Segment Entered`` / ``Segment Exited`` track events afterwards, in a
transaction of their own (:meth:`Membership.announce`), because an insert into the inbox
must be the first write of its transaction. The event's message id is derived from the
change, so announcing again after a crash adds nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from graphlib import TopologicalSorter

from sqlalchemy.engine import Connection

from wayline.announcements import Announcement, announce
from wayline.clock import Clock
from wayline.segments.evaluate import evaluate
from wayline.segments.histories import Histories
from wayline.segments.spec import (
    SubscriptionCondition,
    TraitCondition,
    event_names,
    filtered_names,
    references,
    uses_journeys,
    uses_stages,
    walk,
)
from wayline.segments.store import NEVER, SegmentRecord, SegmentStore
from wayline.store.sql import SqlStore

#: The events that announce a change of membership (Segment's and Braze's wording).
ENTERED_EVENT = "Segment Entered"
EXITED_EVENT = "Segment Exited"


def in_order(records: Iterable[SegmentRecord]) -> list[SegmentRecord]:
    """Segments ordered so that each comes after the segments it refers to."""
    by_id = {r.segment_id: r for r in records}
    graph = {
        sid: {ref for _, ref in references(r.segment) if ref in by_id} for sid, r in by_id.items()
    }
    return [by_id[sid] for sid in TopologicalSorter(graph).static_order()]


def dependents(records: Sequence[SegmentRecord], roots: set[str]) -> set[str]:
    """``roots`` and every segment that refers to one of them, directly or not."""
    found = set(roots)
    grew = True
    while grew:
        grew = False
        for r in records:
            if r.segment_id not in found and any(ref in found for _, ref in references(r.segment)):
                found.add(r.segment_id)
                grew = True
    return found


@dataclass(frozen=True, slots=True)
class Touch:
    """What a customer's new events may have changed."""

    #: The track events they did.
    events: frozenset[str]
    #: Their traits may have changed (``context.traits``).
    traits: bool
    #: Anything may have changed: every segment is evaluated.
    full: bool = False

    def __or__(self, other: Touch) -> Touch:
        return Touch(
            events=self.events | other.events,
            traits=self.traits or other.traits,
            full=self.full or other.full,
        )


#: A re-check, or a call that may change identities or traits.
EVERYTHING = Touch(events=frozenset(), traits=True, full=True)


@dataclass(frozen=True, slots=True)
class Shape:
    """What a segment looks at."""

    record: SegmentRecord
    segment_id: str
    names: frozenset[str]
    traits: bool
    refs: frozenset[str]

    @classmethod
    def of(cls, record: SegmentRecord) -> Shape:
        where = record.segment.where
        return cls(
            record=record,
            segment_id=record.segment_id,
            names=frozenset(event_names(where)),
            traits=any(
                isinstance(c, TraitCondition | SubscriptionCondition) for _, c in walk(where)
            ),
            refs=frozenset(ref for _, ref in references(record.segment)),
        )

    def concerned(self, touch: Touch) -> bool:
        return bool(self.names & touch.events) or (self.traits and touch.traits)


class Membership:
    def __init__(self, store: SqlStore, clock: Clock) -> None:
        self.store = store
        self.segments = SegmentStore(store)
        self.clock = clock

    def evaluate(
        self,
        conn: Connection,
        records: Sequence[SegmentRecord],
        workspace_id: str,
        profile_ids: Sequence[str],
        now: datetime,
        *,
        changed_at: dict[str, datetime] | None = None,
        only: set[str] | None = None,
        quiet: set[str] | None = None,
        touched: dict[str, Touch] | None = None,
        histories: Histories | None = None,
    ) -> int:
        """Evaluate the customers against the workspace's segments (``records``, in
        dependency order) and save what changed.

        ``changed_at``: per customer, the moment a change is dated (a re-check's due time);
        otherwise ``now``. ``only``: change memberships of these segments only (the others
        are still evaluated, for the next re-check). ``quiet``: segments whose changes are
        recorded without events (a new segment filling from history). ``touched``: per
        customer, what their new events may have changed; only the segments that look at it
        (and those that refer to a segment whose membership changes) are evaluated, the
        others' answers cannot have changed. A customer not in it (or touched
        :data:`EVERYTHING`) is evaluated against every segment. ``histories``: the
        histories kept between steps, read from and added to.
        """
        if not records or not profile_ids:
            return 0
        # a static segment's members are a list kept by hand, never evaluated
        shapes = [Shape.of(r) for r in records if not r.segment.is_static]
        partial = {p: t for p, t in (touched or {}).items() if not t.full}
        # a customer never evaluated (new) is evaluated against every segment
        stored = self.segments.dues(conn, workspace_id, profile_ids)
        partial = {p: t for p, t in partial.items() if p in stored}
        # a known customer whose new events no segment looks at (``Segment Entered``
        # itself, most often) keeps every answer: nothing of theirs is read
        idle = {p for p, t in partial.items() if not any(sh.concerned(t) for sh in shapes)}
        if idle:
            profile_ids = [p for p in profile_ids if p not in idle]
            if not profile_ids:
                return 0
        if any(p not in partial for p in profile_ids):
            wanted = shapes
        else:
            first = {
                sh.segment_id for sh in shapes if any(sh.concerned(partial[p]) for p in profile_ids)
            }
            reach = dependents(records, first)
            wanted = [sh for sh in shapes if sh.segment_id in reach]
        names: set[str] = set().union(*(sh.names for sh in wanted)) if wanted else set()
        filtered = set().union(*(filtered_names(sh.record.segment.where) for sh in wanted))
        journeys = any(uses_journeys(sh.record.segment.where) for sh in wanted)
        stages = any(uses_stages(sh.record.segment.where) for sh in wanted)
        facts = self.segments.facts(
            conn,
            workspace_id,
            profile_ids,
            names,
            filtered,
            journeys=journeys,
            stages=stages,
            histories=histories,
        )
        gone = [p for p in profile_ids if p not in facts]
        if gone:
            self.segments.forget(conn, workspace_id, gone)
        enters: dict[bool, list[tuple[str, str, datetime]]] = {True: [], False: []}
        exits: dict[bool, list[tuple[str, str, datetime]]] = {True: [], False: []}
        due: dict[str, datetime | None] = {}
        quiet = quiet or set()
        for profile_id, known in facts.items():
            when = (changed_at or {}).get(profile_id, now)
            touch = partial.get(profile_id)
            # segments left alone keep their answer, and the re-check they asked for
            kept = stored.get(profile_id) if touch is not None else None
            soonest: datetime | None = kept if kept != NEVER else None
            moved: set[str] = set()
            looked = touch is None
            for shape in shapes:
                sid = shape.segment_id
                if touch is not None and not (shape.concerned(touch) or shape.refs & moved):
                    continue
                looked = True
                outcome = evaluate(shape.record.segment.where, known, now)
                if outcome.next is not None and (soonest is None or outcome.next < soonest):
                    soonest = outcome.next
                if only is not None and sid not in only:
                    continue
                inside = sid in known.members
                if outcome.met and not inside:
                    enters[sid not in quiet].append((sid, profile_id, when))
                    known.members.add(sid)
                    moved.add(sid)
                elif inside and not outcome.met:
                    exits[sid not in quiet].append((sid, profile_id, when))
                    known.members.discard(sid)
                    moved.add(sid)
            if looked:
                due[profile_id] = soonest
        for said in (True, False):
            self.segments.leave(conn, workspace_id, exits[said], announce=said)
            self.segments.enter(conn, workspace_id, enters[said], announce=said)
        # a re-check that stays as it was is not written again
        due = {p: d for p, d in due.items() if stored.get(p) != (d or NEVER)}
        self.segments.schedule(conn, workspace_id, due)
        return sum(len(v) for v in (*enters.values(), *exits.values()))

    def announce(self, limit: int = 1000) -> int:
        """Send the pending changes as ``Segment Entered`` / ``Segment Exited`` events."""
        with self.store.engine.connect() as conn:
            changes = self.segments.pending(conn, limit)
            if not changes:
                return 0
            senders = self.segments.senders(conn, {c.profile_id for c in changes})
            names = {(r.workspace_id, r.segment_id): r.name for r in self.segments.records(conn)}
        announce(
            self.store,
            self.clock,
            (
                Announcement(
                    workspace_id=change.workspace_id,
                    profile_id=change.profile_id,
                    event=ENTERED_EVENT if change.kind == "entered" else EXITED_EVENT,
                    message_id=f"wl-segment-{change.workspace_id[:12]}-{change.id}",
                    at=change.at,
                    properties={
                        "segment_id": change.segment_id,
                        "segment_name": names.get(
                            (change.workspace_id, change.segment_id), change.segment_id
                        ),
                    },
                    library="wayline-segments",
                )
                for change in changes
            ),
            senders,
        )
        self.segments.sent([c.id for c in changes])
        return len(changes)
