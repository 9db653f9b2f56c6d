"""Journey engine throughput, latency and memory, on SQLite and PostgreSQL.

    .venv/bin/python bench/journeys.py [--backends sqlite,postgresql] [--quick] [--markdown]

For each backend, on fresh stores:

* **node transitions/s**: ``--instances`` customers are made due at once (one committed
  insert) at the start of a five-node journey (branch, send, branch, split, exit), while
  ``wayline serve --role worker`` processes (1, 2 and 4 on PostgreSQL; 1 on SQLite) run;
  transitions are the trace steps the workers record, divided by the time until every
  customer is done.
* **journey entries/s**: ``--entries`` ``Product Added`` events already resolved to their
  customers wait in the inbox; the trigger consumer enrols them into an event-triggered
  journey (filter and correlation key) as fast as it can.
* **event → outbox latency**: a real ``wayline serve`` (every role) gets ``Ping`` events
  over HTTP at a steady, open-loop rate (1,000 and 5,000 events/s, ``--seconds`` long); a
  journey queues a message for each; latency runs from when each event was due to be sent
  to when its outbox row was written.
* **memory**: the resident set of ``wayline serve`` (every role) with 10,000 and with
  1,000,000 customers waiting in a journey (a week-long wait for an event).

Every figure is printed in one table with the goal beside it. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import sqlalchemy as sa
from harness import (
    WAYLINE,
    Keys,
    Server,
    Target,
    Targets,
    create_workspace,
    log,
    machine_summary,
    percentile,
    postgres_available,
    revision,
    settle,
)

STEPS_JOURNEY = """
id: bench-steps
entry: {api: true}
re_entry: {policy: always}
nodes:
  - {id: plan, type: branch, branches: [{when: {where: {traits.plan: pro}}, next: hello}],
     default: hello}
  - {id: hello, type: send, channel: log, template: hello, next: country}
  - {id: country, type: branch, branches: [{when: {where: {traits.country: DE}}, next: test}],
     default: test}
  - {id: test, type: split, variants: {a: 50, b: 50}, next: {a: done, b: done}}
  - {id: done, type: exit}
"""
ENTRY_JOURNEY = """
id: bench-cart
entry:
  event: Product Added
  where: {properties.price: {gte: 10}}
  key: properties.cart_id
re_entry: {policy: always}
nodes:
  - id: wait_order
    type: wait_for_event
    event: Order Completed
    match_key: properties.cart_id
    timeout: 7d
    on_event: done
    on_timeout: done
  - {id: done, type: exit}
"""
PING_JOURNEY = """
id: bench-ping
entry: {event: Ping}
re_entry: {policy: always}
nodes:
  - {id: pong, type: send, channel: log, template: pong, next: done}
  - {id: done, type: exit}
