"""Which journeys exist, compiled for the runtime, cached by version (versions never change)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from wayline.store.journeys import JourneyStatus, JourneyStore


@dataclass(frozen=True, kw_only=True)
class CompiledJourney:
    """One version of a journey, as the runtime needs it."""

    workspace_id: str
    journey_id: str
    version: int
    nodes: dict[str, Any]
    first: str
    #: Event entry: the event name, its filter, and the path of the correlation key.
    entry_event: str | None
    entry_where: dict[str, Any] | None
    entry_key: str | None
    re_entry: str
    cooldown: timedelta | None
    #: Customers enter by POST /api/v1/journeys/{id}/enroll.
    entry_api: bool = False
    #: Goal: event, the path its key must match (or None: the same customer), window, exit.
    goal_event: str | None = None
    goal_match_key: str | None = None
    goal_where: dict[str, Any] | None = None
    goal_within: timedelta | None = None
    goal_exits: bool = False
    #: ``exit_when`` event exits, in the order written: their index names their wait.
    exits: tuple[Any, ...] = ()
    #: A schedule entry (``at`` or ``cron``), run by the scheduler.
    schedule: Any = None
    spec: Any = None


Compiler = Callable[[str, str, int, dict[str, Any]], CompiledJourney]


@dataclass
class Catalog:
    """Compiled journey versions and the event entries of active journeys.

    Entries are re-read at most every ``refresh`` seconds, so a journey applied or paused
    takes effect within that time in every process, and at once where the process checks
    the journeys' change stamp first (:meth:`follow`).
    """

    journeys: JourneyStore
    compile: Compiler
    refresh: float = 1.0
    _versions: dict[tuple[str, str, int], CompiledJourney] = field(default_factory=dict)
    _entries: dict[tuple[str, str], list[CompiledJourney]] = field(default_factory=dict)
    _active: dict[tuple[str, str], CompiledJourney] = field(default_factory=dict)
    _scheduled: list[tuple[CompiledJourney, datetime]] = field(default_factory=list)
    _loaded_at: float = float("-inf")
    _stamp: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def version(self, workspace_id: str, journey_id: str, version: int) -> CompiledJourney:
        key = (workspace_id, journey_id, version)
        found = self._versions.get(key)
        if found is None:
            spec = self.journeys.spec(workspace_id, journey_id, version)
            found = self.compile(workspace_id, journey_id, version, spec)
            self._versions[key] = found
        return found

    def _reload(self) -> None:
        entries: dict[tuple[str, str], list[CompiledJourney]] = {}
        active: dict[tuple[str, str], CompiledJourney] = {}
        scheduled: list[tuple[CompiledJourney, datetime]] = []
        for record in self.journeys.journeys():
            if record.status is not JourneyStatus.ACTIVE:
                continue
            compiled = self.version(record.workspace_id, record.journey_id, record.version)
            active[(record.workspace_id, record.journey_id)] = compiled
            if compiled.entry_event:
                entries.setdefault((record.workspace_id, compiled.entry_event), []).append(compiled)
            if compiled.schedule is not None:
                scheduled.append((compiled, record.updated_at))
        self._entries, self._active, self._scheduled = entries, active, scheduled

    def _fresh(self) -> None:
        with self._lock:
            if time.monotonic() - self._loaded_at >= self.refresh:
                self._reload()
                self._loaded_at = time.monotonic()

    def follow(self, stamp: Any) -> None:
        """Re-read the journeys now if their change stamp is not the one last seen."""
        with self._lock:
            if stamp != self._stamp:
                self._reload()
                self._loaded_at = time.monotonic()
                self._stamp = stamp

    def entries_for(self, workspace_id: str, event: str) -> list[CompiledJourney]:
        self._fresh()
        return self._entries.get((workspace_id, event), [])

    def active(self, workspace_id: str, journey_id: str) -> CompiledJourney | None:
        self._fresh()
        return self._active.get((workspace_id, journey_id))

    def scheduled(self) -> list[tuple[CompiledJourney, datetime]]:
        """Active journeys with a schedule entry, each with the time it last changed
        (applied, paused, resumed): occurrences before that time do not fire."""
        self._fresh()
        return self._scheduled

    def invalidate(self) -> None:
        with self._lock:
            self._loaded_at = float("-inf")
