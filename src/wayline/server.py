"""Wiring one Wayline process: the services it holds, the loops it runs, its ASGI app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING

from fastapi import FastAPI

from wayline.api.app import create_app
from wayline.api.deps import Services, SharedWarehouse
from wayline.clock import Clock, SystemClock
from wayline.ingest import Ingestor
from wayline.profiles import ProfileConsumer
from wayline.runtime import ALL_ROLES, Role, Runtime
from wayline.settings import Settings
from wayline.store import Store, open_store

if TYPE_CHECKING:
    from wayline.store.dead_letters import DeadLetterStore


class Process:
    """Everything one ``wayline serve`` holds, built from settings, nothing at import."""

    def __init__(
        self,
        settings: Settings,
        roles: Iterable[Role] = ALL_ROLES,
        *,
        store: Store | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.roles = frozenset(roles)
        self.clock = clock or SystemClock()
        self.store = store or open_store(settings, self.clock)
        self.runtime = Runtime()
        self.services = Services(
            settings=settings,
            store=self.store,
            clock=self.clock,
            ingestor=Ingestor(
                self.store, self.clock, settings, on_stored=lambda: self.runtime.nudge("profiles")
            ),
        )
        idle = settings.consumer_idle_seconds
        size = settings.consumer_batch_size
        letters = self._dead_letters()
        attempts = settings.consumer_max_attempts
        if Role.PROFILES in self.roles:
            profiles = ProfileConsumer(self.store, letters, batch_size=size)
            self.runtime.consume("profiles", profiles, idle, letters=letters, max_attempts=attempts)
        if Role.LOADER in self.roles:
            from wayline.analytics.loader import WarehouseLoader
            from wayline.analytics.warehouse import open_warehouse

            warehouse = open_warehouse(settings, writer=True)
            loader = WarehouseLoader(
                self.store,
                warehouse,
                batch_size=size,
                letters=letters,
                clock=self.clock,
                compact_every=timedelta(minutes=settings.warehouse_compact_minutes),
            )
            self.services.eraser = loader
            self.services.warehouse = SharedWarehouse(lambda: warehouse)
            self.runtime.consume("loader", loader, idle, letters=letters, max_attempts=attempts)
            self.runtime.on_stop(warehouse.close)
        elif Role.API in self.roles:
            from wayline.analytics.warehouse import open_warehouse

            shared = SharedWarehouse(lambda: open_warehouse(settings))
            self.services.warehouse = shared
            self.runtime.on_stop(shared.close)
        if Role.SEGMENTS in self.roles:
            from wayline.segments.consumer import SegmentConsumer
            from wayline.store.sql import SqlStore

            assert isinstance(self.store, SqlStore)
            segments = SegmentConsumer(self.store, self.clock, batch_size=size)
            self.runtime.consume("segments", segments, idle, letters=letters, max_attempts=attempts)
            from wayline.stages.tracker import StageTracker

            stages = StageTracker(self.store, self.clock, batch_size=size)
            self.runtime.consume("stages", stages, idle, letters=letters, max_attempts=attempts)
        if self.roles & {Role.TRIGGERS, Role.WORKER}:
            from wayline.engine.loops import journey_runtime
            from wayline.store.sql import SqlStore

            assert isinstance(self.store, SqlStore)
            journeys = journey_runtime(self.store, self.clock)
            if Role.TRIGGERS in self.roles:
                self.runtime.consume(
                    "triggers", journeys.triggers, idle, letters=letters, max_attempts=attempts
                )
            if Role.WORKER in self.roles:
                self.runtime.add("worker", journeys.worker.step, idle)
                self.runtime.add("scheduler", journeys.scheduler.step, idle)
        if Role.DISPATCHER in self.roles:
            from wayline.channels.dispatcher import Dispatcher, standard_channels
            from wayline.engine.captures import WebhookAnswers
            from wayline.store.journeys import JourneyStore
            from wayline.store.sql import SqlStore

            assert isinstance(self.store, SqlStore)
            answers = WebhookAnswers(JourneyStore(self.store))
            channels = standard_channels(self.store, settings, self.clock)
            dispatcher = Dispatcher(
                self.store,
                settings,
                self.clock,
                channels,
                on_sent=answers.on_sent,
                on_dead=answers.on_dead,
            )
            self.runtime.add("dispatcher", dispatcher.step, idle)
            self.runtime.on_stop(dispatcher.close)
        # Work one loop does is work for the next: wake it rather than wait for its poll.
        self.runtime.chain("profiles", "loader", "segments", "triggers")
        # segment changes are announced as events: the profile consumer takes them next
        self.runtime.chain("segments", "profiles")
        self.runtime.chain("triggers", "worker")
        self.runtime.chain("worker", "dispatcher")

    def _dead_letters(self) -> DeadLetterStore:
        from wayline.store.dead_letters import DeadLetterStore
        from wayline.store.sql import SqlStore

        assert isinstance(self.store, SqlStore)
        return DeadLetterStore(self.store)

    def announce(self, url: str) -> None:
        """Serve reports of this data dir while running: when this process holds the
        embedded warehouse, leave a note beside it saying where to send their queries
        (removed at stop)."""
        from wayline.analytics.remote import ServerNote, note_path
        from wayline.analytics.warehouse_duckdb import DuckDBWarehouse

        if Role.LOADER not in self.roles or self.services.warehouse is None:
            return
        if not isinstance(self.services.warehouse.get(), DuckDBWarehouse):
            return
        location = self.settings.resolved_warehouse_url()
        path = note_path(location.removeprefix("duckdb:").removeprefix("///"))
        note = ServerNote.create(url)
        note.write(path)
        self.services.server_note = note
        self.runtime.on_stop(lambda: note.remove(path))

    def migrate(self) -> None:
        self.store.migrate()

    def app(self) -> FastAPI:
        @asynccontextmanager
        async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
            self.runtime.start()
            try:
                yield
            finally:
                self.runtime.stop()
                self.store.close()

        return create_app(self.services, lifespan=lifespan)
