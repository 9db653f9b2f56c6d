"""The journey runtime's loops, built from a store and a clock (used by ``wayline serve``
and by tests)."""

from __future__ import annotations

from dataclasses import dataclass

from wayline.clock import Clock
from wayline.engine import handlers as _handlers  # noqa: F401  (registers the node handlers)
from wayline.engine.catalog import Catalog
from wayline.engine.compile import compile_journey
from wayline.engine.schedules import Scheduler
from wayline.engine.triggers import Triggers
from wayline.engine.worker import Worker
from wayline.store.journeys import JourneyStore
from wayline.store.sql import SqlStore


@dataclass(frozen=True)
class JourneyRuntime:
    catalog: Catalog
    triggers: Triggers
    worker: Worker
    scheduler: Scheduler


def journey_runtime(store: SqlStore, clock: Clock, *, refresh: float = 1.0) -> JourneyRuntime:
    catalog = Catalog(JourneyStore(store), compile_journey, refresh=refresh)
    return JourneyRuntime(
        catalog=catalog,
        triggers=Triggers(store, catalog, clock),
        worker=Worker(store, catalog, clock),
        scheduler=Scheduler(store, catalog, clock),
    )
