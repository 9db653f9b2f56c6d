"""The cost of real-time segment membership, and batch evaluation over the warehouse.

    .venv/bin/python bench/segments.py [--backend sqlite|postgresql]
        [--events 40000] [--customers 4000]              # the ingest part
        [--profiles 20000] [--warehouse-events 400000]   # the batch part

Ingest: the same pre-validated track events go into a fresh store twice, once with no
segment and once with 20 live segments (windows, counts, filters, sequences, traits,
references). The consumers that follow ingestion (profiles, then segments) are run until
they have caught up; events/s is counted from the first append to the moment both have
caught up. The cost of real-time membership is how much lower the rate with 20 segments is
(goal: under 20%). The HTTP layer is left out: it does not change with segments.

Batch: ``--profiles`` customers and ``--warehouse-events`` events are written straight into
the state store (profiles, identities) and a DuckDB warehouse, then 10 segments are
evaluated afresh over them with ``wayline.segments.batch.evaluate_warehouse`` (goal: 1M
profiles and 20M events in under 10 s).

Only 127.0.0.1 is contacted (PostgreSQL, when chosen).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import sqlalchemy as sa

from wayline.analytics.warehouse import open_warehouse
from wayline.events import EventRow, parse_message
from wayline.profiles import process_inbox
from wayline.segments.batch import evaluate_warehouse
from wayline.segments.consumer import SegmentConsumer
from wayline.segments.lifecycle import apply_segments
from wayline.segments.loading import read_segment_text
from wayline.settings import Settings
from wayline.store import open_store
from wayline.store.segments import SEGMENTS_CONSUMER, SegmentStore
from wayline.store.sql import SqlStore
from wayline.testing import ManualClock

PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
NOW = datetime(2026, 6, 1, tzinfo=UTC)
NAMES = ("Product Viewed", "Product Added", "Order Completed", "Email Link Clicked", "Signed In")

#: Twenty segments of every kind, for the ingest run.
LIVE = {
    "active-7d": "{event: Product Viewed, within: 7d}",
    "active-1d": "{event: Signed In, within: 1d}",
    "buyers": "{event: Order Completed}",
    "repeat-30d": "{event: Order Completed, at_least: 2, within: 30d}",
    "big-order": "{event: Order Completed, where: {properties.total: {gte: 200}}}",
    "few-orders": "{event: Order Completed, at_most: 1, within: 30d}",
    "clickers": "{event: Email Link Clicked, at_least: 3, within: 14d}",
    "never-ordered": "{not: {event: Order Completed}}",
    "lapsed": "{event: Order Completed, last: {older_than: 30d}}",
    "early": "{event: Order Completed, first: {older_than: 60d}}",
    "view-add": (
        "{sequence: {steps: [{event: Product Viewed}, {event: Product Added}], within: 1h}}"
    ),
    "funnel": (
        "{sequence: {steps: [{event: Product Viewed}, {event: Product Added}, "
        "{event: Order Completed}], within: 1d}}"
    ),
    "pro": "{trait: plan, eq: pro}",
    "dach": "{trait: country, in: [DE, AT, CH]}",
    "rich": "{trait: lifetime_revenue, gt: 200}",
    "old": "{trait: created_at, older_than: 180d}",
    "opted-in": "{subscription: email, status: opted_in}",
    "rich-dach": "{all: [{segment: rich}, {segment: dach}]}",
    "abandoners": "{all: [{segment: view-add}, {not: {event: Order Completed, within: 2d}}]}",
    "engaged": "{any: [{segment: active-7d}, {segment: clickers}]}",
}
#: Ten segments for the batch run.
BATCH = dict(list(LIVE.items())[:10])


def _segments(defs: dict[str, str]) -> list[Any]:
    return [read_segment_text(f"id: {k}\nwhere: {v}\n").segment for k, v in defs.items()]


class Database:
    """A fresh store per run: a SQLite file, or a new PostgreSQL database."""

    def __init__(self, backend: str, root: Path) -> None:
        self.backend, self.root, self.name = backend, root, ""

    def url(self, tag: str) -> str:
        if self.backend == "sqlite":
            return f"sqlite:///{self.root / f'{tag}.db'}"
        self.name = f"bench_segments_{tag}_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(
            PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"),
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
        admin.dispose()
        return sa.make_url(PG_ADMIN_URL).set(database=self.name).render_as_string(False)

    def drop(self) -> None:
        if self.backend == "postgresql" and self.name:
            admin = sa.create_engine(
                PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"),
                isolation_level="AUTOCOMMIT",
            )
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            admin.dispose()


def track_events(customers: int, events: int, seed: int = 1) -> list[EventRow]:
    rng = random.Random(seed)
    rows = []
    for i in range(customers):
        traits = {
            "plan": rng.choice(["free", "pro"]),
            "country": rng.choice(["DE", "AT", "FR", "US"]),
            "lifetime_revenue": rng.randint(0, 500),
            "created_at": (NOW - timedelta(days=rng.randint(0, 400))).isoformat(),
        }
        rows.append({"type": "identify", "userId": f"u{i}", "traits": traits})
    for _ in range(events - customers):
        name = rng.choice(NAMES)
        message: dict[str, Any] = {
            "type": "track",
            "userId": f"u{rng.randrange(customers)}",
            "event": name,
            "timestamp": (NOW - timedelta(seconds=rng.randrange(90 * 86400))).isoformat(),
        }
        if name == "Order Completed":
            message["properties"] = {"total": rng.choice([20, 80, 250])}
        rows.append(message)
    return [parse_message({**m, "messageId": f"e{i}"}, received_at=NOW) for i, m in enumerate(rows)]


def ingest_rate(db: Database, rows: list[EventRow], live: int, root: Path) -> float:
    """Events/s through append + profiles + segments with ``live`` segments."""
    clock = ManualClock(NOW)
    store = open_store(Settings(data_dir=root, database_url=db.url(f"ingest{live}")), clock)
    assert isinstance(store, SqlStore)
    try:
        store.migrate()
        workspace = store.create_workspace("bench").workspace.id
        if live:
            apply_segments(store, clock, workspace, _segments(dict(list(LIVE.items())[:live])))
        consumer = SegmentConsumer(store, clock)
        started = time.perf_counter()
        for start in range(0, len(rows), 500):
            store.append_events(workspace, rows[start : start + 500])
            # the consumers run beside ingestion, as in ``wayline serve``
            process_inbox(store, 2000)
            consumer.step()
        while process_inbox(store, 2000) or store.profiles_lag():
            pass
        while consumer.step() or _segments_lag(store):
            pass
        return len(rows) / (time.perf_counter() - started)
    finally:
        store.close()
        db.drop()


def _segments_lag(store: SqlStore) -> int:
    with store.engine.connect() as conn:
        cursor = store._cursor(conn, SEGMENTS_CONSUMER)
    return store.inbox_after(cursor)


def _fill_store(store: SqlStore, workspace: str, profiles: int) -> None:
    """``profiles`` customers (``p{i}``, known by user id ``u{i}``) straight into the store,
    with the driver's bulk path: executemany on SQLite, COPY on PostgreSQL."""
    rng = random.Random(2)

    def rows() -> Any:
        for i in range(profiles):
            created = (NOW - timedelta(days=rng.randrange(400))).date().isoformat()
            traits = (
                f'{{"plan": "{rng.choice(["free", "pro"])}", '
                f'"country": "{rng.choice(["DE", "AT", "FR", "US"])}", '
                f'"lifetime_revenue": {rng.randrange(500)}, "created_at": "{created}"}}'
            )
            yield f"p{i}", traits, f"u{i}"

    stamp = NOW.isoformat()
    with store.engine.begin() as conn:
        driver: Any = conn.connection.driver_connection
        if store.engine.dialect.name == "sqlite":
            made = list(rows())
            driver.executemany(
                "INSERT INTO profiles (id, workspace_id, traits, trait_times, created_at,"
                " updated_at) VALUES (?, ?, ?, '{}', ?, ?)",
                ((p, workspace, t, stamp, stamp) for p, t, _ in made),
            )
            driver.executemany(
                "INSERT INTO identities (workspace_id, kind, value, profile_id, first_seen)"
                " VALUES (?, 'user_id', ?, ?, ?)",
                ((workspace, u, p, stamp) for p, _, u in made),
            )
            return
        with driver.cursor() as cur:
            made = list(rows())
            copy_profiles = (
                "COPY profiles (id, workspace_id, traits, trait_times, created_at, updated_at)"
                " FROM STDIN"
            )
            with cur.copy(copy_profiles) as copy:
                for p, t, _ in made:
                    copy.write_row((p, workspace, t, "{}", NOW, NOW))
            copy_ids = (
                "COPY identities (workspace_id, kind, value, profile_id, first_seen) FROM STDIN"
            )
            with cur.copy(copy_ids) as copy:
                for p, _, u in made:
                    copy.write_row((workspace, "user_id", u, p, NOW))


