"""What an erase costs the embedded warehouse: deleting a customer's events, then the
compaction that makes their values unrecoverable from the DuckDB file.

    .venv/bin/python bench/erase.py [--events 1000000] [--customers 100000]

A DuckDB warehouse file is generated with SQL, straight into the ``events`` table (each
event a ``track`` call of a few hundred bytes with properties, context and payload), and
checkpointed. Then one customer's events are deleted (what the loader does for an erase)
and the file compacted (copied to a fresh file and swapped in), each timed once, with the
file's size before and after. The loader compacts at most once per
``WAYLINE_WAREHOUSE_COMPACT_MINUTES``, however many erasures fell in between.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from harness import log, machine_summary, revision

from wayline.analytics.warehouse_duckdb import DuckDBWarehouse

GENERATE = """
INSERT INTO events
SELECT 'bench', i, 'm' || i, 'track', 'Product Viewed',
       'user-' || (i % $customers), 'anon-' || (i % $customers),
       TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(i),
       TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_seconds(i),
       json_object('sku', 'sku-' || (i % 5000), 'price', i % 97),
       json_object('page', json_object('url', 'https://shop.example.com/p/' || (i % 5000))),
       NULL,
       json_object('type', 'track', 'event', 'Product Viewed', 'messageId', 'm' || i,
                   'userId', 'user-' || (i % $customers),
                   'properties', json_object('sku', 'sku-' || (i % 5000), 'price', i % 97))
FROM range($events) t(i)
"""


def _size(path: Path) -> str:
    return f"{path.stat().st_size / 2**20:.0f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "warehouse.duckdb"
        warehouse = DuckDBWarehouse(str(path))
        log(f"generating {args.events:,} events")
        writer = warehouse._writer
        writer.execute(GENERATE, {"events": args.events, "customers": args.customers})
        writer.execute("CHECKPOINT").fetchall()
        before = _size(path)
        started = time.perf_counter()
        deleted = warehouse.delete_events("bench", ["user-42"], ["anon-42"])
        delete_s = time.perf_counter() - started
        started = time.perf_counter()
        warehouse.compact()
        compact_s = time.perf_counter() - started
        after = _size(path)
        (count,) = warehouse._writer.execute("SELECT count(*) FROM events").fetchone() or (0,)
        warehouse.close()
    print(f"{revision()} · {machine_summary(None)}")
    print()
    print("| events | customer's events deleted | delete | compaction | file before | after |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {count + deleted:,} | {deleted} | {delete_s * 1000:.0f} ms | {compact_s:.1f} s "
        f"| {before} | {after} |"
    )


if __name__ == "__main__":
    main()
