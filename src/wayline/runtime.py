"""The background loops of a Wayline process, each consuming the inbox in its own thread.

A loop step is one transaction: it takes a slice of the inbox after its cursor, applies it,
and moves the cursor in the same commit. A crash between two steps loses nothing and
repeats nothing; stopping lets the step in progress finish.

Nothing blocks the line. When an inbox consumer's step fails, the loop tries again at once
with a batch of one row, to find the row at fault; a row that fails
``WAYLINE_CONSUMER_MAX_ATTEMPTS`` times on its own is parked as a dead letter, in the
transaction that moves the consumer's cursor past it, and the rows after it flow on. Once
the rest of the failed batch has passed, the consumer goes back to its batch size. A
failure of the database itself never counts against a row: an outage parks nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from wayline.failures import describe, is_outage

if TYPE_CHECKING:
    from wayline.store.base import InboxEvent
    from wayline.store.dead_letters import DeadLetterStore

log = logging.getLogger("wayline.runtime")


class Role(StrEnum):
    #: The HTTP API (ingestion and administration).
    API = "api"
    #: Identity resolution: inbox events become profiles.
    PROFILES = "profiles"
    #: The warehouse loader: inbox events become warehouse rows.
    LOADER = "loader"
    #: Segments: memberships follow events and expiring windows; entered/exited events.
    SEGMENTS = "segments"
    #: Journey triggers: events enrol customers, resume their waits, reach goals.
    TRIGGERS = "triggers"
    #: Journey workers: due customers move on through their journey's nodes, and schedule
    #: entries enrol their audience.
    WORKER = "worker"
    #: The outbox dispatcher: queued messages go out through their channels.
    DISPATCHER = "dispatcher"


ALL_ROLES = frozenset(Role)


class InboxConsumer(Protocol):
    """A loop that reads the inbox after a cursor, as the runtime needs to see it."""

    #: The name its cursor and its dead letters go by.
    consumer: str
    #: Inbox rows per step; the runtime sets it to 1 to find a row at fault.
    batch_size: int

    def step(self) -> int: ...

    def park(self, error: str, attempts: int) -> bool:
        """Park the next row after the cursor as a dead letter and move the cursor past it,
        in one transaction; False when there is no row to park."""
        ...

    def replay(self, events: Sequence[InboxEvent]) -> None:
        """Apply these inbox rows in one transaction, without moving the cursor."""
        ...


@dataclass
class Isolation:
    """How an inbox consumer's loop finds and parks the row at fault."""

    consumer: InboxConsumer
    letters: DeadLetterStore
    #: Failures of a one-row step before its row is parked.
    max_attempts: int = 5
    #: The consumer's own batch size, restored once the failed batch has passed.
    batch_size: int = 0
    #: One-row steps still to take before going back to ``batch_size``.
    single: int = 0
    #: Failures of the current one-row step.
    attempts: int = 0

    def __post_init__(self) -> None:
        self.batch_size = self.batch_size or self.consumer.batch_size

    def retry_letters(self) -> int:
        """Apply, each alone, the dead letters an operator asked to retry; a success
        removes the letter, a failure parks it again with its new error."""
        done = 0
        for letter in self.letters.due(self.consumer.consumer):
            event = self.letters.event(letter)
            if event is None:  # erased since
                self.letters.resolved(letter.id)
                continue
            try:
                self.consumer.replay([event])
            except Exception as exc:
                if is_outage(exc):
                    raise
                log.warning(
                    "%s: dead letter %d failed again: %s", self.consumer.consumer, letter.id, exc
                )
                self.letters.failed(letter.id, describe(exc))
            else:
                self.letters.resolved(letter.id)
                done += 1
        return done

    def succeeded(self, done: int) -> None:
        self.attempts = 0
        if self.single:
            self.single = 0 if not done else self.single - 1
            if not self.single:
                self.consumer.batch_size = self.batch_size

    def failed(self, exc: Exception) -> float:
        """Deal with a failed step; returns the seconds to wait before the next."""
        name = self.consumer.consumer
        if not self.single:
            log.warning("%s: step failed (%s); trying its rows one at a time", name, exc)
            self.single = self.batch_size
            self.consumer.batch_size = 1
            return 0.0
        self.attempts += 1
        if self.attempts < self.max_attempts:
            log.warning("%s: row failed (attempt %d): %s", name, self.attempts, exc)
            return float(min(2.0, 0.05 * 2**self.attempts))
        try:
            parked = self.consumer.park(describe(exc), self.attempts)
        except Exception:
            # parking needs the database: if it is gone, the row stays where it was
            log.exception("%s: could not park the failing row", name)
            return 1.0
        if parked:
            log.error(
                "%s: row parked as a dead letter after %d attempts: %s", name, self.attempts, exc
            )
        self.succeeded(1)
        return 0.0