def _fill_warehouse(path: Path, workspace: str, profiles: int, events: int) -> None:
    """``events`` track events over 90 days, generated by DuckDB itself into the file."""
    names = "[" + ", ".join(f"'{n}'" for n in NAMES) + "]"
    with duckdb.connect(str(path)) as db:
        db.execute("SELECT setseed(0.5)")
        db.execute(
            f"""
            INSERT INTO events
            SELECT $ws, i, 'w' || i, 'track', name, 'u' || (hash(i) % $profiles), NULL,
                   $now::TIMESTAMPTZ - to_seconds((random() * 90 * 86400)::BIGINT),
                   $now::TIMESTAMPTZ,
                   CASE WHEN name = 'Order Completed'
                        THEN '{{"total": ' || [20, 80, 250][1 + (hash(i + 1) % 3)::BIGINT] || '}}'
                        ELSE '{{}}' END,
                   NULL, NULL, '{{}}'
            FROM (SELECT i, {names}[1 + (hash(i * 7) % {len(NAMES)})::BIGINT] AS name
                  FROM range(1, $events + 1) AS r(i))
            """,
            {"ws": workspace, "profiles": profiles, "now": NOW, "events": events},
        )


def batch_seconds(
    db: Database, profiles: int, events: int, root: Path
) -> tuple[float, float, dict[str, int]]:
    """Seconds to write the data, and to evaluate the 10 batch segments afresh over it."""
    clock = ManualClock(NOW)
    settings = Settings(data_dir=root, database_url=db.url("batch"))
    store = open_store(settings, clock)
    assert isinstance(store, SqlStore)
    warehouse = None
    try:
        store.migrate()
        workspace = store.create_workspace("bench").workspace.id
        writing = time.perf_counter()
        _fill_store(store, workspace, profiles)
        open_warehouse(settings).close()  # creates the tables
        _fill_warehouse(root / "warehouse.duckdb", workspace, profiles, events)
        written = time.perf_counter() - writing
        warehouse = open_warehouse(settings)
        # libraries loaded and the connection opened before timing, as in a running server
        warehouse.execute(warehouse.table("events").count())
        pa.array(["warm"])
        # stored without filling them, so that only the batch evaluation is timed
        with store._write() as conn:
            for segment in _segments(BATCH):
                SegmentStore(store).save(conn, workspace, segment, NOW)
        started = time.perf_counter()
        members = evaluate_warehouse(store, warehouse, workspace, NOW)
        seconds = time.perf_counter() - started
        return written, seconds, {k: len(v) for k, v in members.items()}
    finally:
        if warehouse is not None:
            warehouse.close()
        store.close()
        db.drop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--customers", type=int, default=4_000)
    parser.add_argument("--profiles", type=int, default=20_000)
    parser.add_argument("--warehouse-events", type=int, default=400_000)
    parser.add_argument("--only", choices=("ingest", "batch"), help="run one part only")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="wayline-bench-segments-"))
    try:
        db = Database(args.backend, root)
        if args.only != "batch":
            rows = track_events(args.customers, args.events)
            without = ingest_rate(db, rows, 0, root)
            with_live = ingest_rate(db, rows, 20, root)
        if args.only != "ingest":
            written, seconds, sizes = batch_seconds(db, args.profiles, args.warehouse_events, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"| measurement ({args.backend}) | result | goal |")
    print("|---|---|---|")
    if args.only != "batch":
        _print_ingest(args, without, with_live)
    if args.only != "ingest":
        print(
            f"| batch, 10 segments, {args.profiles:,} profiles, "
            f"{args.warehouse_events:,} events | {seconds:.1f} s | < 10 s at 1M / 20M |"
        )
        print(f"| (writing that data, not timed above) | {written:.0f} s | |")
        print("| batch sizes | " + ", ".join(f"{k} {v:,}" for k, v in sizes.items()) + " | |")


def _print_ingest(args: argparse.Namespace, without: float, with_live: float) -> None:
    cost = 1 - with_live / without
    print(
        f"| ingest, {args.events:,} events, {args.customers:,} customers, 0 segments "
        f"| {without:,.0f} events/s | |"
    )
    print(f"| ingest, same events, 20 live segments | {with_live:,.0f} events/s | |")
    print(f"| cost of 20 live segments | {cost:.0%} | < 20% |")


if __name__ == "__main__":
    main()
