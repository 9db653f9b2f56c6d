"""After an erase, the loader compacts the warehouse, batched: the DuckDB file is rewritten
with only its live rows (deleted values cannot be read from it), the PostgreSQL warehouse
vacuumed; analytics and loading carry on over the new file."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.integration.test_warehouse import add, loaded, message, resolve_profiles
from wayline.analytics.loader import WarehouseLoader
from wayline.analytics.warehouse import Warehouse, open_warehouse
from wayline.settings import Settings
from wayline.store import Store
from wayline.store.base import Cursor
from wayline.testing import ManualClock


def _erase(store: Store, workspace_id: str, user: str) -> None:
    resolve_profiles(store)
    view = store.find_profile(workspace_id, user)
    assert view is not None
    store.erase_profile(workspace_id, view.profile.id)


def _open(path: Path) -> Warehouse:
    return open_warehouse(Settings(data_dir=path.parent, warehouse_url=f"duckdb:///{path}"))


def test_an_erase_rewrites_the_duckdb_file_without_the_customer(
    store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    path = tmp_path / "wh" / "warehouse.duckdb"
    warehouse = _open(path)
    loader = WarehouseLoader(store, warehouse, batch_size=100, clock=clock)
    ws = store.create_workspace("shop").workspace.id
    add(store, ws, *(message(clock, f"a{i}", userId="gone-user-0x5f") for i in range(3)))
    add(store, ws, *(message(clock, f"b{i}", userId="kept-user-0x7a") for i in range(3)))
    loader.drain()
    events = warehouse.table("events")  # an expression built before the rewrite
    warehouse._writer.execute("CHECKPOINT").fetchall()  # type: ignore[attr-defined]
    assert b"gone-user-0x5f" in path.read_bytes()

    _erase(store, ws, "gone-user-0x5f")
    loader.apply_erasures()  # what the API's erase does: the rows go at once
    assert warehouse.compaction_due()
    assert b"gone-user-0x5f" in path.read_bytes()  # DuckDB leaves their blocks as they were
    loader.step()

    assert not warehouse.compaction_due()
    assert not Path(f"{path}.compact").exists()
    data = path.read_bytes()
    assert b"gone-user-0x5f" not in data
    assert b"kept-user-0x7a" in data
    assert sorted(warehouse.execute(events.select("message_id")).to_pylist(), key=str) == [
        {"message_id": f"b{i}"} for i in range(3)
    ]
    # a report sent by `wayline report` runs on the new file too
    counted = warehouse.run_sql("SELECT count(*) AS n FROM events", {})  # type: ignore[attr-defined]
    assert counted.to_pylist() == [{"n": 3}]
    add(store, ws, message(clock, "b9", userId="kept-user-0x7a"))
    loader.drain()
    assert loaded(warehouse, ws) == ["b0", "b1", "b2", "b9"]
    warehouse.close()
    reopened = _open(path)
    try:
        assert loaded(reopened, ws) == ["b0", "b1", "b2", "b9"]
        assert reopened.cursor() == store.read_inbox(Cursor(), 10**6)[-1].cursor
    finally:
        reopened.close()


def test_compaction_runs_at_most_once_per_interval(
    store: Store, clock: ManualClock, warehouse: Warehouse
) -> None:
    loader = WarehouseLoader(
        store, warehouse, batch_size=100, clock=clock, compact_every=timedelta(minutes=10)
    )
    ws = store.create_workspace("shop").workspace.id
    add(store, ws, *(message(clock, f"m{i}", userId=f"u{i}") for i in range(3)))
    loader.drain()
    _erase(store, ws, "u0")
    loader.step()
    assert not warehouse.compaction_due()  # the first runs at once
    clock.advance(timedelta(minutes=4))
    _erase(store, ws, "u1")
    loader.step()
    assert warehouse.compaction_due()  # waits for the interval
    assert loaded(warehouse, ws) == ["m2"]  # while the rows are gone already
    clock.advance(timedelta(minutes=6))
    loader.step()
    assert not warehouse.compaction_due()


def test_a_compaction_cut_off_before_its_swap_leaves_the_warehouse_whole(
    tmp_path: Path,
) -> None:
    path = tmp_path / "warehouse.duckdb"
    _open(path).close()
    Path(f"{path}.compact").write_bytes(b"half a file")
    warehouse = _open(path)
    try:
        assert not Path(f"{path}.compact").exists()
        assert warehouse.cursor().seq == 0
    finally:
        warehouse.close()
