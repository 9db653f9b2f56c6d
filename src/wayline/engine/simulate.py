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
from datetime import datetime
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.engine.catalog import CompiledJourney
from wayline.engine.compile import compile_journey, spec_of
from wayline.engine.loops import journey_runtime
from wayline.engine.replay import PAGE, Replay, Staged
from wayline.engine.simulation_report import SimulationReport, build_report
from wayline.events import EventRow
from wayline.journeys.spec import Journey
from wayline.store import schema, secret_box
from wayline.store.base import Workspace
from wayline.store.journeys import JourneyStore, NewInstance
from wayline.store.sql import SqlStore
from wayline.store.sqlite import SqliteStore
from wayline.testing import ManualClock

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


class _CountingJourneys(JourneyStore):
    """The trigger consumer's journey store, counting the entries re-entry refuses (the
    runtime keeps no record of them: a refused customer simply does not enter)."""

    def __init__(self, store: SqlStore, refused: Counter[str]) -> None:
        super().__init__(store)
        self.refused = refused

    def enrol_many(
        self, conn: Connection, entries: Sequence[NewInstance], now: datetime
    ) -> list[int | str]:
        results = super().enrol_many(conn, entries, now)
        for result in results:
            if isinstance(result, str):
                self.refused[_refusal(result)] += 1
        return results


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
        scratch.use_secret_box(secret_box.ephemeral())
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
            replay = Replay(
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


def _staged_pages(scratch: SqlStore) -> Iterator[list[Staged]]:
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
            Staged(
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
