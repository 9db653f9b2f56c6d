"""The journey runtime's domain operations on the state store.

Everything here runs inside a transaction the caller holds (a ``Connection``), so that a
worker or trigger step writes its instances, waits, steps and outbox rows in one commit.
One module per family of rows: :mod:`.versions`, :mod:`.instances`, :mod:`.waits`,
:mod:`.steps`; the rows themselves in :mod:`.rows`.
"""

from __future__ import annotations

from wayline.store.journeys.instances import Instances
from wayline.store.journeys.rows import (
    Instance,
    InstanceState,
    JourneyRecord,
    JourneyStatus,
    NewInstance,
    Step,
    Wait,
)
from wayline.store.journeys.steps import Steps
from wayline.store.journeys.versions import Versions
from wayline.store.journeys.waits import Waits
from wayline.store.sql import SqlStore

__all__ = [
    "Instance",
    "InstanceState",
    "JourneyRecord",
    "JourneyStatus",
    "JourneyStore",
    "NewInstance",
    "Step",
    "Wait",
]


class JourneyStore(Versions, Instances, Waits, Steps):
    """Journeys, versions, instances, waits and steps, over the shared SQL store."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self._known_paths = set()
