"""The warehouse loader: inbox → warehouse, incrementally, exactly once, erasable.

Every test runs on each store (SQLite, PostgreSQL) crossed with each warehouse (a DuckDB
file, a fresh PostgreSQL database).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from tests.conftest import PG_ADMIN_URL, PgTemplates
from wayline.analytics.loader import WarehouseLoader
from wayline.analytics.queries import events_per_day
from wayline.analytics.warehouse import Warehouse, WarehouseLocked, open_warehouse
from wayline.cli import app
from wayline.errors import WorkspaceNotFound
from wayline.events import EventRow, parse_message
from wayline.profiles import process_inbox
from wayline.settings import Settings
from wayline.store import Store, open_store
from wayline.store.base import Cursor
from wayline.testing import ManualClock

WAREHOUSES = ("duckdb", "postgresql")


@pytest.fixture(params=WAREHOUSES)
def warehouse_settings(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Settings]:
    """Settings naming the store under test and a fresh, empty warehouse of each kind."""
    if request.param == "duckdb":
        url = f"duckdb:///{settings.data_dir / 'warehouse' / 'warehouse.duckdb'}"
        yield settings.model_copy(update={"warehouse_url": url})
        return
    templates: PgTemplates = request.getfixturevalue("pg_templates")
    name = templates.clone()
    try:
        url = sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        yield settings.model_copy(update={"warehouse_url": url})
    finally:
        templates.drop(name)


@pytest.fixture
def warehouse(warehouse_settings: Settings) -> Iterator[Warehouse]:
    w = open_warehouse(warehouse_settings)
    yield w
    w.close()


@pytest.fixture
def loader(store: Store, warehouse: Warehouse) -> WarehouseLoader:
    return WarehouseLoader(store, warehouse, batch_size=100)


def message(clock: ManualClock, message_id: str, **fields: Any) -> EventRow:
    raw = {"type": "track", "event": "Tick", "messageId": message_id, **fields}
    if "userId" not in raw and "anonymousId" not in raw:
        raw["userId"] = "u1"
    return parse_message(raw, received_at=clock.now())


def add(store: Store, workspace_id: str, *rows: EventRow) -> None:
    """Append events and wait until consumers can see them.

    PostgreSQL consumers see a row only once every transaction older than its own has
    ended, anywhere on the server: a busy shared server can hold rows back for a while.
    """
    assert store.append_events(workspace_id, rows) == len(rows)
    wanted = {(workspace_id, r.message_id) for r in rows}
    deadline = time.monotonic() + 60
    while not wanted <= {(e.workspace_id, e.message_id) for e in store.read_inbox(Cursor(), 10**6)}:
        assert time.monotonic() < deadline, "appended events never became visible"
        time.sleep(0.02)


def loaded(warehouse: Warehouse, workspace_id: str | None = None) -> list[str]:
    """The message ids in the warehouse (of one workspace), in load order."""
    t = warehouse.table("events")
    if workspace_id is not None:
        t = t.filter(t.workspace_id == workspace_id)
    rows = warehouse.execute(t.order_by("seq").select("message_id")).to_pylist()
    return [r["message_id"] for r in rows]


def resolve_profiles(store: Store) -> None:
    while process_inbox(store, 100):
        pass


# -- loading ---------------------------------------------------------------------------------


def test_loads_incrementally(store: Store, clock: ManualClock, loader: WarehouseLoader) -> None:
    ws = store.create_workspace("a").workspace.id
    add(store, ws, *(message(clock, f"m{i}") for i in range(5)))
    loader.batch_size = 2
    assert [loader.step(), loader.step(), loader.step(), loader.step()] == [2, 2, 1, 0]
    assert loaded(loader.warehouse) == [f"m{i}" for i in range(5)]

    add(store, ws, *(message(clock, f"n{i}") for i in range(3)))
    assert loader.drain() == 3
    assert loader.step() == 0
    assert loaded(loader.warehouse) == [f"m{i}" for i in range(5)] + ["n0", "n1", "n2"]


def test_rows_carry_the_event(store: Store, clock: ManualClock, loader: WarehouseLoader) -> None:
    ws = store.create_workspace("a").workspace.id
    when = datetime(2026, 3, 4, 5, 6, 7, 891000, tzinfo=UTC)
    add(
        store,
        ws,
        message(
            clock,
            "m1",
            userId="u1",
            anonymousId="a1",
            event="Order Completed",
            timestamp=when.isoformat(),
            properties={"revenue": 12.5, "currency": "EUR"},
            context={"ip": "203.0.113.9", "traits": {"plan": "pro"}},
        ),
        parse_message(
            {"type": "identify", "userId": "u1", "traits": {"email": "ann@example.com"}},
            received_at=clock.now(),
        ),
    )
    assert loader.drain() == 2
    inbox = store.read_inbox(Cursor(), 10)
    t = loader.warehouse.table("events")
    track, identify = loader.warehouse.execute(t.order_by("seq")).to_pylist()

    assert track["workspace_id"] == ws
    assert track["seq"] == inbox[0].seq
    assert track["message_id"] == "m1"
    assert (track["type"], track["event"]) == ("track", "Order Completed")
    assert (track["user_id"], track["anonymous_id"]) == ("u1", "a1")
    assert track["timestamp"] == when
    assert track["received_at"] == clock.now()
    assert orjson.loads(track["properties"]) == {"revenue": 12.5, "currency": "EUR"}
    assert orjson.loads(track["context"]) == {"ip": "203.0.113.9", "traits": {"plan": "pro"}}
    assert track["traits"] is None
    assert orjson.loads(track["payload"]) == orjson.loads(inbox[0].payload)

    assert (identify["type"], identify["event"], identify["properties"]) == ("identify", None, None)
    assert orjson.loads(identify["traits"]) == {"email": "ann@example.com"}


def test_workspaces_stay_apart(store: Store, clock: ManualClock, loader: WarehouseLoader) -> None:
    a = store.create_workspace("a").workspace.id
    b = store.create_workspace("b").workspace.id
    add(store, a, message(clock, "m1"), message(clock, "m2"))
    add(store, b, message(clock, "m1"))
    assert loader.drain() == 3
    assert loaded(loader.warehouse, a) == ["m1", "m2"]
    assert loaded(loader.warehouse, b) == ["m1"]


def test_a_reopened_warehouse_resumes_where_it_stopped(
    store: Store, clock: ManualClock, warehouse_settings: Settings
) -> None:
    ws = store.create_workspace("a").workspace.id
    add(store, ws, message(clock, "m1"), message(clock, "m2"))
    first = open_warehouse(warehouse_settings)
    try:
        assert WarehouseLoader(store, first, batch_size=100).drain() == 2
    finally:
        first.close()

    add(store, ws, message(clock, "m3"))
    again = open_warehouse(warehouse_settings)
    try:
        assert again.cursor() == store.read_inbox(Cursor(), 10)[1].cursor
        assert WarehouseLoader(store, again, batch_size=100).drain() == 1
        assert loaded(again) == ["m1", "m2", "m3"]
    finally:
        again.close()


class Crash(Exception):
    """The process died here."""


@pytest.mark.parametrize("after", ["_insert_events", "_save_cursor"])
def test_a_crash_before_commit_neither_loses_nor_doubles(
    store: Store,
    clock: ManualClock,
    loader: WarehouseLoader,
    monkeypatch: pytest.MonkeyPatch,
    after: str,
) -> None:
    ws = store.create_workspace("a").workspace.id
    add(store, ws, *(message(clock, f"m{i}") for i in range(10)))
    loader.batch_size = 4
    assert loader.step() == 4
    cursor = loader.warehouse.cursor()

    real = getattr(loader.warehouse, after)

    def write_then_crash(*args: Any) -> None:
        real(*args)  # the rows (or the cursor) are written, but never committed
        raise Crash

    monkeypatch.setattr(loader.warehouse, after, write_then_crash)
    with pytest.raises(Crash):
        loader.step()
    assert loaded(loader.warehouse) == [f"m{i}" for i in range(4)]
    assert loader.warehouse.cursor() == cursor

    monkeypatch.undo()
    assert loader.drain() == 6
    assert loader.step() == 0
    assert loaded(loader.warehouse) == [f"m{i}" for i in range(10)]


_DIE_MID_LOAD = """
import os
from wayline.analytics.loader import WarehouseLoader
from wayline.analytics.warehouse import open_warehouse
from wayline.settings import Settings
from wayline.store import open_store

