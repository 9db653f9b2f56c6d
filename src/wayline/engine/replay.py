"""Feeding a period's events to the journey runtime of a scratch store, each at its own
time, with every wake-up that falls due in between firing at its own time."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from wayline.engine.loops import JourneyRuntime
from wayline.events import EventRow
from wayline.profiles import process_inbox
from wayline.store import schema
from wayline.store.rows import aware
from wayline.store.sql import SqlStore
from wayline.testing import ManualClock

#: Events stored in the scratch store, or taken by its profile consumer, at a time.
PAGE = 1000


@dataclass(frozen=True, kw_only=True, slots=True)
class Staged:
    """A stored event of the period, as the replay needs it."""

    seq: int
    timestamp: datetime
    type: str
    event: str | None
    user_id: str | None
    anonymous_id: str | None
    row: EventRow


class Replay:
    """Feeds events to the runtime of the scratch store, each at its own time.

    An event the journey listens for is taken by the trigger consumer with the clock at
    its time, and the worker runs right after, as when events arrive one by one. Other
    events (identifies, page views, other track events) change only profiles: they go in
    by the page, yet never after a wake-up that comes later than they do, so that a node
    reading traits sees what it would have seen.
    """

    def __init__(
        self,
        *,
        source: SqlStore,
        scratch: SqlStore,
        runtime: JourneyRuntime,
        clock: ManualClock,
        workspace_id: str,
        listened: frozenset[str],
        start: datetime,
    ) -> None:
        self.source = source
        self.scratch = scratch
        self.runtime = runtime
        self.clock = clock
        self.workspace_id = workspace_id
        self.listened = listened
        self.start = start
        self.pending: list[Staged] = []
        self.copied: set[str] = set()

    def feed(self, event: Staged) -> None:
        self.pending.append(event)
        if event.type == "track" and event.event in self.listened:
            self._flush()
            self._trigger()
        elif len(self.pending) >= PAGE:
            self._flush()

    def finish(self, end: datetime) -> None:
        self._flush()
        self._fire(until=end, inclusive=False)

    # -- the runtime's steps -------------------------------------------------------------

    def _flush(self) -> None:
        """Store the pending events, each after the wake-ups due by its time and before
        the later ones (at equal times the wake-up goes first)."""
        pending, self.pending = self.pending, []
        i = 0
        while i < len(pending):
            wake = self._next_wake()
            if wake is not None and wake <= pending[i].timestamp:
                self._wake(wake)
                continue
            j = i + 1
            while j < len(pending) and (wake is None or pending[j].timestamp < wake):
                j += 1
            self._store(pending[i:j])
            i = j

    def _store(self, events: Sequence[Staged]) -> None:
        """Store events with the clock at the last one's time, through the profile consumer.

        The trigger consumer takes them later, with the next event the journey listens
        for: to every other event it does nothing, whatever the time.
        """
        self.clock.set(max(self.clock.now(), events[-1].timestamp))
        self.scratch.append_events(self.workspace_id, [e.row for e in events])
        while process_inbox(self.scratch, PAGE) >= PAGE:
            pass

    def _trigger(self) -> None:
        """The trigger consumer and the worker, with the clock at the last event's time."""
        triggers = self.runtime.triggers
        while triggers.step() >= triggers.batch_size:
            pass
        self._work()

    def _work(self) -> None:
        # one short batch means nothing more is due now: a node never waits until "now"
        worker = self.runtime.worker
        while worker.step() >= worker.batch_size:
            pass

    def _wake(self, when: datetime) -> None:
        self.clock.set(max(self.clock.now(), when))
        self._work()

    def _next_wake(self) -> datetime | None:
        i = schema.journey_instances
        with self.scratch.engine.connect() as conn:
            found = conn.scalar(sa.select(sa.func.min(i.c.wake_at)))
        return aware(found)

    def _fire(self, *, until: datetime, inclusive: bool) -> None:
        """Run every wake-up up to ``until``, in order, each at its own time."""
        while (wake := self._next_wake()) is not None and (
            wake <= until if inclusive else wake < until
        ):
            self._wake(wake)

    # -- customers -----------------------------------------------------------------------

    def copy_customers(self, page: Sequence[Staged]) -> None:
        """Copy the profiles and identities of a page's customers from the workspace's store.

        Identities are copied as they are now, so that each event finds the customer it
        belongs to. Traits are copied as they stood when the period began: a trait last
        set by an event of the period or later is left out, and the period's own events
        set it again when their time comes (through the profile consumer, like any event).
        A node never sees a trait from its future.
        """
        t = schema.identities
        wanted = {("user_id", e.user_id) for e in page if e.user_id} | {
            ("anonymous_id", e.anonymous_id) for e in page if e.anonymous_id
        }
        profile_ids: set[str] = set()
        with self.source.engine.connect() as conn:
            for kind in ("user_id", "anonymous_id"):
                values = sorted(v for k, v in wanted if k == kind)
                for chunk in _chunks(values):
                    profile_ids.update(
                        conn.scalars(
                            sa.select(t.c.profile_id).where(
                                t.c.workspace_id == self.workspace_id,
                                t.c.kind == kind,
                                t.c.value.in_(chunk),
                            )
                        )
                    )
            new = sorted(profile_ids - self.copied)
            profiles: list[dict[str, Any]] = []
            identities: list[dict[str, Any]] = []
            for chunk in _chunks(new):
                p = schema.profiles
                profiles += [
                    self._as_of_start(dict(r._mapping))
                    for r in conn.execute(sa.select(p).where(p.c.id.in_(chunk)))
                ]
                identities += [
                    dict(r._mapping)
                    for r in conn.execute(sa.select(t).where(t.c.profile_id.in_(chunk)))
                ]
        # the scratch store's profile consumer may have met a customer first, if the
        # workspace's store changed meanwhile: what it made stays
        with self.scratch._write() as conn:
            if profiles:
                conn.execute(sqlite_insert(schema.profiles).on_conflict_do_nothing(), profiles)
            if identities:
                conn.execute(sqlite_insert(t).on_conflict_do_nothing(), identities)
        self.copied.update(new)

    def _as_of_start(self, row: dict[str, Any]) -> dict[str, Any]:
        traits, times = orjson.loads(row["traits"]), orjson.loads(row["trait_times"])
        kept = [name for name, when in times.items() if _before(when, self.start)]
        row["traits"] = orjson.dumps({n: traits[n] for n in kept if n in traits}).decode()
        row["trait_times"] = orjson.dumps({n: times[n] for n in kept}).decode()
        return row


def _before(iso: str, moment: datetime) -> bool:
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return False
    return (when if when.tzinfo else when.replace(tzinfo=UTC)) < moment


def _chunks(values: Sequence[str], size: int = 500) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
