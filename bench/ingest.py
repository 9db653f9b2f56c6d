"""Ingestion throughput and latency, on SQLite and PostgreSQL, beside the raw insert rate.

    .venv/bin/python bench/ingest.py [--events N] [--backends sqlite,postgresql] [--quick]

For each backend, on a fresh data dir (and a fresh PostgreSQL database):

* ``/v1/batch``: several client processes POST pre-built JSON batches of 100 and of 500
  track events (analytics.js-like, unique messageIds) to a real ``wayline serve`` over
  loopback with HTTP keep-alive. Events/s is counted from the first send to the last 200;
  then the background consumers are watched until they have caught up with the inbox.
* ``wayline import events FILE`` of an NDJSON file of ``--events`` events: wall time.
* the raw insert rate of the same rows (validated beforehand, outside the timing) into the
  store's ``inbox`` table: through the store's own ``append_events``, 500 rows per
  transaction (the reference: the limit for this design), and through the driver's bare
  ``executemany`` (the floor).
* single ``/v1/track`` calls at a steady, open-loop rate (500/s): latency percentiles,
  measured from when each request was due, so a slow answer cannot lower the offered load.

Every figure is printed in one table, ours beside the reference, from the same run.
Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import gc
import multiprocessing as mp
import os
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import httpx
import orjson
from harness import (
    BIN,
    PG_ADMIN_URL,
    WAYLINE,
    Keys,
    Server,
    Target,
    Targets,
    create_workspace,
    log,
    machine_busy,
    machine_summary,
    percentile,
    postgres_available,
    revision,
    settle,
)

#: Rows per transaction for the raw insert rates (the store-layer chunk).
RAW_CHUNK = 500
#: Senders of the closed-loop /v1/track run.
TRACK_CONNECTIONS = 8
#: A /v1/track call not answered within this many seconds counts as an error.
TRACK_TIMEOUT = 10.0

# -- events ---------------------------------------------------------------------------------

EVENT_NAMES = (
    "Product Viewed",
    "Product Viewed",
    "Product Viewed",
    "Product Clicked",
    "Product Added",
    "Cart Viewed",
    "Products Searched",
    "Checkout Started",
    "Coupon Applied",
    "Order Completed",
)
CATEGORIES = ("Shoes", "Outerwear", "Knitwear", "Accessories", "Bags", "Home", "Beauty")
BRANDS = ("Northwind", "Acme", "Globex", "Initech", "Umbrella", "Hooli")
USER_AGENTS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
)
REFERRERS = ("https://www.google.com/", "https://www.instagram.com/", "", "https://t.co/x1")


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class User:
    anonymous_id: str
    user_id: str | None


class EventFactory:
    """Deterministic analytics.js-like track calls; every messageId is unique in a run."""

    def __init__(self, seed: int, users: int, tag: str) -> None:
        self.rng = random.Random(seed)
        self.tag = tag
        self.count = 0
        self.users = [
            User(
                anonymous_id=f"{self.rng.getrandbits(128):032x}",
                # About 60% of visitors are logged in; they always send both ids, so each
                # visitor is exactly one profile.
                user_id=f"u{n:07d}" if self.rng.random() < 0.6 else None,
            )
            for n in range(max(1, users))
        ]
        self.seen: set[int] = set()
        self.base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)

    def event(self) -> dict[str, Any]:
        rng = self.rng
        n = self.count
        self.count += 1
        u = rng.randrange(len(self.users))
        self.seen.add(u)
        user = self.users[u]
        product = rng.randrange(5000)
        price = round(rng.uniform(3, 400), 2)
        quantity = rng.randint(1, 4)
        when = self.base + timedelta(milliseconds=n)
        path = f"/p/{product}"
        message: dict[str, Any] = {
            "type": "track",
            "event": rng.choice(EVENT_NAMES),
            "messageId": f"ajs-next-{self.tag}-{n:09d}-{rng.getrandbits(48):012x}",
            "anonymousId": user.anonymous_id,
            "timestamp": _iso(when),
            "sentAt": _iso(when + timedelta(milliseconds=rng.randrange(5, 900))),
            "properties": {
                "product_id": f"sku-{product:05d}",
                "name": f"Item {product}",
                "category": rng.choice(CATEGORIES),
                "brand": rng.choice(BRANDS),
                "variant": rng.choice(("S", "M", "L", "XL")),
                "price": price,
                "quantity": quantity,
                "currency": "GBP",
                "value": round(price * quantity, 2),
                "position": rng.randint(1, 24),
            },
            "context": {
                "library": {"name": "analytics.js", "version": "npm:next-1.72.0"},
                "locale": "en-GB",
                "page": {
                    "path": path,
                    "referrer": rng.choice(REFERRERS),
                    "search": "",
                    "title": f"Item {product} | Shop",
                    "url": f"https://shop.example.com{path}",
                },
                "userAgent": rng.choice(USER_AGENTS),
            },
            "integrations": {},
        }
        if user.user_id is not None:
            message["userId"] = user.user_id
        return message

    @property
    def profiles(self) -> int:
        """How many distinct visitors (so profiles) the events so far came from."""
        return len(self.seen)


def build_batches(factory: EventFactory, events: int, size: int) -> list[bytes]:
    bodies = []
    for start in range(0, events, size):
        batch = [factory.event() for _ in range(min(size, events - start))]
        bodies.append(orjson.dumps({"batch": batch}))
    return bodies


def write_ndjson(factory: EventFactory, events: int, path: Path) -> int:
    written = 0
    with path.open("wb") as out:
        for _ in range(events):
            line = orjson.dumps(factory.event())
            written += len(line) + 1
            out.write(line + b"\n")
    return written


# -- backends, workspaces, servers ----------------------------------------------------------


def loader_available() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("wayline.analytics.loader") is not None
    except ModuleNotFoundError:
        return False


class Profiler:
    """py-spy attached to the server while a run lasts, when ``--profile DIR`` asks for it.

    Two samplers: ``NAME.gil.txt`` samples only the thread holding the GIL (where the
    process's Python CPU goes), ``NAME.txt`` every thread that is not idle (including time
    spent in the database driver without the GIL, and waiting for SQLite's write lock).
    Both are py-spy's collapsed-stack text, one line per distinct stack with its count.
    """

    def __init__(self, pid: int, out: Path | None) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        spy = BIN / "py-spy"
        if out is None or not spy.exists():
            return
        out.parent.mkdir(parents=True, exist_ok=True)
        for extra, path in (
            ([], out.with_suffix(".txt")),
            (["--gil"], out.with_suffix(".gil.txt")),
        ):
            cmd = [str(spy), "record", "--pid", str(pid), "--rate", "200", "--threads"]
            cmd += ["--nonblocking", "--format", "raw", "--output", str(path), *extra]
            self.procs.append(
                subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
        time.sleep(1.0)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


#: Where a sample of the server belongs: the first rule, from the innermost frame outwards,
#: whose text occurs in the frame. Threads of the background loops are counted whole.
PROFILE_STEPS: tuple[tuple[str, str], ...] = (
    ("parse_time", "validate: timestamps (parse_time)"),
    ("_format_time", "validate: timestamps (_format_time)"),
    ("parse_message", "validate: parse_message, rest (dict copy, orjson.dumps)"),
    ("Ingestor.validate", "validate: loop"),
    ("decode_body", "request body JSON decode (orjson.loads)"),
    ("_sqlite_time", "store: datetimes to text"),
    ("_insert_events", "store: inbox insert (executemany)"),
    ("_bump", "store: counters upsert"),
    ("_insert_rejections", "store: rejections"),
    ("do_commit", "store: commit"),
    ("_begin", "store: BEGIN (waits for SQLite's write lock)"),
    ("GroupCommit", "store: group commit hand-over"),
    ("_commit_appends", "store: transaction, rest"),
    ("append_events", "store: rows to dicts"),
    ("Ingestor.", "ingest: rest"),
    ("basic_username", "auth"),
    ("CredentialCache", "auth"),
    ("Response", "response"),
    ("httptools", "HTTP: uvicorn + httptools"),
    ("h11", "HTTP: uvicorn + h11"),
    ("uvicorn/", "HTTP: uvicorn"),
    ("starlette/", "ASGI: starlette/fastapi"),
    ("fastapi/", "ASGI: starlette/fastapi"),
    ("anyio/", "thread pool hand-off (anyio)"),
    ("asyncio/", "event loop (asyncio)"),
    ("threading.py", "thread waits"),
)


def summarise_profile(path: Path, top: int = 12) -> list[tuple[str, float]]:
    """Shares of a py-spy collapsed profile by step of the ingest path (see PROFILE_STEPS)."""
    steps: dict[str, int] = {}
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        thread, *frames = stack.split(";")
        if "wayline-" in thread:
            step = "consumer: " + thread.split("wayline-", 1)[1].strip()
        else:
            step = next(
                (
                    name
                    for frame in reversed(frames)
                    for text, name in PROFILE_STEPS
                    if text in frame
                ),
                "other: " + (frames[-1].split(" (")[0] if frames else "?"),
            )
        steps[step] = steps.get(step, 0) + int(count)
        total += int(count)
    ranked = sorted(steps.items(), key=lambda kv: -kv[1])
    return [(step, n / total) for step, n in ranked[:top]] if total else []


# -- the store's own view, for "caught up" ---------------------------------------------------


class StoreProbe:
    """Reads the inbox head and the consumer cursors straight from the store (read-only)."""

    def __init__(self, target: Target) -> None:
        self.target = target

    def _query(self, sql: str) -> list[tuple[Any, ...]]:
        if self.target.database_url:
            import psycopg

            with psycopg.connect(self.target.database_url) as conn:
                return list(conn.execute(sql).fetchall())
        uri = f"file:{self.target.sqlite_path}?mode=ro"
        db = sqlite3.connect(uri, uri=True, timeout=30)
        try:
            return list(db.execute(sql).fetchall())
        finally:
            db.close()

    def head(self) -> tuple[int, int]:
        if self.target.database_url:
            rows = self._query("SELECT txid, seq FROM inbox ORDER BY txid DESC, seq DESC LIMIT 1")
            return (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)
        rows = self._query("SELECT max(seq) FROM inbox")
        return (0, int(rows[0][0] or 0))

    def cursors(self) -> dict[str, tuple[int, int]]:
        rows = self._query("SELECT name, txid, seq FROM consumer_cursors")
        sqlite = not self.target.database_url
        return {name: (0 if sqlite else int(txid), int(seq)) for name, txid, seq in rows}


# -- /v1/batch ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientResult:
    start: float
    end: float
    events: int
    failed: int
    retries: int


def _batch_client(
    url: str,
    write_key: str,
    bodies: Sequence[bytes],
    counts: Sequence[int],
    warmup: bytes,
    seconds: float,
    barrier: Barrier,
    results: mp.Queue[ClientResult],
) -> None:
    headers = {"content-type": "application/json"}
    with httpx.Client(base_url=url, auth=(write_key, ""), headers=headers, timeout=120.0) as client:
        client.post("/v1/batch", content=warmup).raise_for_status()
        barrier.wait(120)
        start = time.perf_counter()  # CLOCK_MONOTONIC: comparable across processes
        events = failed = retries = 0
        for body, count in zip(bodies, counts, strict=True):
            if time.perf_counter() - start > seconds:
                break
            for _attempt in range(4):
                try:
                    answer = client.post("/v1/batch", content=body)
                except httpx.HTTPError:
                    retries += 1
                    continue
                if answer.status_code == 200:
                    events += count
                    break
                retries += 1
            else:
                failed += count
        end = time.perf_counter()
    results.put(ClientResult(start, end, events, failed, retries))


@dataclass
class BatchRun:
    events: int = 0
    seconds: float = 0.0
    failed: int = 0
    retries: int = 0
    #: Seconds after the last 200 until the profile consumer / every consumer caught up.
    profiles_caught_up: float | None = None
    caught_up: float | None = None
    catch_up_note: str = ""
    stored: int = 0
    profiles: int = 0
    profiles_expected: int = 0
    server_cpu: float = 0.0
    machine_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    @property
    def end_to_end(self) -> float | None:
        if self.caught_up is None:
            return None
        return self.events / (self.seconds + self.caught_up)


def run_batch(
    target: Target,
    keys: Keys,
    server: Server,
    *,
    events: int,
    seconds: float,
    size: int,
    clients: int,
    profiles: bool,
    others: bool,
    seed: int,
    profile: Path | None,
    catch_up_timeout: float,
) -> BatchRun:
    factory = EventFactory(seed, users=max(1, events // 20), tag=f"b{size}")
    warmups = build_batches(factory, 10 * clients, 10)
    bodies = build_batches(factory, events, size)
    counts = [min(size, events - i * size) for i in range(len(bodies))]
    largest = max(len(b) for b in bodies)
    if largest > 500 * 1024:
        raise SystemExit(f"a batch of {size} is {largest} bytes, over the 500 KB request limit")

    idle_cpu = server.cpu_seconds()
    time.sleep(1.0)
    idle_cpu = server.cpu_seconds() - idle_cpu  # the idle loops' own polling, per second

    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(clients + 1)
    results: mp.Queue[ClientResult] = ctx.Queue()
    procs = [
        ctx.Process(
            target=_batch_client,
            args=(
                server.url,
                keys.write_key,
                bodies[i::clients],
                counts[i::clients],
                warmups[i],
                seconds,
                barrier,
                results,
            ),
            daemon=True,
        )
        for i in range(clients)
    ]
    for p in procs:
        p.start()
    gc.collect()
    spy = Profiler(server.proc.pid, profile)
    cpu0, (busy0, total0) = server.cpu_seconds(), machine_busy()
    barrier.wait(180)
    outcomes = [results.get(timeout=3600) for _ in procs]
    cpu1, (busy1, total1) = server.cpu_seconds(), machine_busy()
    spy.stop()
    for p in procs:
        p.join(30)
    start = min(o.start for o in outcomes)
    end = max(o.end for o in outcomes)
    run = BatchRun(
        events=sum(o.events for o in outcomes),
        seconds=end - start,
        failed=sum(o.failed for o in outcomes),
        retries=sum(o.retries for o in outcomes),
        profiles_expected=factory.profiles,
    )
    wall = max(1e-9, total1 - total0) / (os.cpu_count() or 1)
    run.server_cpu = (cpu1 - cpu0) / max(1e-9, end - start)
    run.machine_cpu = (busy1 - busy0) / wall

    run.profiles_caught_up, run.caught_up = wait_caught_up(
        StoreProbe(target),
        server,
        end,
        profiles=profiles,
        others=others,
        idle_cpu=idle_cpu,
        timeout=catch_up_timeout,
    )
    headers = {"authorization": f"Bearer {keys.admin_token}"}
    stats = httpx.get(server.url + "/api/v1/stats", headers=headers, timeout=30).json()
    run.profiles = int(stats.get("profiles", 0))
    run.stored = int(stats.get("events", 0)) - 10 * clients
    return run


def wait_caught_up(
    probe: StoreProbe,
    server: Server,
    since: float,
    *,
    profiles: bool,
    others: bool,
    idle_cpu: float,
    timeout: float,
) -> tuple[float | None, float | None]:
    """Seconds after ``since`` until (the profile consumer, every consumer) had caught up.

    The profile consumer's cursor is in the store, so it is read there. The other loops
    keep their positions where they cannot be read from outside (the warehouse loader's is
    inside the DuckDB file the server holds open), so they are seen only as the server
    going idle: two quarter-seconds in a row within 0.1 core of its idle use, once the
    profile consumer is done. :func:`loader_position` checks the loader's cursor against
    the inbox head after the server has stopped.
    """
    if not (profiles or others):
        return None, None
    head = probe.head()
    deadline = time.perf_counter() + timeout
    profiles_done: float | None = None if profiles else 0.0
    idle_from: float | None = None
    cpu, at = server.cpu_seconds(), time.perf_counter()
    while time.perf_counter() < deadline:
        time.sleep(0.25)
        cpu_now, now = server.cpu_seconds(), time.perf_counter()
        busy = (cpu_now - cpu) / (now - at)
        if profiles_done is None and probe.cursors().get("profiles", (0, 0)) >= head:
            profiles_done = now - since
            if not others:
                return profiles_done, profiles_done
        if profiles_done is not None and busy < idle_cpu + 0.1:
            if idle_from is not None:
                done = max(profiles_done, idle_from - since)
                return (profiles_done if profiles else None), done
            idle_from = at
        else:
            idle_from = None
        cpu, at = cpu_now, now
    return (profiles_done if profiles else None), None


def loader_position(target: Target) -> tuple[int, int] | None:
    """The warehouse loader's cursor, read from the warehouse once the server is gone.

    Read in a child process, so that this one never loads DuckDB.
    """
    if not loader_available():
        return None
    script = (
        "import sys\n"
        "from wayline.analytics.warehouse import open_warehouse\n"
        "from wayline.settings import Settings\n"
        "w = open_warehouse(Settings())\n"
        "c = w.cursor()\n"
        "w.close()\n"
        "print(c.txid, c.seq)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], env=target.env(), capture_output=True, timeout=120
    )
    if out.returncode != 0:
        return None
    txid, seq = (int(v) for v in out.stdout.split()[-2:])
    return (txid if target.database_url else 0, seq)


# -- /v1/track latency --------------------------------------------------------------------


@dataclass
class TrackRun:
    sent: int = 0
    ok: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    server_cpu: float = 0.0
    #: Requests/s of the closed-loop run.
    capacity: float = 0.0

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        return percentile(self.latencies, q)


async def _paced_track(url: str, write_key: str, bodies: Sequence[bytes], rate: float) -> TrackRun:
    run = TrackRun(sent=len(bodies))
    limits = httpx.Limits(max_connections=512, max_keepalive_connections=512)
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(
        base_url=url, auth=(write_key, ""), headers=headers, timeout=TRACK_TIMEOUT, limits=limits
    ) as client:
        warm = orjson.dumps({"type": "track", "event": "Warm Up", "anonymousId": "warm-up"})
        for _ in range(20):
            with contextlib.suppress(httpx.HTTPError):
                await client.post("/v1/track", content=warm)
        loop = asyncio.get_running_loop()

        async def one(body: bytes, due: float) -> None:
            run.lags.append(loop.time() - due)
            try:
                answer = await client.post("/v1/track", content=body)
                ok = answer.status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                run.ok += 1
                run.latencies.append(loop.time() - due)
            else:
                run.errors += 1

        tasks: list[asyncio.Task[None]] = []
        t0 = loop.time() + 0.05
        for i, body in enumerate(bodies):
            due = t0 + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(body, due)))
        await asyncio.gather(*tasks)
        run.seconds = loop.time() - t0
    return run


async def _closed_loop(url: str, write_key: str, bodies: Sequence[bytes], seconds: float) -> float:
    """Requests/s of TRACK_CONNECTIONS senders, each sending as soon as its last is answered."""
    limits = httpx.Limits(max_connections=TRACK_CONNECTIONS)
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(
        base_url=url, auth=(write_key, ""), headers=headers, timeout=TRACK_TIMEOUT, limits=limits
    ) as client:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        done = 0

        async def sender(mine: Sequence[bytes]) -> None:
            nonlocal done
            for body in mine:
                if loop.time() > deadline:
                    return
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.post("/v1/track", content=body)).status_code == 200:
                        done += 1

        start = loop.time()
        await asyncio.gather(
            *(sender(bodies[i::TRACK_CONNECTIONS]) for i in range(TRACK_CONNECTIONS))
        )
        return done / (loop.time() - start)


def _in_child(out: mp.Queue[Any], coroutine: Callable[..., Any], *args: Any) -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        out.put(asyncio.run(coroutine(*args)))
    except Exception as exc:  # reported by the parent
        out.put(RuntimeError(f"{coroutine.__name__}: {type(exc).__name__}: {exc}"))


def _run_in_child(timeout: float, coroutine: Callable[..., Any], *args: Any) -> Any:
    """Run an async client in a process of its own, so that it has a core to itself."""
    ctx = mp.get_context("fork")
    out: mp.Queue[Any] = ctx.Queue()
    proc = ctx.Process(target=_in_child, args=(out, coroutine, *args), daemon=True)
    proc.start()
    try:
        result = out.get(timeout=timeout)
    except queue.Empty:
        proc.kill()
        raise RuntimeError(f"{coroutine.__name__} gave no answer within {timeout:.0f} s") from None
    finally:
        proc.join(30)
    if isinstance(result, Exception):
        raise result
    return result


def wait_idle(server: Server, idle_cpu: float, limit: float = 120.0) -> None:
    """Until the server's background loops have nothing left to do (or ``limit`` passes)."""
    deadline = time.perf_counter() + limit
    cpu, at = server.cpu_seconds(), time.perf_counter()
    while time.perf_counter() < deadline:
        time.sleep(0.5)
        cpu_now, now = server.cpu_seconds(), time.perf_counter()
        if (cpu_now - cpu) / (now - at) < idle_cpu + 0.1:
            return
        cpu, at = cpu_now, now


def run_track(server: Server, keys: Keys, *, rate: float, seconds: float, seed: int) -> TrackRun:
    factory = EventFactory(seed, users=1000, tag="t")
    bodies = [orjson.dumps(factory.event()) for _ in range(int(rate * seconds))]
    idle_cpu = server.cpu_seconds()
    time.sleep(1.0)
    idle_cpu = server.cpu_seconds() - idle_cpu

    # How many single calls the server answers when never offered more than it can take.
    capacity = _run_in_child(
        seconds + 120, _closed_loop, server.url, keys.write_key, bodies, seconds / 2
    )
    wait_idle(server, idle_cpu)

    cpu, at = server.cpu_seconds(), time.perf_counter()
    result: TrackRun = _run_in_child(
        seconds * 3 + TRACK_TIMEOUT + 120, _paced_track, server.url, keys.write_key, bodies, rate
    )
    result.server_cpu = (server.cpu_seconds() - cpu) / (time.perf_counter() - at)
    result.capacity = capacity
    return result


# -- raw insert rates ---------------------------------------------------------------------


def parse_rows(path: Path) -> list[Any]:
    """The file's events as the store receives them (``parse_message``), untimed."""
    from wayline.events import parse_message

    received_at = datetime.now(UTC)
    rows = []
    gc.disable()
    try:
        with path.open("rb") as lines:
            for line in lines:
                rows.append(parse_message(orjson.loads(line), received_at=received_at))
    finally:
        gc.enable()
        gc.freeze()
    return rows


def _open_store(target: Target) -> Any:
    from wayline.settings import Settings
    from wayline.store import open_store

    settings = Settings(data_dir=target.data_dir, database_url=target.database_url)
    store = open_store(settings)
    store.migrate()
    return store


@dataclass
class RawRate:
    """Cumulative insert time after each chunk, so the rate can be read at any row count."""

    rows: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def add(self, rows: int, seconds: float) -> None:
        self.rows.append((self.rows[-1] if self.rows else 0) + rows)
        self.seconds.append((self.seconds[-1] if self.seconds else 0.0) + seconds)

    @property
    def total(self) -> int:
        return self.rows[-1] if self.rows else 0

    def rate(self, rows: int | None = None) -> float:
        """Events/s over the first ``rows`` rows (all by default): a table that size."""
        if not self.rows:
            return 0.0
        i = len(self.rows) - 1 if rows is None else bisect.bisect_left(self.rows, rows)
        i = min(i, len(self.rows) - 1)
        return self.rows[i] / self.seconds[i] if self.seconds[i] else 0.0


def raw_store_rate(target: Target, rows: Sequence[Any]) -> RawRate:
    """``Store.append_events`` in transactions of 500: the store-layer limit."""
    store = _open_store(target)
    rate = RawRate()
    try:
        workspace_id = store.create_workspace("raw").workspace.id
        for start in range(0, len(rows), RAW_CHUNK):
            chunk = rows[start : start + RAW_CHUNK]
            t = time.perf_counter()
            store.append_events(workspace_id, chunk)
            rate.add(len(chunk), time.perf_counter() - t)
    finally:
        store.close()
    return rate


_COLUMNS = "workspace_id, message_id, type, event, user_id, anonymous_id, timestamp, received_at"


def raw_driver_rate(target: Target, rows: Sequence[Any]) -> RawRate:
    """The bare driver's ``executemany`` in transactions of 500: the floor of the design.

    Same table, same indexes, same ``ON CONFLICT DO NOTHING``; the parameters are built
    beforehand, so only the database and the driver are timed.
    """
    store = _open_store(target)
    workspace_id = store.create_workspace("raw").workspace.id
    store.close()
    if target.database_url:
        return _pg_executemany(target.database_url, workspace_id, rows)
    return _sqlite_executemany(target.sqlite_path, workspace_id, rows)


def _sqlite_executemany(path: Path, workspace_id: str, rows: Sequence[Any]) -> RawRate:
    stamp = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores a naive UTC DateTime on SQLite
    params = [
        (
            workspace_id,
            r.message_id,
            r.type,
            r.event,
            r.user_id,
            r.anonymous_id,
            r.timestamp.astimezone(UTC).strftime(stamp),
            r.received_at.astimezone(UTC).strftime(stamp),
            r.payload,
        )
        for r in rows
    ]
    sql = (
        f"INSERT INTO inbox ({_COLUMNS}, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (workspace_id, message_id) DO NOTHING"
    )
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        rate = RawRate()
        for start in range(0, len(params), RAW_CHUNK):
            chunk = params[start : start + RAW_CHUNK]
            t = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(sql, chunk)
            conn.execute("COMMIT")
            rate.add(len(chunk), time.perf_counter() - t)
    finally:
        conn.close()
    return rate


def _pg_executemany(url: str, workspace_id: str, rows: Sequence[Any]) -> RawRate:
    import psycopg

    params = [
        (
            workspace_id,
            r.message_id,
            r.type,
            r.event,
            r.user_id,
            r.anonymous_id,
            r.timestamp,
            r.received_at,
            r.payload,
        )
        for r in rows
    ]
    sql = (
        f"INSERT INTO inbox ({_COLUMNS}, payload, txid) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, txid_current()) "
        "ON CONFLICT (workspace_id, message_id) DO NOTHING"
    )
    rate = RawRate()
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        for start in range(0, len(params), RAW_CHUNK):
            chunk = params[start : start + RAW_CHUNK]
            t = time.perf_counter()
            with conn.transaction():
                cur.executemany(sql, chunk)  # psycopg 3 pipelines these
            rate.add(len(chunk), time.perf_counter() - t)
    return rate


# -- wayline import -----------------------------------------------------------------------


def import_available() -> str | None:
    """None when ``wayline import events`` exists, else why it cannot be run."""
    out = subprocess.run(
        [WAYLINE, "import", "events", "--help"], capture_output=True, timeout=60, check=False
    )
    if out.returncode != 0:
        return "n/a: `wayline import events` is not in this checkout"
    return None


@dataclass
class ImportRun:
    events: int
    seconds: float
    stored: int
    error: str = ""

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def run_import(target: Target, path: Path, events: int) -> ImportRun:
    keys = create_workspace(target)
    cmd = [WAYLINE, "import", "events", str(path), "--data-dir", str(target.data_dir)]
    cmd += ["--workspace", "bench"]
    t = time.perf_counter()
    out = subprocess.run(cmd, env=target.env(), capture_output=True, timeout=3600, check=False)
    seconds = time.perf_counter() - t
    if out.returncode != 0:
        last = (out.stderr or out.stdout).decode(errors="replace").strip().splitlines()[-1:]
        return ImportRun(events, seconds, 0, f"failed: {' '.join(last)}")
    store = _open_store(target)
    try:
        stored = store.stats(keys.workspace_id).events
    finally:
        store.close()
    return ImportRun(events, seconds, stored)


# -- the run ------------------------------------------------------------------------------


@dataclass
class BackendResult:
    backend: str
    batch: dict[int, BatchRun] = field(default_factory=dict)
    imported: ImportRun | None = None
    import_note: str = ""
    raw_store: RawRate = field(default_factory=RawRate)
    raw_driver: RawRate = field(default_factory=RawRate)
    track: TrackRun | None = None
    #: The most CPU (cores) other processes used just before a measurement.
    background: float = 0.0
    error: str = ""


@dataclass
class Options:
    events: int
    batch_events: int
    batch_seconds: float
    batch_sizes: tuple[int, ...]
    clients: int
    backends: tuple[str, ...]
    track_rate: float
    track_seconds: float
    profile: Path | None
    markdown: bool
    catch_up_timeout: float
    wait_quiet: float
    #: ``wayline serve --role`` for each; empty: all roles, as ``wayline serve`` runs.
    roles: tuple[str, ...]
    #: Which measurements: batch, import, raw, track.
    only: frozenset[str]


def bench_backend(
    opts: Options, backend: str, targets: Targets, ndjson: Path, rows: Callable[[], list[Any]]
) -> BackendResult:
    result = BackendResult(backend)
    if "batch" in opts.only:
        for size in opts.batch_sizes:
            result.batch[size] = _bench_batch(opts, backend, targets, size, result)
    if "import" in opts.only:
        result.import_note = import_available() or ""
        if not result.import_note:
            target = targets.fresh(backend, "import")
            result.background = max(result.background, settle(opts.wait_quiet))
            log(f"{backend}: wayline import events ({opts.events:,} events)")
            result.imported = run_import(target, ndjson, opts.events)
            log(f"  {result.imported.rate:,.0f} events/s {result.imported.error}")
            targets.drop(target)
    if "raw" in opts.only:
        target = targets.fresh(backend, "raw-store")
        result.background = max(result.background, settle(opts.wait_quiet))
        log(f"{backend}: raw insert through Store.append_events ({opts.events:,} rows)")
        result.raw_store = raw_store_rate(target, rows())
        log(
            f"  {result.raw_store.rate(opts.batch_events):,.0f} events/s over the first "
            f"{opts.batch_events:,}, {result.raw_store.rate():,.0f} over all"
        )
        targets.drop(target)

        target = targets.fresh(backend, "raw-driver")
        result.background = max(result.background, settle(opts.wait_quiet))
        log(f"{backend}: raw insert, the driver's executemany ({opts.batch_events:,} rows)")
        result.raw_driver = raw_driver_rate(target, rows()[: opts.batch_events])
        log(f"  {result.raw_driver.rate():,.0f} events/s")
        targets.drop(target)
    if "track" in opts.only:
        target = targets.fresh(backend, "track")
        result.background = max(result.background, settle(opts.wait_quiet))
        keys = create_workspace(target)
        log(f"{backend}: /v1/track at {opts.track_rate:.0f}/s for {opts.track_seconds:.0f} s")
        with Server(target, opts.roles) as server:
            t = run_track(server, keys, rate=opts.track_rate, seconds=opts.track_seconds, seed=7)
        result.track = t
        log(
            f"  p50 {t.pct(50) * 1000:.1f} ms, p99 {t.pct(99) * 1000:.1f} ms, {t.rate:.0f}/s "
            f"({t.errors} errors); closed loop {t.capacity:.0f}/s"
        )
        targets.drop(target)
    return result


def _bench_batch(
    opts: Options, backend: str, targets: Targets, size: int, result: BackendResult
) -> BatchRun:
    target = targets.fresh(backend, f"batch{size}")
    keys = create_workspace(target)
    result.background = max(result.background, settle(opts.wait_quiet))
    log(
        f"{backend}: /v1/batch x{size}, {opts.clients} clients, up to "
        f"{opts.batch_events:,} events or {opts.batch_seconds:.0f} s"
    )
    with Server(target, opts.roles) as server:
        run = run_batch(
            target,
            keys,
            server,
            events=opts.batch_events,
            seconds=opts.batch_seconds,
            size=size,
            clients=opts.clients,
            profiles=not opts.roles or "profiles" in opts.roles,
            others=not opts.roles or bool(set(opts.roles) - {"api", "profiles"}),
            seed=size,
            profile=opts.profile / f"{backend}-batch{size}.txt" if opts.profile else None,
            catch_up_timeout=opts.catch_up_timeout,
        )
        head = StoreProbe(target).head()
    loading = not opts.roles or "loader" in opts.roles
    loaded = loader_position(target) if loading else None
    if run.caught_up is not None and loaded is not None and loaded < head:
        run.catch_up_note = f"the loader was {head[1] - loaded[1]:,} events behind at stop"
        run.caught_up = None
    elif run.caught_up is None and run.profiles_caught_up is None and opts.roles == ("api",):
        run.catch_up_note = "no background loops were running"
    elif run.caught_up is None:
        run.catch_up_note = f"not caught up within {opts.catch_up_timeout:.0f} s"
    caught = f"profiles {_seconds(run.profiles_caught_up)}, all {_seconds(run.caught_up)}"
    log(f"  {run.events:,} events, {run.rate:,.0f}/s; caught up after the last 200: {caught}")
    targets.drop(target)
    return run


def _rate(value: float) -> str:
    return f"{value:,.0f}/s" if value else "-"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _share(rate: float, reference: float) -> str:
    return f"{100 * rate / reference:.0f}%" if rate and reference else "-"


def _batch_cells(run: BatchRun, raw: RawRate) -> list[str]:
    return [
        _rate(run.rate),
        _share(run.rate, raw.rate(run.events)),
        f"{_seconds(run.profiles_caught_up)} / {_seconds(run.caught_up)}",
        _rate(run.end_to_end or 0.0),
        f"{run.server_cpu:.2f} / {run.machine_cpu:.2f}",
    ]


def _import_cells(r: BackendResult) -> list[str]:
    if r.import_note or r.imported is None:
        return [r.import_note or "-", "-"]
    if r.imported.error:
        return [r.imported.error, "-"]
    return [
        f"{_rate(r.imported.rate)} ({r.imported.seconds:.1f} s)",
        _share(r.imported.rate, r.raw_store.rate(r.imported.events)),
    ]


def _track_cells(t: TrackRun | None) -> list[str]:
    if t is None or not t.latencies:
        return ["-"] * 5
    worst = max(t.latencies)
    return [
        " / ".join(f"{v * 1000:.1f}" for v in (t.pct(50), t.pct(99), worst)),
        f"{t.rate:.0f}/s ({t.errors})",
        f"{percentile(t.lags, 99) * 1000:.1f}",
        f"{t.server_cpu:.2f}",
        _rate(t.capacity),
    ]


def table_rows(opts: Options, results: list[BackendResult]) -> list[list[str]]:
    """Rows of (measurement, a cell per backend): the references first, then ours."""
    labels: list[str] = []
    columns: list[list[str]] = [[] for _ in results]

    def add(names: list[str], cells: Callable[[BackendResult], list[str]]) -> None:
        labels.extend(names)
        for column, r in zip(columns, results, strict=True):
            column.extend(["-"] * len(names) if r.error else cells(r))

    first = f"first {opts.batch_events:,} rows"
    add(
        [
            f"raw: Store.append_events, 500/txn, {first} (reference)",
            f"raw: Store.append_events, 500/txn, all {opts.events:,} rows",
            f"raw: driver executemany, 500/txn, {first} (floor)",
        ],
        lambda r: [
            _rate(r.raw_store.rate(opts.batch_events)),
            _rate(r.raw_store.rate()),
            _rate(r.raw_driver.rate()),
        ],
    )
    for size in opts.batch_sizes:
        add(
            [
                f"/v1/batch, {size} events/request, {opts.clients} clients (events/s)",
                "   % of raw store insert, same row count (goal >= 50%)",
                "   caught up after the last 200: profiles / all consumers",
                "   end to end, until all consumers caught up (events/s)",
                "   CPU during the run: server process / whole machine (cores)",
            ],
            lambda r, size=size: (  # type: ignore[misc]
                _batch_cells(r.batch[size], r.raw_store) if size in r.batch else ["-"] * 5
            ),
        )
    add(
        [f"wayline import, {opts.events:,} events NDJSON (events/s)", "   % of raw store insert"],
        _import_cells,
    )
    add(
        [
            f"/v1/track, open loop at {opts.track_rate:.0f}/s: p50 / p99 / max (ms)",
            "   achieved rate (errors)",
            "   client send lag p99 (ms)",
            "   server CPU (cores)",
            f"/v1/track, closed loop, {TRACK_CONNECTIONS} connections (requests/s)",
        ],
        lambda r: _track_cells(r.track),
    )
    return [[label, *(c[i] for c in columns)] for i, label in enumerate(labels)]


def print_table(opts: Options, results: list[BackendResult]) -> None:
    from rich.console import Console
    from rich.table import Table

    names = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
    rows = table_rows(opts, results)
    table = Table(title="Wayline ingestion (bench/ingest.py)")
    table.add_column("measurement")
    for r in results:
        table.add_column(names[r.backend], justify="right")
    for cells in rows:
        table.add_row(*cells)
    Console(width=None if sys.stdout.isatty() else 132).print(table)
    for r in results:
        if r.error:
            print(f"{names[r.backend]}: {r.error}")
        for size, run in r.batch.items():
            notes = []
            if run.failed or run.retries:
                notes.append(f"{run.failed} events failed, {run.retries} retries")
            if run.stored != run.events:
                notes.append(f"stats count {run.stored:,} events, {run.events:,} were sent")
            if run.profiles_caught_up is not None and run.profiles != run.profiles_expected:
                notes.append(f"profiles {run.profiles:,}, expected {run.profiles_expected:,}")
            if run.catch_up_note:
                notes.append(run.catch_up_note)
            if notes:
                print(f"{names[r.backend]} /v1/batch x{size}: " + "; ".join(notes))
        if r.background > 0.2:
            print(
                f"{names[r.backend]}: WARNING other processes kept {r.background:.1f} cores busy "
                "before a measurement; these figures are not reliable"
            )
        if r.imported and not r.imported.error and r.imported.stored != r.imported.events:
            print(
                f"{names[r.backend]} import: stored {r.imported.stored:,} of {r.imported.events:,}"
            )
    if opts.markdown:
        header = ["measurement", *(names[r.backend] for r in results)]
        print()
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for cells in rows:
            print("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, help="events in the import file (1,000,000)")
    parser.add_argument("--batch-events", type=int, help="events per /v1/batch run (250,000)")
    parser.add_argument(
        "--batch-seconds", type=float, help="stop a /v1/batch run's senders after this long (30)"
    )
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--clients", type=int, default=4, help="client processes (4)")
    parser.add_argument(
        "--roles", default="", help="serve only these roles, e.g. api,profiles (default: all)"
    )
    parser.add_argument("--track-rate", type=float, default=500.0)
    parser.add_argument("--track-seconds", type=float, help="(10)")
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few minutes")
    parser.add_argument(
        "--only", default="batch,import,raw,track", help="measurements to run (all of them)"
    )
    parser.add_argument("--profile", type=Path, help="write py-spy profiles of the server here")
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each measurement, wait up to this long for the machine to be idle",
    )
    args = parser.parse_args(argv)
    backends = tuple(b.strip() for b in args.backends.split(",") if b.strip())
    for b in backends:
        if b not in ("sqlite", "postgresql"):
            parser.error(f"unknown backend {b!r}; use sqlite and/or postgresql")
    only = frozenset(m.strip() for m in args.only.split(",") if m.strip())
    if not only or only - {"batch", "import", "raw", "track"}:
        parser.error("--only takes a comma-separated list of batch, import, raw, track")
    quick = bool(args.quick)
    return Options(
        events=args.events or (20_000 if quick else 1_000_000),
        batch_events=args.batch_events or (20_000 if quick else 250_000),
        batch_seconds=args.batch_seconds or (5.0 if quick else 30.0),
        batch_sizes=(100, 500),
        clients=max(1, args.clients),
        backends=backends,
        track_rate=args.track_rate,
        track_seconds=args.track_seconds or (2.0 if quick else 10.0),
        profile=args.profile,
        markdown=args.markdown,
        catch_up_timeout=120.0 if quick else 600.0,
        wait_quiet=max(0.0, args.wait_quiet),
        roles=tuple(r.strip() for r in args.roles.split(",") if r.strip()),
        only=only,
    )


def main(argv: Sequence[str] | None = None) -> None:
    opts = parse_args(argv)
    pg_version = postgres_available()
    machine = machine_summary(pg_version)
    source = revision()
    log(f"{machine}; wayline {source}")
    log(f"wayline serve roles: {', '.join(opts.roles) if opts.roles else 'all (the default)'}")
    scratch = Path(tempfile.mkdtemp(prefix="wayline-bench-"))
    targets = Targets(scratch)
    results: list[BackendResult] = []
    try:
        ndjson = scratch / "events.ndjson"
        if opts.only & {"import", "raw"}:
            t = time.perf_counter()
            factory = EventFactory(1, users=opts.events // 20, tag="i")
            size = write_ndjson(factory, opts.events, ndjson)
            log(
                f"wrote {opts.events:,} events ({size / 2**20:.0f} MiB, "
                f"{size / opts.events:.0f} B each) in {time.perf_counter() - t:.1f} s"
            )
        parsed: list[Any] = []

        def rows() -> list[Any]:
            if not parsed:
                t = time.perf_counter()
                parsed.extend(parse_rows(ndjson))
                log(f"  validated {len(parsed):,} rows in {time.perf_counter() - t:.1f} s")
            return parsed

        for backend in opts.backends:
            if backend == "postgresql" and pg_version is None:
                results.append(BackendResult(backend, error=f"no PostgreSQL at {PG_ADMIN_URL}"))
                continue
            try:
                results.append(bench_backend(opts, backend, targets, ndjson, rows))
            except Exception as exc:
                log(f"{backend}: {type(exc).__name__}: {exc}")
                results.append(BackendResult(backend, error=f"{type(exc).__name__}: {exc}"))
    finally:
        targets.close()
    print(f"{' '.join(['bench/ingest.py', *(argv or sys.argv[1:])])}")
    print(f"{time.strftime('%Y-%m-%d %H:%M %Z')}; {machine}; wayline {source}")
    print_table(opts, results)
    if opts.profile is not None:
        for path in sorted(opts.profile.glob("*.gil.txt")):
            print(f"\nwhere the server's GIL went, {path.name} (py-spy --gil):")
            for step, share in summarise_profile(path):
                print(f"  {100 * share:5.1f}%  {step}")


if __name__ == "__main__":
    main()