settings = Settings()
warehouse = open_warehouse(settings)
real = warehouse._save_cursor
def die(*args):
    real(*args)
    os._exit(3)
warehouse._save_cursor = die
WarehouseLoader(open_store(settings), warehouse, batch_size=1000).step()
"""


def test_a_process_killed_mid_load_loads_everything_once_on_restart(
    store: Store, clock: ManualClock, warehouse_settings: Settings
) -> None:
    ws = store.create_workspace("a").workspace.id
    add(store, ws, *(message(clock, f"m{i}") for i in range(50)))
    env = {
        **os.environ,
        "WAYLINE_DATABASE_URL": warehouse_settings.resolved_database_url(),
        "WAYLINE_WAREHOUSE_URL": warehouse_settings.resolved_warehouse_url(),
    }
    died = subprocess.run([sys.executable, "-c", _DIE_MID_LOAD], env=env, check=False)
    assert died.returncode == 3

    warehouse = open_warehouse(warehouse_settings)
    try:
        assert loaded(warehouse) == []
        assert WarehouseLoader(store, warehouse, batch_size=1000).drain() == 50
        assert loaded(warehouse) == [f"m{i}" for i in range(50)]
    finally:
        warehouse.close()


# -- the first query -------------------------------------------------------------------------


def at(text: str) -> str:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).isoformat()


def test_events_per_day(store: Store, clock: ManualClock, loader: WarehouseLoader) -> None:
    a = store.create_workspace("a").workspace.id
    b = store.create_workspace("b").workspace.id
    add(
        store,
        a,
        message(clock, "t1", timestamp=at("2026-01-01T10:00:00")),
        message(clock, "t2", timestamp=at("2026-01-01T11:00:00")),
        message(clock, "p1", type="page", timestamp=at("2026-01-01T23:59:59.999")),
        message(clock, "t3", timestamp=at("2026-01-02T00:00:00")),
        message(clock, "i1", type="identify", timestamp=at("2026-01-02T08:00:00")),
    )
    add(store, b, *(message(clock, f"b{i}", timestamp=at("2026-01-01T12:00:00")) for i in range(5)))
    loader.drain()

    result = events_per_day(loader.warehouse, a)
    assert result.column_names == ["day", "type", "events"]
    assert result.to_pylist() == [
        {"day": date(2026, 1, 1), "type": "page", "events": 1},
        {"day": date(2026, 1, 1), "type": "track", "events": 2},
        {"day": date(2026, 1, 2), "type": "identify", "events": 1},
        {"day": date(2026, 1, 2), "type": "track", "events": 1},
    ]
    assert events_per_day(loader.warehouse, b).to_pylist() == [
        {"day": date(2026, 1, 1), "type": "track", "events": 5}
    ]
    assert events_per_day(loader.warehouse, "nobody").num_rows == 0


# -- erasure ---------------------------------------------------------------------------------


def two_customers_in_two_workspaces(store: Store, clock: ManualClock) -> tuple[str, str]:
    """u1 (also known as anonymous a1) and u2 in workspace a; the same ids in workspace b."""
    a = store.create_workspace("a").workspace.id
    b = store.create_workspace("b").workspace.id
    add(
        store,
        a,
        message(clock, "a-anon", anonymousId="a1"),
        message(clock, "a-identify", type="identify", userId="u1", anonymousId="a1"),
        message(clock, "a-u1", userId="u1"),
        message(clock, "a-u2-1", userId="u2"),
        message(clock, "a-u2-2", userId="u2"),
    )
    add(
        store,
        b,
        message(clock, "b-u1", userId="u1"),
        message(clock, "b-anon", anonymousId="a1"),
    )
    resolve_profiles(store)
    return a, b


def erase(store: Store, workspace_id: str, any_id: str) -> None:
    view = store.find_profile(workspace_id, any_id)
    assert view is not None
    store.erase_profile(workspace_id, view.profile.id)


def test_erasure_removes_only_that_customer_in_that_workspace(
    store: Store, clock: ManualClock, loader: WarehouseLoader
) -> None:
    a, b = two_customers_in_two_workspaces(store, clock)
    assert loader.drain() == 7

    erase(store, a, "u1")
    assert loader.apply_erasures() == 3
    assert loaded(loader.warehouse, a) == ["a-u2-1", "a-u2-2"]
    assert loaded(loader.warehouse, b) == ["b-u1", "b-anon"]
    assert store.pending_erasures() == []
    assert loader.apply_erasures() == 0


def test_each_step_applies_pending_erasures(
    store: Store, clock: ManualClock, loader: WarehouseLoader
) -> None:
    a, _ = two_customers_in_two_workspaces(store, clock)
    loader.drain()
    erase(store, a, "u1")
    assert loader.step() == 0
    assert loaded(loader.warehouse, a) == ["a-u2-1", "a-u2-2"]
    assert store.pending_erasures() == []


def test_events_erased_before_loading_never_arrive(
    store: Store, clock: ManualClock, loader: WarehouseLoader
) -> None:
    a, b = two_customers_in_two_workspaces(store, clock)
    erase(store, a, "u1")
    assert loader.drain() == 4
    assert loaded(loader.warehouse, a) == ["a-u2-1", "a-u2-2"]
    assert loaded(loader.warehouse, b) == ["b-u1", "b-anon"]


def test_an_erasure_waits_for_a_load_in_progress(
    store: Store, clock: ManualClock, loader: WarehouseLoader, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The load read u1's events before the erasure; they must not survive it."""
    a, _ = two_customers_in_two_workspaces(store, clock)
    read_inbox = store.read_inbox
    erasing: list[threading.Thread] = []
    deleted: list[int] = []

    def read_then_erase(after: Cursor, limit: int) -> list[Any]:
        events = read_inbox(after, limit)
        if events and not erasing:
            erase(store, a, "u1")  # an API thread erases while the batch is in flight
            thread = threading.Thread(target=lambda: deleted.append(loader.apply_erasures()))
            erasing.append(thread)
            thread.start()
            thread.join(0.5)  # let it run now, if nothing holds it back
        return events

    monkeypatch.setattr(store, "read_inbox", read_then_erase)
    assert loader.step() == 7
    erasing[0].join()
    assert deleted == [3]
    assert loaded(loader.warehouse, a) == ["a-u2-1", "a-u2-2"]