"""
#: Rows per insert statement when filling tables.
FILL_CHUNK = 10_000
#: How long the workers may take over the instances of one transitions run before the
#: benchmark gives up on it (a stuck worker must not hang the run).
TRANSITIONS_TIMEOUT = 1800.0


# -- stores ---------------------------------------------------------------------------------


def sa_url(target: Target) -> str:
    if target.database_url:
        return target.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    return f"sqlite:///{target.sqlite_path}"


@contextlib.contextmanager
def engine_of(target: Target) -> Iterator[sa.Engine]:
    engine = sa.create_engine(sa_url(target), poolclass=sa.NullPool)
    try:
        yield engine
    finally:
        engine.dispose()


def apply_journey(target: Target, keys: Keys, text: str) -> None:
    path = target.data_dir / "journey.yaml"
    path.write_text(text)
    subprocess.run(
        [
            WAYLINE,
            "journeys",
            "apply",
            str(path),
            "--data-dir",
            str(target.data_dir),
            "--workspace",
            keys.workspace_id,
        ],
        env=target.env(),
        capture_output=True,
        check=True,
        timeout=120,
    )


def fill_instances(
    target: Target, keys: Keys, journey: str, node: str, count: int, *, waiting: bool
) -> None:
    """Insert ``count`` instances at ``node``: due now, or waiting a week for an order."""
    now = datetime.now(UTC)
    wake = now + timedelta(days=7) if waiting else now - timedelta(seconds=1)
    i = sa.table(
        "journey_instances",
        *(
            sa.column(c)
            for c in (
                "id",
                "workspace_id",
                "journey_id",
                "version",
                "profile_id",
                "entry_key",
                "node",
                "state",
                "outcome",
                "wake_at",
                "context",
                "entered_at",
                "updated_at",
            )
        ),
    )
    w = sa.table(
        "journey_waits",
        *(
            sa.column(c)
            for c in ("instance_id", "kind", "event", "workspace_id", "key_path", "key_value")
        ),
    )
    with engine_of(target) as engine, engine.begin() as conn:
        first = int(conn.scalar(sa.select(sa.func.coalesce(sa.func.max(i.c.id), 0))) or 0) + 1
        for start in range(0, count, FILL_CHUNK):
            ids = range(first + start, first + min(count, start + FILL_CHUNK))
            conn.execute(
                sa.insert(i),
                [
                    {
                        "id": n,
                        "workspace_id": keys.workspace_id,
                        "journey_id": journey,
                        "version": 1,
                        "profile_id": f"p{n}",
                        "entry_key": f"cart-{n}" if waiting else "",
                        "node": node,
                        "state": "waiting" if waiting else "ready",
                        "outcome": None,
                        "wake_at": wake,
                        "context": orjson.dumps({"key": f"cart-{n}"}).decode(),
                        "entered_at": now,
                        "updated_at": now,
                    }
                    for n in ids
                ],
            )
            if waiting:
                conn.execute(
                    sa.insert(w),
                    [
                        {
                            "instance_id": n,
                            "kind": "wait",
                            "event": "Order Completed",
                            "workspace_id": keys.workspace_id,
                            "key_path": "properties.cart_id",
                            "key_value": f"cart-{n}",
                        }
                        for n in ids
                    ],
                )
        if target.database_url:  # the serial behind journey_instances.id must move on
            conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('journey_instances', 'id'), "
                "(SELECT max(id) FROM journey_instances))"
            )
            conn.exec_driver_sql("ANALYZE journey_instances")


def count(target: Target, query: str) -> int:
    with engine_of(target) as engine, engine.connect() as conn:
        return int(conn.exec_driver_sql(query).scalar() or 0)


# -- node transitions -----------------------------------------------------------------------


@dataclass
class TransitionRun:
    workers: int
    instances: int
    steps: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.steps / self.seconds if self.seconds else 0.0


def run_transitions(targets: Targets, backend: str, workers: int, instances: int) -> TransitionRun:
    target = targets.fresh(backend, f"steps-{workers}")
    try:
        keys = create_workspace(target)
        apply_journey(target, keys, STEPS_JOURNEY)
        log_file = (target.data_dir / "workers.log").open("wb")
        procs = [
            subprocess.Popen(
                [WAYLINE, "serve", "--data-dir", str(target.data_dir), "--role", "worker"],
                env=target.env(),
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
            for _ in range(workers)
        ]
        try:
            time.sleep(3.0)  # the workers have started and found nothing to do
            settle(30)
            fill_instances(target, keys, "bench-steps", "plan", instances, waiting=False)
            start = time.monotonic()
            deadline = start + TRANSITIONS_TIMEOUT
            left = instances
            while left:
                if any(p.poll() is not None for p in procs):
                    raise RuntimeError(f"a worker exited: see {target.data_dir}/workers.log")
                if time.monotonic() >= deadline:
                    raise RuntimeError(
                        f"{left} of {instances} instances still not done after "
                        f"{TRANSITIONS_TIMEOUT:g} s: see {target.data_dir}/workers.log"
                    )
                time.sleep(0.2)
                left = count(target, "SELECT count(*) FROM journey_instances WHERE state <> 'done'")
            seconds = time.monotonic() - start
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(30)
            log_file.close()
        steps = count(target, "SELECT count(*) FROM journey_steps")
        return TransitionRun(workers, instances, steps, seconds)
    finally:
        targets.drop(target)


# -- entries --------------------------------------------------------------------------------


@dataclass
class EntryRun:
    events: int
    entered: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.entered / self.seconds if self.seconds else 0.0


def run_entries(targets: Targets, backend: str, events: int) -> EntryRun:
    from wayline.clock import SystemClock
    from wayline.engine.loops import journey_runtime
    from wayline.events import parse_message
    from wayline.settings import Settings
    from wayline.store import open_store
    from wayline.store.sql import SqlStore
    from wayline.testing import drain_profiles

    target = targets.fresh(backend, "entries")
    try:
        keys = create_workspace(target)
        apply_journey(target, keys, ENTRY_JOURNEY)
        store = open_store(Settings(database_url=sa_url(target).replace("+psycopg", "")))
        assert isinstance(store, SqlStore)
        try:
            now = datetime.now(UTC)
            for start in range(0, events, 1000):
                store.append_events(
                    keys.workspace_id,
                    [
                        parse_message(
                            {
                                "type": "track",
                                "userId": f"u{n}",
                                "event": "Product Added",
                                "messageId": f"e{n}",
                                "properties": {"cart_id": f"cart-{n}", "price": 10 + n % 90},
                            },
                            received_at=now,
                        )
                        for n in range(start, min(events, start + 1000))
                    ],
                )
            drain_profiles(store, timeout=600)
            runtime = journey_runtime(store, SystemClock(), refresh=60)
            settle(30)
            start_at = time.perf_counter()
            while runtime.triggers.step():
                pass
            seconds = time.perf_counter() - start_at
        finally:
            store.close()
        entered = count(target, "SELECT count(*) FROM journey_instances")
        return EntryRun(events, entered, seconds)
    finally:
        targets.drop(target)


# -- latency --------------------------------------------------------------------------------


@dataclass
class LatencyRun:
    rate: int
    sent: int
    offered: float
    queued: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0

    def p(self, q: float) -> float:
        return percentile(self.latencies, q)


async def _paced_pings(
    url: str, keys: Keys, rate: int, seconds: float
) -> tuple[dict[str, float], int]:
    """Send ``Ping`` events in batches every 50 ms, open loop; return when each was due."""
    per_tick, tick = max(1, rate // 20), 0.05
    due: dict[str, float] = {}
    errors = 0
    limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
    async with httpx.AsyncClient(
        base_url=url, auth=(keys.write_key, ""), limits=limits, timeout=30
    ) as client:

        async def post(batch: list[dict[str, Any]]) -> None:
            nonlocal errors
            try:
                r = await client.post("/v1/batch", content=orjson.dumps({"batch": batch}))
                errors += r.status_code != 200
            except httpx.HTTPError:
                errors += len(batch)

        loop = asyncio.get_running_loop()
        begin = loop.time() + 0.2
        wall = time.time() - loop.time()
        tasks = []
        n = 0
        for t in range(int(seconds / tick)):
            at = begin + t * tick
            await asyncio.sleep(max(0.0, at - loop.time()))
            batch = []
            for _ in range(per_tick):
                message = f"ping-{n}"
                batch.append(
                    {"type": "track", "event": "Ping", "userId": f"u{n}", "messageId": message}
                )
                due[message] = wall + at
                n += 1
            tasks.append(asyncio.create_task(post(batch)))
        await asyncio.gather(*tasks)
    return due, errors


def run_latency(targets: Targets, backend: str, rate: int, seconds: float) -> LatencyRun:
    target = targets.fresh(backend, f"latency-{rate}")
    try:
        keys = create_workspace(target)
        apply_journey(target, keys, PING_JOURNEY)
        with Server(target, ()) as server:
            time.sleep(2.0)
            settle(30)
            begin = time.monotonic()
            due, errors = asyncio.run(_paced_pings(server.url, keys, rate, seconds))
            offered = len(due) / max(1e-9, time.monotonic() - begin)
            run = LatencyRun(rate=rate, sent=len(due), offered=offered, errors=errors)
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                run.queued = count(target, "SELECT count(*) FROM outbox")
                if run.queued >= len(due) - errors:
                    break
                time.sleep(0.5)
        with engine_of(target) as engine, engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT o.created_at, i.context FROM outbox o "
                "JOIN journey_instances i ON i.id = o.instance_id"
            ).all()
        for created, context in rows:
            message = orjson.loads(context).get("event", {}).get("message_id")
            if message in due:
                if isinstance(created, str):  # SQLite
                    created = datetime.fromisoformat(created)
                if created.tzinfo is None:
                    created = created.replace(tzinfo=UTC)
                run.latencies.append(created.timestamp() - due[message])
        return run
    finally:
        targets.drop(target)


# -- memory ---------------------------------------------------------------------------------


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_memory(targets: Targets, backend: str, waiting: int, watch: float) -> float:
    """The server's largest resident set over ``watch`` seconds with ``waiting`` customers."""
    target = targets.fresh(backend, f"memory-{waiting}")
    try:
        keys = create_workspace(target)
        apply_journey(target, keys, ENTRY_JOURNEY)
        fill_instances(target, keys, "bench-cart", "wait_order", waiting, waiting=True)
        with Server(target, ()) as server:
            # a few orders resume waits through the index while memory is watched
            with httpx.Client(base_url=server.url, auth=(keys.write_key, "")) as client:
                client.post(
                    "/v1/batch",
                    json={
                        "batch": [
                            {
                                "type": "track",
                                "event": "Order Completed",
                                "userId": f"u{n}",
                                "properties": {"cart_id": f"cart-{n}"},
                            }
                            for n in range(1, 101)
                        ]
                    },
                ).raise_for_status()
            peak = 0.0
            end = time.monotonic() + watch
            while time.monotonic() < end:
                peak = max(peak, rss_mib(server.proc.pid))
                time.sleep(0.5)
        return peak
    finally:
        targets.drop(target)


