"""The cost of real-time stages: placing every customer when a model is applied, and the
stage tracker keeping up with events.

    .venv/bin/python bench/stages.py [--customers 5000] [--events 50000]
        [--database-url postgresql+psycopg://…]

History: ``--events`` e-commerce track events over ``--customers`` customers go into a fresh
store (SQLite in a temporary directory by default) and the profile consumer catches up.
Then the ``ecommerce`` preset is applied: every customer is placed from history (timed).
Live: as many events again are appended, the profile consumer catches up (not timed), and
the stage tracker is run until it has caught up and announced every change (timed).
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from wayline.analytics.stage_model import PRESETS
from wayline.events import EventRow, parse_message
from wayline.profiles import process_inbox
from wayline.settings import Settings
from wayline.stages.lifecycle import apply_stage_model
from wayline.stages.tracker import StageTracker
from wayline.store import open_store
from wayline.store.sql import SqlStore
from wayline.testing import ManualClock

START = datetime(2026, 1, 1, tzinfo=UTC)
#: Events and how often each comes, roughly a shop's funnel.
MIX = (
    ("Page Viewed", 40),
    ("Product Viewed", 30),
    ("Product Added", 12),
    ("Checkout Started", 8),
    ("Order Completed", 7),
    ("Product Reviewed", 3),
)


def events(customers: int, count: int, offset: int, rng: random.Random) -> list[EventRow]:
    names = [n for n, _ in MIX]
    weights = [w for _, w in MIX]
    rows = []
    for i in range(count):
        at = START + timedelta(seconds=(offset + i) * 60)
        rows.append(
            parse_message(
                {
                    "type": "track",
                    "userId": f"u{rng.randrange(customers)}",
                    "event": rng.choices(names, weights)[0],
                    "messageId": f"m{offset + i}",
                    "timestamp": at.isoformat(),
                    "properties": {"order_id": f"o{offset + i}"},
                },
                received_at=at,
            )
        )
    return rows


def append(store: SqlStore, workspace: str, rows: list[EventRow]) -> None:
    for start in range(0, len(rows), 500):
        store.append_events(workspace, rows[start : start + 500])
    while process_inbox(store, 2000):
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    rng = random.Random(7)
    tmp = Path(tempfile.mkdtemp(prefix="wayline-bench-stages-"))
    try:
        url = args.database_url or f"sqlite:///{tmp / 'wayline.db'}"
        clock = ManualClock(START + timedelta(days=400))
        store = open_store(Settings(data_dir=tmp, database_url=url), clock)
        assert isinstance(store, SqlStore)
        store.migrate()
        workspace = store.create_workspace("bench").workspace.id
        append(store, workspace, events(args.customers, args.events, 0, rng))
        tracker = StageTracker(store, clock)
        while tracker.step():  # nothing to place yet: the cursor moves past history
            pass
        began = time.perf_counter()
        applied = apply_stage_model(store, clock, workspace, PRESETS["ecommerce"].text)
        fill = time.perf_counter() - began
        append(store, workspace, events(args.customers, args.events, args.events, rng))
        began = time.perf_counter()
        announced = 0
        while done := tracker.step():
            announced += done
        live = time.perf_counter() - began
        print("| part | size | seconds | rate |")
        print("|---|---|---|---|")
        print(
            f"| apply (place from history) | {applied.placed} customers, {args.events} events "
            f"| {fill:.2f} | {applied.placed / fill:,.0f} customers/s |"
        )
        print(
            f"| tracker (live) | {args.events} events | {live:.2f} "
            f"| {args.events / live:,.0f} events/s |"
        )
        store.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
