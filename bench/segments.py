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

import orjson
import sqlalchemy as sa

from wayline.analytics.warehouse import open_warehouse
from wayline.events import EventRow, parse_message
from wayline.profiles import process_inbox
from wayline.segments.batch import evaluate_warehouse
from wayline.segments.consumer import SegmentConsumer
from wayline.segments.lifecycle import apply_segments
from wayline.segments.loading import read_segment_text
from wayline.settings import Settings
from wayline.store import open_store, schema
from wayline.store.base import Cursor
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


def batch_seconds(
    db: Database, profiles: int, events: int, root: Path
) -> tuple[float, dict[str, int]]:
    """Seconds to evaluate the 10 batch segments afresh over the warehouse."""
    clock = ManualClock(NOW)
    settings = Settings(data_dir=root, database_url=db.url("batch"))
    store = open_store(settings, clock)
    assert isinstance(store, SqlStore)
    warehouse = open_warehouse(settings)
    try:
        store.migrate()
        workspace = store.create_workspace("bench").workspace.id
        rng = random.Random(2)
        with store._write() as conn:
            for start in range(0, profiles, 10_000):
                ids = range(start, min(profiles, start + 10_000))
                conn.execute(
                    sa.insert(schema.profiles),
                    [
                        {
                            "id": f"p{i}",
                            "workspace_id": workspace,
                            "traits": orjson.dumps({"plan": rng.choice(["free", "pro"])}).decode(),
                            "trait_times": "{}",
                            "created_at": NOW,
                            "updated_at": NOW,
                        }
                        for i in ids
                    ],
                )
                conn.execute(
                    sa.insert(schema.identities),
                    [
                        {
                            "workspace_id": workspace,
                            "kind": "user_id",
                            "value": f"u{i}",
                            "profile_id": f"p{i}",
                            "first_seen": NOW,
                        }
                        for i in ids
                    ],
                )
        seq = 0
        for start in range(0, events, 200_000):
            n = min(200_000, events - start)
            names = [rng.choice(NAMES) for _ in range(n)]
            columns = {
                "workspace_id": [workspace] * n,
                "seq": list(range(seq + 1, seq + n + 1)),
                "message_id": [f"w{seq + i}" for i in range(n)],
                "type": ["track"] * n,
                "event": names,
                "user_id": [f"u{rng.randrange(profiles)}" for _ in range(n)],
                "anonymous_id": [None] * n,
                "timestamp": [NOW - timedelta(seconds=rng.randrange(90 * 86400)) for _ in range(n)],
                "received_at": [NOW] * n,
                "properties": [
                    f'{{"total": {rng.choice([20, 80, 250])}}}'
                    if name == "Order Completed"
                    else "{}"
                    for name in names
                ],
                "context": [None] * n,
                "traits": [None] * n,
                "payload": ["{}"] * n,
            }
            seq += n
            with warehouse.load() as batch:
                batch.append(columns, Cursor(txid=0, seq=seq))
        # stored without filling them, so that only the batch evaluation is timed
        with store._write() as conn:
            for segment in _segments(BATCH):
                SegmentStore(store).save(conn, workspace, segment, NOW)
        started = time.perf_counter()
        members = evaluate_warehouse(store, warehouse, workspace, NOW)
        return time.perf_counter() - started, {k: len(v) for k, v in members.items()}
    finally:
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
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="wayline-bench-segments-"))
    try:
        db = Database(args.backend, root)
        rows = track_events(args.customers, args.events)
        without = ingest_rate(db, rows, 0, root)
        with_live = ingest_rate(db, rows, 20, root)
        seconds, sizes = batch_seconds(db, args.profiles, args.warehouse_events, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    cost = 1 - with_live / without
    print(f"| measurement ({args.backend}) | result | goal |")
    print("|---|---|---|")
    print(
        f"| ingest, {args.events:,} events, {args.customers:,} customers, 0 segments "
        f"| {without:,.0f} events/s | |"
    )
    print(f"| ingest, same events, 20 live segments | {with_live:,.0f} events/s | |")
    print(f"| cost of 20 live segments | {cost:.0%} | < 20% |")
    print(
        f"| batch, 10 segments, {args.profiles:,} profiles, {args.warehouse_events:,} events "
        f"| {seconds:.1f} s | < 10 s at 1M / 20M |"
    )
    print("| batch sizes | " + ", ".join(f"{k} {v:,}" for k, v in sizes.items()) + " | |")


if __name__ == "__main__":
    main()