# -- the table ------------------------------------------------------------------------------


@dataclass
class Results:
    backend: str
    transitions: list[TransitionRun] = field(default_factory=list)
    entries: EntryRun | None = None
    latency: list[LatencyRun] = field(default_factory=list)
    memory: dict[int, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Options:
    backends: tuple[str, ...]
    instances: int
    entries: int
    seconds: float
    rates: tuple[int, ...]
    waiting: tuple[int, ...]
    pg_workers: tuple[int, ...]
    markdown: bool


def bench(opts: Options, backend: str, targets: Targets) -> Results:
    r = Results(backend)
    for workers in opts.pg_workers if backend == "postgresql" else (1,):
        log(f"{backend}: node transitions with {workers} worker process(es)")
        r.transitions.append(run_transitions(targets, backend, workers, opts.instances))
    log(f"{backend}: journey entries")
    r.entries = run_entries(targets, backend, opts.entries)
    for rate in opts.rates:
        log(f"{backend}: event → outbox latency at {rate}/s")
        r.latency.append(run_latency(targets, backend, rate, opts.seconds))
    for waiting in opts.waiting:
        log(f"{backend}: memory with {waiting:,} waiting")
        r.memory[waiting] = run_memory(targets, backend, waiting, watch=15)
    return r


def rows(opts: Options, results: list[Results]) -> list[list[str]]:
    out: list[list[str]] = []

    def row(label: str, goal: str, cell: Any) -> None:
        out.append([label, *(cell(r) for r in results), goal])

    for workers in sorted({t.workers for r in results for t in r.transitions}):

        def transitions(r: Results, w: int = workers) -> str:
            run = next((t for t in r.transitions if t.workers == w), None)
            return f"{run.rate:,.0f}" if run else "-"

        row(f"node transitions/s, {workers} worker process(es)", "≥ 10,000", transitions)
    row(
        "journey entries/s (event-triggered)",
        "≥ 5,000",
        lambda r: f"{r.entries.rate:,.0f}" if r.entries else "-",
    )
    for rate in opts.rates:

        def latency(r: Results, rate: int = rate) -> str:
            run = next((x for x in r.latency if x.rate == rate), None)
            if run is None or not run.latencies:
                return "-"
            late = run.sent - run.errors - len(run.latencies)
            note = f", {late:,} not queued in 3 min" if late > 0 else ""
            errs = f", {run.errors:,} refused" if run.errors else ""
            return (
                f"{run.p(50) * 1000:,.0f} / {run.p(99) * 1000:,.0f} ms "
                f"(offered {run.offered:,.0f}/s{errs}{note})"
            )

        row(f"event → outbox p50 / p99 at {rate:,} events/s", "p99 < 250 ms at 1,000/s", latency)
    for waiting in opts.waiting:
        row(
            f"server memory (RSS), {waiting:,} waiting",
            "flat",
            lambda r, w=waiting: f"{r.memory[w]:,.0f} MiB" if w in r.memory else "-",
        )
    return out


def print_table(opts: Options, results: list[Results]) -> None:
    names = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
    header = ["measure", *(names[r.backend] for r in results), "goal"]
    body = rows(opts, results)
    if opts.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for cells in body:
            print("| " + " | ".join(cells) + " |")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*header)
    for cells in body:
        table.add_row(*cells)
    Console(width=None if sys.stdout.isatty() else 140).print(table)


