"""Helpers for tests of Wayline and of projects built on it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from wayline.profiles import process_inbox
from wayline.runtime import Runtime
from wayline.store.base import Store
from wayline.store.journeys.instances import next_due
from wayline.store.sql import SqlStore


class ManualClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        with self._lock:
            self._now += delta if delta is not None else timedelta(**kwargs)
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when


def drain_profiles(store: Store, *, timeout: float = 10.0, batch: int = 1000) -> None:
    """Run the profile consumer until it has taken every event in the inbox.

    On PostgreSQL a consumer may find nothing for a moment while any transaction of the
    cluster older than the newest events is still running, so this waits rather than
    assuming one step is enough.
    """
    deadline = time.monotonic() + timeout
    while True:
        if not process_inbox(store, batch):
            if store.profiles_lag() == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"profile consumer still {store.profiles_lag()} behind")
            time.sleep(0.01)


class TimeMachine:
    """Runs a process's loops on a manual clock, jumping from one due time to the next.

    ``advance(days=3)`` fires, in order, every wake-up and every outbox retry that falls in
    those three days, running the loops until nothing is left to do at each moment: a test
    of a multi-day journey runs in milliseconds.
    """

    def __init__(self, store: Store, runtime: Runtime, clock: ManualClock) -> None:
        assert isinstance(store, SqlStore)
        self.store = store
        self.runtime = runtime
        self.clock = clock
        #: Other things that fall due (a schedule's next occurrence): each gives the first
        #: time after the one it is asked about, or None.
        self.timers: list[Callable[[datetime], datetime | None]] = []

    @classmethod
    def for_journeys(
        cls, store: Store, clock: ManualClock, *, segments: bool = False
    ) -> TimeMachine:
        """The profile consumer, the journey triggers, a worker and the scheduler (and, with
        ``segments``, the segment consumer), on the manual clock."""
        from wayline.engine.loops import journey_runtime

        assert isinstance(store, SqlStore)
        engine = journey_runtime(store, clock, refresh=0)
        runtime = Runtime()
        runtime.add("profiles", lambda: process_inbox(store, 1000), 0.01)
        if segments:
            from wayline.segments.consumer import SegmentConsumer
            from wayline.stages.tracker import StageTracker

            runtime.add("segments", SegmentConsumer(store, clock).step, 0.01)
            runtime.add("stages", StageTracker(store, clock).step, 0.01)
        runtime.add("triggers", engine.triggers.step, 0.01)
        runtime.add("worker", engine.worker.step, 0.01)
        runtime.add("scheduler", engine.scheduler.step, 0.01)
        machine = cls(store, runtime, clock)
        machine.timers.append(engine.scheduler.next_due)
        return machine

    @classmethod
    def for_segments(cls, store: Store, clock: ManualClock) -> TimeMachine:
        """:meth:`for_journeys` with the segment consumer."""
        return cls.for_journeys(store, clock, segments=True)

    def settle(self, *, limit: int = 100_000) -> int:
        """Run every loop until none finds work; returns how many steps did something."""
        done = 0
        for _ in range(limit):
            worked = sum(loop.step() for loop in self.runtime.loops)
            if worked:
                done += worked
                continue
            if self.store.profiles_lag() == 0 and self._triggers_caught_up():
                return done
            time.sleep(0.005)  # PostgreSQL: rows of transactions still committing
        raise TimeoutError("the loops did not settle")

    def _triggers_caught_up(self) -> bool:
        from wayline.engine.triggers import TRIGGERS_CONSUMER
        from wayline.segments.store import SEGMENTS_CONSUMER
        from wayline.stages.store import STAGES_CONSUMER

        for name in (TRIGGERS_CONSUMER, SEGMENTS_CONSUMER, STAGES_CONSUMER):
            if not any(loop.name == name for loop in self.runtime.loops):
                continue
            with self.store.engine.connect() as conn:
                cursor = self.store._cursor(conn, name)
            if self.store.inbox_after(cursor):
                return False
        return True

    def next_due(self) -> datetime | None:
        from wayline.segments.store import SegmentStore

        now = self.clock.now()
        with self.store.engine.connect() as conn:
            found = [next_due(conn, now), SegmentStore(self.store).next_due(conn, now)]
        times = [t for t in (*found, *(timer(now) for timer in self.timers)) if t is not None]
        return min(times) if times else None

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> None:
        target = self.clock.now() + (delta if delta is not None else timedelta(**kwargs))
        self.settle()
        while True:
            due = self.next_due()
            if due is None or due > target:
                break
            self.clock.set(due)
            self.settle()
        self.clock.set(target)
        self.settle()