@dataclass
class Loop:
    """Calls ``step`` until stopped; sleeps ``idle`` seconds when a step found nothing,
    or until nudged: a loop that did work wakes the loops that follow it at once."""

    name: str
    step: Callable[[], int]
    idle: float
    stop_event: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    #: Set to cut an idle sleep short: there may be work.
    wake: threading.Event = field(default_factory=threading.Event)
    #: The loops whose work this loop's work makes: nudged whenever it did some.
    followers: list[Loop] = field(default_factory=list)
    #: For an inbox consumer: how a failing row is found and parked.
    isolation: Isolation | None = None
    #: Consecutive failed steps (the backoff of loops that are not inbox consumers).
    failures: int = 0

    def nudge(self) -> None:
        self.wake.set()

    def turn(self) -> float | None:
        """One step: None when it found nothing to do, else the seconds to wait before
        the next (0: at once)."""
        isolation = self.isolation
        try:
            done = isolation.retry_letters() if isolation is not None else 0
            done += self.step()
        except Exception as exc:
            self.failures += 1
            if isolation is None or is_outage(exc):
                log.exception("%s: step failed (attempt %d); retrying", self.name, self.failures)
                return float(min(30.0, 0.1 * 2**self.failures))
            return isolation.failed(exc)
        self.failures = 0
        if isolation is not None:
            isolation.succeeded(done)
        if done:
            for follower in self.followers:
                follower.wake.set()
            return 0.0
        return None

    def run(self) -> None:
        while not self.stop_event.is_set():
            pause = self.turn()
            if pause is None:
                self.wake.wait(self.idle)
                self.wake.clear()
            elif pause:
                self.stop_event.wait(pause)

    def start(self) -> None:
        self.thread = threading.Thread(target=self.run, name=f"wayline-{self.name}", daemon=True)
        self.thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self.stop_event.set()
        self.wake.set()
        if self.thread is not None:
            self.thread.join(timeout)


class Runtime:
    """The loops of one process."""

    def __init__(self) -> None:
        self.loops: list[Loop] = []
        self._on_stop: list[Callable[[], None]] = []

    def add(self, name: str, step: Callable[[], int], idle: float) -> None:
        self.loops.append(Loop(name=name, step=step, idle=idle))

    def consume(
        self,
        name: str,
        consumer: InboxConsumer,
        idle: float,
        *,
        letters: DeadLetterStore,
        max_attempts: int = 5,
    ) -> None:
        """Run an inbox consumer: a row it cannot process is parked, not retried for ever."""
        isolation = Isolation(consumer=consumer, letters=letters, max_attempts=max_attempts)
        self.loops.append(Loop(name=name, step=consumer.step, idle=idle, isolation=isolation))

    def chain(self, name: str, *followers: str) -> None:
        """When loop ``name`` does work, wake ``followers`` (those this process runs)."""
        by_name = {loop.name: loop for loop in self.loops}
        if name in by_name:
            by_name[name].followers.extend(by_name[f] for f in followers if f in by_name)

    def nudge(self, name: str) -> None:
        """Wake loop ``name`` if this process runs it (e.g. events just arrived)."""
        for loop in self.loops:
            if loop.name == name:
                loop.nudge()

    def on_stop(self, fn: Callable[[], None]) -> None:
        self._on_stop.append(fn)

    def start(self) -> None:
        for loop in self.loops:
            loop.start()

    def stop(self) -> None:
        for loop in self.loops:
            loop.stop_event.set()
            loop.wake.set()
        for loop in self.loops:
            loop.stop()
        for fn in self._on_stop:
            fn()

    def drain(self) -> None:
        """Run every loop's step until none finds work (tests and one-shot commands)."""
        while any(loop.step() for loop in self.loops):
            pass