# -- the report command ----------------------------------------------------------------------


@pytest.fixture
def embedded(tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A data dir with workspace "shop", three events loaded into its DuckDB warehouse."""
    for name in ("WAYLINE_DATABASE_URL", "WAYLINE_WAREHOUSE_URL", "WAYLINE_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(data_dir=tmp_path / "data")
    store = open_store(settings, clock)
    store.migrate()
    ws = store.create_workspace("shop").workspace.id
    add(
        store,
        ws,
        message(clock, "t1", timestamp=at("2026-01-01T10:00:00")),
        message(clock, "t2", timestamp=at("2026-01-01T11:00:00")),
        message(clock, "p1", type="page", timestamp=at("2026-01-02T09:00:00")),
    )
    warehouse = open_warehouse(settings)
    try:
        WarehouseLoader(store, warehouse, batch_size=100).drain()
    finally:
        warehouse.close()
        store.close()
    return settings


def test_report_events_per_day(embedded: Settings) -> None:
    args = ["report", "events-per-day", "--workspace", "shop", "--data-dir", str(embedded.data_dir)]
    as_json = CliRunner().invoke(app, [*args, "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout) == [
        {"day": "2026-01-01", "type": "track", "events": 2},
        {"day": "2026-01-02", "type": "page", "events": 1},
    ]
    table = CliRunner().invoke(app, args)
    assert table.exit_code == 0, table.output
    assert "2026-01-02" in table.stdout
    assert "page" in table.stdout


def test_report_on_an_unknown_workspace_fails(embedded: Settings) -> None:
    result = CliRunner().invoke(
        app,
        ["report", "events-per-day", "--workspace", "nope", "--data-dir", str(embedded.data_dir)],
    )
    assert result.exit_code != 0
    assert isinstance(result.exception, WorkspaceNotFound)


_HOLD_WAREHOUSE = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
print("ready", flush=True)
sys.stdin.read()
"""


def test_report_while_serve_holds_the_warehouse_is_a_one_line_error(embedded: Settings) -> None:
    path = embedded.resolved_warehouse_url().removeprefix("duckdb:///")
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_WAREHOUSE, path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(WarehouseLocked):
            open_warehouse(embedded)
        report = subprocess.run(
            [
                sys.executable,
                "-c",
                "from wayline.cli import main; main()",
                *("report", "events-per-day", "--workspace", "shop"),
                *("--data-dir", str(embedded.data_dir)),
            ],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "COLUMNS": "1000"},  # so that the terminal does not wrap it
        )
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()
    assert report.returncode == 1
    assert "Traceback" not in report.stderr
    assert "another process" in report.stderr
    assert len(report.stderr.strip().splitlines()) == 1
