"""The stage tests' world, on each backend."""

from __future__ import annotations

import pytest

from tests.integration.stages.world import World
from wayline.store import Store
from wayline.store.sql import SqlStore
from wayline.testing import ManualClock, TimeMachine


@pytest.fixture
def world(store: Store, clock: ManualClock) -> World:
    assert isinstance(store, SqlStore)
    workspace = store.create_workspace("shop").workspace.id
    return World(store, clock, TimeMachine.for_segments(store, clock), workspace)
