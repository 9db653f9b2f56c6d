"""The background loops of a Wayline process, each consuming the inbox in its own thread.

A loop step is one transaction: it takes a slice of the inbox after its cursor, applies it,
and moves the cursor in the same commit. A crash between two steps loses nothing and
repeats nothing; stopping lets the step in progress finish.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

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

    def nudge(self) -> None:
        self.wake.set()

    def run(self) -> None:
        failures = 0
        while not self.stop_event.is_set():
            try:
                done = self.step()
                failures = 0
            except Exception:
                failures += 1
                log.exception("%s: step failed (attempt %d); retrying", self.name, failures)
                self.stop_event.wait(min(30.0, 0.1 * 2**failures))
                continue
            if done:
                for follower in self.followers:
                    follower.wake.set()
                continue
            self.wake.wait(self.idle)
            self.wake.clear()

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
