"""The trigger consumer's list of wait paths: kept as waits are added, without a scan of
the waits, and never believing a path whose transaction rolled back."""

from __future__ import annotations

import pytest

from wayline.store import Store
from wayline.store.journeys import JourneyStore, Wait
from wayline.store.sql import SqlStore


def _wait(instance_id: int, event: str, path: str) -> Wait:
    return Wait(
        instance_id=instance_id,
        kind="wait",
        event=event,
        workspace_id="ws",
        key_path=path,
        key_value="v",
    )


class Rollback(Exception):
    pass


def test_paths_follow_added_waits_and_survive_a_rollback(store: Store) -> None:
    assert isinstance(store, SqlStore)
    journeys = JourneyStore(store)
    with store._write() as conn:
        journeys.add_waits(conn, [_wait(1, "Order Completed", "properties.cart_id")])

    def add_then_fail() -> None:
        with store._write() as conn:
            journeys.add_waits(conn, [_wait(2, "Email Opened", "")])
            raise Rollback

    with pytest.raises(Rollback):
        add_then_fail()
    with store.engine.connect() as conn:
        assert journeys.wait_paths(conn) == {("ws", "Order Completed"): {"properties.cart_id"}}
    # the path that rolled back is written again by the next wait that needs it
    with store._write() as conn:
        journeys.add_waits(conn, [_wait(3, "Email Opened", ""), _wait(4, "Order Completed", "")])
    with store.engine.connect() as conn:
        assert journeys.wait_paths(conn) == {
            ("ws", "Order Completed"): {"properties.cart_id", ""},
            ("ws", "Email Opened"): {""},
        }