def parse_args(argv: Sequence[str] | None = None) -> Options:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backends", default="sqlite,postgresql")
    p.add_argument("--instances", type=int, default=20_000, help="customers per transitions run")
    p.add_argument("--entries", type=int, default=50_000, help="events for the entries run")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each latency run")
    p.add_argument("--quick", action="store_true", help="small sizes, to try the script")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    a = p.parse_args(argv)
    quick = bool(a.quick)
    return Options(
        backends=tuple(b.strip() for b in a.backends.split(",") if b.strip()),
        instances=2_000 if quick else a.instances,
        entries=5_000 if quick else a.entries,
        seconds=3.0 if quick else a.seconds,
        rates=(1_000, 5_000),
        waiting=(10_000, 100_000) if quick else (10_000, 1_000_000),
        pg_workers=(1, 2) if quick else (1, 2, 4),
        markdown=bool(a.markdown),
    )


def main(argv: Sequence[str] | None = None) -> None:
    opts = parse_args(argv)
    pg = postgres_available()
    backends = [b for b in opts.backends if b != "postgresql" or pg]
    if len(backends) < len(opts.backends):
        log("PostgreSQL is unreachable: measuring SQLite only")
    results: list[Results] = []
    with tempfile.TemporaryDirectory(prefix="wayline-bench-") as scratch:
        targets = Targets(Path(scratch))
        try:
            for backend in backends:
                results.append(bench(opts, backend, targets))
        finally:
            targets.close()
    print(f"Wayline {revision()} on {machine_summary(pg)}")
    print_table(opts, results)


if __name__ == "__main__":
    main()
