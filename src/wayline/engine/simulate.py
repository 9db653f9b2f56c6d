"""Simulating a journey: the stored events of a period replayed through it, sending nothing.

The simulation runs the real runtime, not a model of it: a scratch embedded store (a
temporary SQLite file) holds the workspace's customers and the journey, and the profile
consumer, the trigger consumer and a worker run on it on a manual clock. Events are fed in
time order, each at its own time; every wake-up that falls due between two events fires in
between, in order. No dispatcher runs: the scratch store's outbox is what customers would
have received. The scratch store is deleted afterwards; the workspace's store is only read.

Memory stays flat however long the history: the period's events are first copied, in
pages, from the workspace's store into a table of the scratch file indexed by time, then
read back from it in time order, a page at a time.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from wayline.engine.catalog import CompiledJourney
from wayline.engine.compile import compile_journey, spec_of
from wayline.engine.loops import JourneyRuntime, journey_runtime
from wayline.engine.simulation_report import SimulationReport, build_report
from wayline.events import EventRow
from wayline.journeys.spec import Journey
from wayline.profiles import process_inbox
from wayline.store import schema
from wayline.store.base import Workspace
from wayline.store.journeys import JourneyStore
from wayline.store.sql import SqlStore, aware
from wayline.store.sqlite import SqliteStore
from wayline.testing import ManualClock

#: Events read from the scratch file, or fed to the runtime, at a time.
PAGE = 1000
#: Sequence numbers of the workspace's inbox walked per read.
SCAN = 10_000

_staging = sa.MetaData()
#: The period's events, copied from the workspace's store, in the scratch file.
_staged = sa.Table(
    "simulation_events",
    _staging,
    #: The event's sequence number in the workspace's store (ties of time keep its order).
    sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("message_id", sa.String(255), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("event", sa.String(255), nullable=True),
    sa.Column("user_id", sa.String(255), nullable=True),
    sa.Column("anonymous_id", sa.String(255), nullable=True),
    sa.Column("timestamp", schema.UtcDateTime(), nullable=False),
    sa.Column("received_at", schema.UtcDateTime(), nullable=False),
    sa.Column("payload", sa.LargeBinary(), nullable=False),
    sa.Index("ix_simulation_events_time", "timestamp", "seq"),
)


class Progress(Protocol):
    """Told how a simulation goes: a phase and its size, then steps of it done."""

    def phase(self, description: str, total: int | None) -> None: ...

    def advance(self, amount: int) -> None: ...


class _Silent:
    def phase(self, description: str, total: int | None) -> None:
        pass

    def advance(self, amount: int) -> None:
        pass


@dataclass(frozen=True, kw_only=True, slots=True)
class _Staged:
    seq: int
    timestamp: datetime
    type: str
    event: str | None
    user_id: str | None
    anonymous_id: str | None
    row: EventRow


class _CountingJourneys(JourneyStore):
    """The trigger consumer's journey store, counting the entries re-entry refuses (the
    runtime keeps no record of them: a refused customer simply does not enter)."""

    def __init__(self, store: SqlStore, refused: Counter[str]) -> None:
        super().__init__(store)
        self.refused = refused

    def enrol(self, conn: Connection, **kwargs: Any) -> int | str:
        result = super().enrol(conn, **kwargs)
        if isinstance(result, str):
            self.refused[_refusal(result)] += 1
        return result


def _refusal(reason: str) -> str:
    if reason.startswith("already inside"):
        return "already_inside"
    if "'once'" in reason:
        return "once"
    if "only after" in reason:
        return "cooldown"
    return reason


def listened_events(journey: CompiledJourney) -> frozenset[str]:
    """Names of the track events the journey reacts to: its entry, goal and waits."""
    names = {journey.entry_event, journey.goal_event}
    names.update(getattr(node, "event", None) for node in journey.nodes.values())
    return frozenset(n for n in names if isinstance(n, str))


def simulate(
    source: SqlStore,
    workspace: Workspace,
    journey: Journey,
    start: datetime,
    end: datetime,
    *,
    progress: Progress | None = None,
    scratch_dir: Path | None = None,
) -> SimulationReport:
    """Replay the workspace's events of [start, end) through the journey; report the result.

    Reads ``source`` and writes nothing to it.
    """
    if end <= start:
        raise ValueError("the end of the period must be after its start")
    progress = progress or _Silent()
    with tempfile.TemporaryDirectory(prefix="wayline-simulate-", dir=scratch_dir) as tmp:
        clock = ManualClock(start)
        scratch = SqliteStore(f"sqlite:///{Path(tmp) / 'simulation.db'}", clock, synchronous="OFF")
        try:
            scratch.migrate()
            _staging.create_all(scratch.engine)
            _copy_workspace(scratch, workspace)
            version, _ = JourneyStore(scratch).apply(
                workspace.id, journey.id, journey.name or journey.id, spec_of(journey)
            )
            compiled = compile_journey(workspace.id, journey.id, version, spec_of(journey))
            total = _stage(source, scratch, workspace.id, start, end, progress)
            refused: Counter[str] = Counter()
            runtime = journey_runtime(scratch, clock, refresh=0)
            runtime.triggers.journeys = _CountingJourneys(scratch, refused)
            # one journey, applied once: the catalog need not look for changes
            runtime.catalog.entries_for(workspace.id, "")
            runtime.catalog.refresh = float("inf")
            replay = _Replay(
                source=source,
                scratch=scratch,
                runtime=runtime,
                clock=clock,
                workspace_id=workspace.id,
                listened=listened_events(compiled),
                start=start,
            )
            progress.phase("replaying events", total)
            for page in _staged_pages(scratch):
                replay.copy_customers(page)
                for event in page:
                    replay.feed(event)
                    progress.advance(1)
            replay.finish(end)
            return build_report(
                scratch,
                compiled,
                start=start,
                end=end,
                events=total,
                refused=dict(refused),
            )
        finally:
            scratch.close()


def _copy_workspace(scratch: SqlStore, workspace: Workspace) -> None:
    with scratch._write() as conn:
        conn.execute(
            sa.insert(schema.workspaces).values(
                id=workspace.id,
                name=workspace.name,
                timezone=workspace.timezone,
                created_at=workspace.created_at,
            )
        )


def _stage(
    source: SqlStore,
    scratch: SqlStore,
    workspace_id: str,
    start: datetime,
    end: datetime,
    progress: Progress,
) -> int:
    """Copy the period's events into the scratch file; returns how many there are.

    The workspace's inbox is walked in sequence order (its primary key: no index on time
    is needed, and each page is one short read), keeping the events of the period.
    """
    t = schema.inbox
    with source.engine.connect() as conn:
        top = int(conn.scalar(sa.select(sa.func.max(t.c.seq))) or 0)
    progress.phase("reading events", top)
    after, staged = 0, 0
    while after < top:
        upto = min(after + SCAN, top)
        with source.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    t.c.seq,
                    t.c.message_id,
                    t.c.type,
                    t.c.event,
                    t.c.user_id,
                    t.c.anonymous_id,
                    t.c.timestamp,
                    t.c.received_at,
                    t.c.payload,
                ).where(
                    t.c.seq > after,
                    t.c.seq <= upto,
                    t.c.workspace_id == workspace_id,
                    t.c.timestamp >= start,
                    t.c.timestamp < end,
                )
            ).all()
        if rows:
            with scratch._write() as conn:
                conn.execute(sa.insert(_staged), [dict(r._mapping) for r in rows])
            staged += len(rows)
        progress.advance(upto - after)
        after = upto
    return staged


def _staged_pages(scratch: SqlStore) -> Iterator[list[_Staged]]:
    """The staged events in time order (ties: the order they were stored in)."""
    t = _staged
    last: tuple[datetime, int] | None = None
    while True:
        query = sa.select(t).order_by(t.c.timestamp, t.c.seq).limit(PAGE)
        if last is not None:
            query = query.where(sa.tuple_(t.c.timestamp, t.c.seq) > sa.tuple_(*last))
        with scratch.engine.connect() as conn:
            rows = conn.execute(query).all()
        if not rows:
            return
        yield [
            _Staged(
                seq=r.seq,
                timestamp=r.timestamp,
                type=r.type,
                event=r.event,
                user_id=r.user_id,
                anonymous_id=r.anonymous_id,
                row=EventRow(
                    message_id=r.message_id,
                    type=r.type,
                    event=r.event,
                    user_id=r.user_id,
                    anonymous_id=r.anonymous_id,
                    timestamp=r.timestamp,
                    received_at=r.received_at,
                    payload=bytes(r.payload),
                ),
            )
            for r in rows
        ]
        last = (rows[-1].timestamp, rows[-1].seq)


class _Replay:
    """Feeds events to the runtime of the scratch store, each at its own time.

    An event the journey listens for goes in alone, with the clock at its time, and the
    worker runs right after, as when events arrive one by one. Other events (identifies,
    page views, other track events) change only profiles: they go in by the page, yet
    never after a wake-up that comes later than they do, so that a node reading traits
    sees what it would have seen.
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
        self.pending: list[_Staged] = []
        self.copied: set[str] = set()

    def feed(self, event: _Staged) -> None:
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

    def _store(self, events: Sequence[_Staged]) -> None:
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

    def copy_customers(self, page: Sequence[_Staged]) -> None:
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
