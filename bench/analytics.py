"""Journey analytics on a generated shop's events, beside pm4py and ChannelAttribution.

    .venv/bin/python bench/analytics.py [--sizes 10M/1M,100M/10M] [--quick] [--markdown]

For each size (events / customers) a DuckDB warehouse file is generated with SQL, straight
into the warehouse's own ``events`` table (no HTTP: a hundred million rows take minutes
this way). Every customer has the same number of events, cut into sessions of 2 to 8
events; a session runs Page Viewed → Product Viewed → Product Added → Checkout Started →
Order Completed as far as the customer gets (30% leave after the first page, 30% after a
product, …) and fills its remaining events with browsing, reviews, NPS answers and support
tickets. A session's first event carries its channel in ``context.campaign.source`` (85%;
the rest are direct), an order its ``revenue``. Sessions are one to ten days apart.

Then each analysis is timed through the same Python function ``wayline report`` calls,
after one scan of the table, ``--repeat`` times (default 2; the fastest run counts):

* a 5-step ordered funnel (the steps above, 14-day window);
* paths after Product Viewed (5 steps, top 20 per step);
* retention (weekly first-time cohorts);
* the stage summary and the journey map (the stages by touchpoints grid), e-commerce preset;
* the directly-follows graph, beside pm4py's ``discover_dfg`` on a pandas frame of the
  same events (loaded from a Parquet export, load time not counted). pm4py runs in a child
  process with a time limit; when the whole log does not fit in it, it is run on a sample
  of the customers (1/10, then 1/100) and the table says so, with its rate in events/s;
* Markov attribution (order 1, by ``context.campaign.source``), beside ChannelAttribution's
  ``markov_model`` on the same grouped paths, with the largest difference between the two
  in conversions. Both need the paths read from the warehouse: ours is timed end to end
  (query and exact solve), theirs alone and with the time the same query took.

Every figure is printed in one table with the goal beside it. Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness import ROOT, log, machine_summary, revision

WS = "bench"
FUNNEL_STEPS: tuple[str, ...] = (
    "Page Viewed",
    "Product Viewed",
    "Product Added",
    "Checkout Started",
    "Order Completed",
)
#: The generated log's first day; sessions fall in the 90 days after it and a few weeks more.
T0 = "2026-01-01 00:00:00+00"
#: Rows per INSERT while generating.
CHUNK = 5_000_000

_GENERATE = """
INSERT INTO events
WITH slot AS (
    SELECT i, i % {customers} AS c, i // {customers} AS k FROM range({lo}, {hi}) t(i)
), sess AS (
    SELECT i, c, k // n AS s, k % n AS j
    FROM (SELECT *, 2 + (hash(c, 1) >> 1)::BIGINT % 7 AS n FROM slot)
), draw AS (
    SELECT i, c, s, j,
        (hash(c, s, 2) >> 1)::BIGINT % 1000 / 1000.0 AS u_depth,
        (hash(c, s, 3) >> 1)::BIGINT % 1000 / 1000.0 AS u_direct,
        (hash(c, s, 4) >> 1)::BIGINT % 8 AS u_source,
        (hash(i, 5) >> 1)::BIGINT % 1000 / 1000.0 AS u_event,
        to_seconds((hash(c, 6) >> 1)::BIGINT % (90 * 86400))
          + to_seconds(s * (86400 + (hash(c, 7) >> 1)::BIGINT % (9 * 86400)))
          + to_seconds((hash(c, s, 8) >> 1)::BIGINT % 43200)
          + to_seconds(j * (30 + (hash(c, s, 9) >> 1)::BIGINT % 600)) AS shift
    FROM sess
), named AS (
    SELECT *,
        CASE WHEN u_depth < 0.30 THEN 1 WHEN u_depth < 0.60 THEN 2 WHEN u_depth < 0.78 THEN 3
             WHEN u_depth < 0.88 THEN 4 ELSE 5 END AS depth,
        CASE
            WHEN j < (CASE WHEN u_depth < 0.30 THEN 1 WHEN u_depth < 0.60 THEN 2
                           WHEN u_depth < 0.78 THEN 3 WHEN u_depth < 0.88 THEN 4 ELSE 5 END)
                THEN ['Page Viewed', 'Product Viewed', 'Product Added', 'Checkout Started',
                      'Order Completed'][j + 1]
            WHEN u_event < 0.02 THEN 'Product Reviewed'
            WHEN u_event < 0.03 THEN 'NPS Submitted'
            WHEN u_event < 0.04 THEN 'Ticket Created'
            WHEN u_event < 0.50 THEN 'Product Viewed'
            WHEN u_event < 0.70 THEN 'Products Searched'
            ELSE 'Page Viewed'
        END AS event,
        CASE WHEN j = 0 AND u_direct < 0.85
             THEN ['google', 'google', 'facebook', 'email', 'instagram', 'newsletter',
                   'affiliate', 'tiktok'][u_source + 1] END AS source
    FROM draw
)
SELECT
    '{workspace}' AS workspace_id,
    i + 1 AS seq,
    'm' || i AS message_id,
    'track' AS type,
    event,
    'u' || c AS user_id,
    NULL AS anonymous_id,
    TIMESTAMPTZ '{t0}' + shift AS timestamp,
    TIMESTAMPTZ '{t0}' + shift + INTERVAL 2 SECOND AS received_at,
    CASE event
        WHEN 'Order Completed' THEN '{{"order_id":"o' || i || '","revenue":'
            || (10 + (hash(i, 10) >> 1)::BIGINT % 20000 / 100.0) || ',"currency":"EUR"}}'
        WHEN 'NPS Submitted' THEN '{{"score":' || (hash(i, 11) >> 1)::BIGINT % 11 || '}}'
        WHEN 'Product Reviewed' THEN '{{"rating":' || 1 + (hash(i, 12) >> 1)::BIGINT % 5 || '}}'
        WHEN 'Page Viewed' THEN '{{"path":"/p/' || (hash(i, 13) >> 1)::BIGINT % 500 || '"}}'
        ELSE '{{"product_id":"p' || (hash(i, 14) >> 1)::BIGINT % 5000 || '","price":'
            || (1 + (hash(i, 15) >> 1)::BIGINT % 20000 / 100.0) || '}}'
    END AS properties,
    CASE WHEN source IS NULL THEN '{{"library":{{"name":"analytics.js"}}}}'
         ELSE '{{"library":{{"name":"analytics.js"}},"campaign":{{"source":"' || source
              || '","medium":null}}}}' END AS context,
    NULL AS traits,
    '{{"type":"track","event":"' || event || '","userId":"u' || c || '"}}' AS payload
FROM named
"""


@dataclass(frozen=True)
class Size:
    events: int
    customers: int

    @property
    def label(self) -> str:
        return f"{_short(self.events)} events / {_short(self.customers)} customers"


def _short(n: int) -> str:
    for unit, div in (("M", 1_000_000), ("k", 1_000)):
        if n >= div and n % div == 0:
            return f"{n // div}{unit}"
    return f"{n:,}"


def parse_size(text: str) -> Size:
    def number(t: str) -> int:
        t = t.strip().lower()
        scale = {"k": 1_000, "m": 1_000_000}.get(t[-1:], 1)
        return int(float(t.rstrip("km")) * scale)

    events, _, customers = text.partition("/")
    size = Size(number(events), number(customers))
    if size.customers < 1 or size.events < size.customers or size.events % size.customers:
        raise SystemExit(f"--sizes: {text!r}: events must be a multiple of customers")
    return size


# -- the data ----------------------------------------------------------------------------


def generate(path: Path, size: Size) -> float:
    """A warehouse file with ``size`` generated events; returns the seconds it took."""
    import duckdb

    from wayline.analytics.warehouse_duckdb import DuckDBWarehouse

    DuckDBWarehouse(str(path)).close()  # the warehouse's own schema
    started = time.perf_counter()
    with contextlib.closing(duckdb.connect(str(path))) as db:
        for lo in range(0, size.events, CHUNK):
            hi = min(size.events, lo + CHUNK)
            sql = _GENERATE.format(customers=size.customers, lo=lo, hi=hi, workspace=WS, t0=T0)
            db.execute(sql).fetchall()
            log(f"  generated {hi:,} / {size.events:,} events")
        db.execute("CHECKPOINT").fetchall()
    return time.perf_counter() - started


def existing(path: Path, size: Size) -> bool:
    """Whether ``path`` already holds exactly this size's events (from an earlier run)."""
    import duckdb

    if not path.exists():
        return False
    try:
        with contextlib.closing(duckdb.connect(str(path), read_only=True)) as db:
            row = db.execute(
                "SELECT count(*), count(DISTINCT user_id) FROM events WHERE workspace_id = ?",
                [WS],
            ).fetchone()
    except duckdb.Error:
        return False
    return row == (size.events, size.customers)


# -- timing ------------------------------------------------------------------------------


@dataclass
class Timing:
    seconds: float | None = None
    note: str = ""
    #: CPU seconds of this process (DuckDB's threads included): less bent by a busy machine
    cpu: float | None = None


@dataclass
class Results:
    size: Size
    generated: float | None = None
    file_gib: float = 0.0
    ours: dict[str, Timing] = field(default_factory=dict)
    pm4py: Timing = field(default_factory=Timing)
    pm4py_events: int = 0
    dfg_rate: float | None = None
    pm4py_rate: float | None = None
    ca: Timing = field(default_factory=Timing)
    markov_solve: float | None = None
    #: seconds to read the grouped paths from the warehouse, which ChannelAttribution needs
    #: as much as our solve does
    paths_query: float | None = None
    markov_diff: float | None = None


def _rss_gib() -> float:
    """This process's resident memory, in GiB (Linux)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**30


def timed(label: str, run: Callable[[], Any]) -> tuple[Timing, Any]:
    started, cpu = time.perf_counter(), time.process_time()
    value = run()
    t = Timing(time.perf_counter() - started, cpu=time.process_time() - cpu)
    log(f"  {label}: {t.seconds:.2f} s (CPU {t.cpu:.2f} s)")
    return t, value


def bench_size(opts: Options, size: Size, scratch: Path) -> Results:
    from wayline.analytics.attribution import attribution, journey_rows, paths_expr
    from wayline.analytics.discovery import directly_follows
    from wayline.analytics.fields import Scope
    from wayline.analytics.funnels import Funnel, funnel_report
    from wayline.analytics.journey_map import JourneyMapSpec, journey_map
    from wayline.analytics.markov import Chain, PathCount, shares
    from wayline.analytics.paths import Paths, paths
    from wayline.analytics.retention import Retention, retention
    from wayline.analytics.stage_model import preset
    from wayline.analytics.stages import stage_summary
    from wayline.analytics.warehouse_duckdb import DuckDBWarehouse

    r = Results(size)
    keep = opts.keep_dir or scratch
    keep.mkdir(parents=True, exist_ok=True)
    path = keep / f"analytics-{size.events}-{size.customers}.duckdb"
    if existing(path, size):
        log(f"{size.label}: reusing {path}")
    else:
        path.unlink(missing_ok=True)
        free = shutil.disk_usage(keep).free / 2**30
        need = size.events * 60 / 2**30  # about 60 bytes an event on disk, with headroom
        if free < need * 2:
            raise SystemExit(f"{keep}: {free:.0f} GiB free, {need * 2:.0f} GiB wanted")
        log(f"{size.label}: generating into {path}")
        r.generated = generate(path, size)
    r.file_gib = path.stat().st_size / 2**30

    warehouse = DuckDBWarehouse(str(path))
    try:
        scope = Scope(workspace_id=WS)
        as_of = datetime(2026, 6, 1, tzinfo=UTC)
        model = preset("ecommerce")
        analyses: list[tuple[str, Callable[[], Any]]] = [
            (
                "funnel",
                lambda: funnel_report(
                    warehouse, WS, Funnel(steps=FUNNEL_STEPS, window=timedelta(days=14))
                ),
            ),
            ("paths", lambda: paths(warehouse, WS, Paths(start_event="Product Viewed"))),
            ("retention", lambda: retention(warehouse, WS, Retention())),
            ("stages", lambda: stage_summary(warehouse, WS, model, as_of=as_of)),
            (
                "journey_map",
                lambda: journey_map(warehouse, WS, JourneyMapSpec(model=model, as_of=as_of)),
            ),
            ("dfg", lambda: directly_follows(warehouse, scope)),
            ("markov", lambda: attribution(warehouse, scope, models=["markov"])),
        ]
        values: dict[str, Any] = {}
        # a first scan of the table, so that no analysis pays for reading it from disk
        warehouse.execute(warehouse.table("events").count().as_table())
        for name, run in analyses:
            if opts.only and name not in opts.only:
                continue
            for attempt in range(opts.repeat):
                t, values[name] = timed(f"{size.label}: {name} #{attempt + 1}", run)
                best = r.ours.get(name)
                if best is None or (t.seconds or 0) < (best.seconds or 0):
                    r.ours[name] = t

        if not opts.skip_references and ("dfg" in values or "markov" in values):
            # pm4py runs beside this process: first give back the memory the analyses
            # left in DuckDB's buffer pool (at 100M it was too little for pm4py otherwise)
            warehouse.close()
            warehouse = DuckDBWarehouse(str(path))
            log(f"  warehouse reopened; this process holds {_rss_gib():.1f} GiB")
        if "dfg" in values and not opts.skip_references:
            pm4py_dfg(opts, r, warehouse, scope, scratch, values["dfg"])
        if "markov" in values and not opts.skip_references:
            journeys = journey_rows(
                warehouse,
                scope,
                by="channel",
                conversion_event="Order Completed",
                revenue="properties.revenue",
            )
            # timed as often as ours, the fastest counting, as for ours
            runs = [
                timed(
                    "the grouped paths ChannelAttribution is given",
                    lambda: warehouse.execute(paths_expr(journeys)).to_pandas(),
                )
                for _ in range(opts.repeat)
            ]
            query, grouped = min(runs, key=lambda run: run[0].seconds or 0.0)
            # the conversions with no touch: no path for either model
            grouped = grouped[grouped["path"].notna()]
            r.paths_query = query.seconds
            counts = [
                PathCount(p.split("\x1f"), int(c), int(n), float(v))
                for p, c, n, v in zip(
                    grouped["path"],
                    grouped["conversions"],
                    grouped["nulls"],
                    grouped["revenue"],
                    strict=True,
                )
            ]

            def solve() -> dict[str, float]:
                return shares(Chain(counts, 1).removal_effects())

            r.markov_solve = timed("our Markov solve alone", solve)[0].seconds
            channel_attribution(r, grouped, values["markov"])
    finally:
        warehouse.close()
    if opts.keep_dir is None:
        path.unlink(missing_ok=True)
    return r


_PM4PY_CHILD = """
import sys, time
import pandas as pd
import pm4py
frame = pd.read_parquet(sys.argv[1])
started, cpu = time.perf_counter(), time.process_time()
dfg, start, end = pm4py.discover_dfg(
    frame, case_id_key="case", activity_key="activity", timestamp_key="ts"
)
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
print(seconds, cpu, len(frame), sum(dfg.values()))
"""


def pm4py_dfg(
    opts: Options, r: Results, warehouse: Any, scope: Any, scratch: Path, ours: Any
) -> None:
    """pm4py's discover_dfg on the whole log, else on a sample of customers, in a child
    process with ``opts.pm4py_limit`` seconds."""
    from wayline.analytics.cases import event_log

    log_expr = event_log(warehouse, scope)
    for share in (1, 10, 100):
        sample = log_expr
        if share > 1:
            sample = log_expr.filter(log_expr.case.hash() % share == 0)
        parquet = scratch / f"pm4py-{share}.parquet"
        sql = warehouse.ibis().compile(sample.select("case", "activity", ts=sample.ts))
        # pm4py orders a case by timestamp (stable), so the rows go in arrival order.
        warehouse.ibis().raw_sql(
            f"COPY ({sql} ORDER BY \"case\", ts, seq) TO '{parquet}' (FORMAT parquet)"
        ).fetchall()
        label = "whole log" if share == 1 else f"1/{share} of the customers"
        log(f"  pm4py discover_dfg on the {label}")
        try:
            out = subprocess.run(
                [sys.executable, "-c", _PM4PY_CHILD, str(parquet)],
                capture_output=True,
                text=True,
                timeout=opts.pm4py_limit,
                check=True,
            )
        except subprocess.TimeoutExpired:
            log(f"  pm4py: over {opts.pm4py_limit:.0f} s on the {label}")
            r.pm4py.note = f"> {opts.pm4py_limit:.0f} s on the whole log"
            continue
        except subprocess.CalledProcessError as exc:
            lines = exc.stderr.strip().splitlines()
            errors = [x for x in lines if "Error" in x or "Killed" in x] or lines[-1:]
            why = errors[-1].strip() if errors else f"exit status {exc.returncode}"
            r.pm4py.note = f"failed on the {label} ({why}, exit status {exc.returncode})"
            log(f"  pm4py: {r.pm4py.note}")
            continue
        finally:
            parquet.unlink(missing_ok=True)
        seconds_text, cpu_text, events_text, edges_text = out.stdout.split()
        seconds, events = float(seconds_text), int(events_text)
        r.pm4py = Timing(
            seconds, "" if share == 1 else f"on {label}, {events:,} events", float(cpu_text)
        )
        r.pm4py_events = events
        r.pm4py_rate = events / seconds if seconds else None
        ours_edges = int(ours[ours["source"].notna() & ours["target"].notna()].frequency.sum())
        if share == 1 and int(edges_text) != ours_edges:
            r.pm4py.note += f" (edge count differs: {edges_text} vs ours {ours_edges})"
        log(f"  pm4py: {seconds:.2f} s on {events:,} events")
        return


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """ChannelAttribution prints banners to standard output; keep them off the table."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


def channel_attribution(r: Results, grouped: Any, ours: Any) -> None:
    import pandas as pd

    with quiet_stdout():
        import ChannelAttribution as ca

    data = pd.DataFrame(
        {
            "path": grouped["path"].str.replace("\x1f", " > ", regex=False),
            "conv": grouped["conversions"].astype("int64"),
            "null": grouped["nulls"].astype("int64"),
            "value": grouped["revenue"].astype("float64"),
        }
    )
    started, cpu = time.perf_counter(), time.process_time()
    with quiet_stdout():
        theirs = ca.markov_model(
            data,
            "path",
            "conv",
            var_value="value",
            var_null="null",
            order=1,
            verbose=False,
            flg_pro=False,
            seed=1,
        )
    r.ca = Timing(time.perf_counter() - started, cpu=time.process_time() - cpu)
    log(f"  ChannelAttribution markov_model: {r.ca.seconds:.2f} s")
    mine = ours[ours["model"] == "markov"].set_index("channel")["conversions"]
    diffs = [
        abs(float(mine.get(row.channel_name, 0.0)) - row.total_conversions)
        / max(1e-9, row.total_conversions)
        for row in theirs.itertuples()
    ]
    r.markov_diff = max(diffs) if diffs else None


# -- the table ---------------------------------------------------------------------------

LABELS = {
    "funnel": ("5-step ordered funnel", "< 1 s at 10M, < 10 s at 100M"),
    "paths": ("paths after Product Viewed", ""),
    "retention": ("retention, weekly cohorts", ""),
    "stages": ("stage summary (e-commerce)", ""),
    "journey_map": ("stage grid (journey map)", ""),
    "dfg": ("directly-follows graph", "≥ 5x faster than pm4py"),
    "markov": ("Markov attribution, order 1", "exact, faster than ChannelAttribution"),
}


def _s(t: Timing | None) -> str:
    if t is None or t.seconds is None:
        return t.note if t and t.note else "-"
    cpu = f" (CPU {t.cpu:,.2f})" if t.cpu is not None else ""
    return f"{t.seconds:,.2f} s{cpu}" + (f" ({t.note})" if t.note else "")


def rows(results: list[Results]) -> list[list[str]]:
    out: list[list[str]] = []

    def row(label: str, goal: str, cell: Callable[[Results], str]) -> None:
        out.append([label, *(cell(r) for r in results), goal])

    row(
        "generate (SQL) / file size",
        "",
        lambda r: (
            (f"{r.generated:,.0f} s" if r.generated is not None else "reused")
            + (f" / {r.file_gib:.1f} GiB" if r.file_gib >= 1 else f" / {r.file_gib * 1024:.0f} MiB")
        ),
    )
    for name, (label, goal) in LABELS.items():
        if not any(name in r.ours for r in results):
            continue

        def ours(r: Results, n: str = name) -> str:
            return _s(r.ours.get(n))

        row(label, goal, ours)
        if name == "dfg":
            row("   pm4py discover_dfg (reference)", "", lambda r: _s(r.pm4py))

            def ratio(r: Results) -> str:
                ours = r.ours.get("dfg")
                if not ours or not ours.seconds or not r.pm4py_rate:
                    return "-"
                ours_rate = r.size.events / ours.seconds
                text = f"{ours_rate / r.pm4py_rate:.1f}x wall"
                if ours.cpu and r.pm4py.cpu and r.pm4py_events:
                    cpu_ratio = (r.pm4py.cpu / r.pm4py_events) / (ours.cpu / r.size.events)
                    text += f", {cpu_ratio:.1f}x CPU"
                return text + " (per event)"

            row("   ours vs pm4py", "≥ 5x", ratio)
        if name == "markov":
            row(
                "   ChannelAttribution markov_model on the grouped paths (reference)",
                "",
                lambda r: _s(r.ca),
            )

            def end_to_end(r: Results) -> str:
                if r.ca.seconds is None or r.paths_query is None:
                    return "-"
                return f"{r.paths_query + r.ca.seconds:,.2f} s"

            row("   ChannelAttribution, with reading the same paths", "", end_to_end)
            row(
                "   our chain solve alone",
                "",
                lambda r: f"{r.markov_solve:.3f} s" if r.markov_solve is not None else "-",
            )
            row(
                "   largest difference in conversions, ours vs theirs",
                "theirs is simulated",
                lambda r: f"{r.markov_diff:.2%}" if r.markov_diff is not None else "-",
            )
    return out


def print_table(results: list[Results], markdown: bool) -> None:
    header = ["measure", *(r.size.label for r in results), "goal"]
    body = rows(results)
    if markdown:
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
    Console(width=None if sys.stdout.isatty() else 160).print(table)


@dataclass(frozen=True)
class Options:
    sizes: tuple[Size, ...]
    keep_dir: Path | None
    pm4py_limit: float
    repeat: int
    only: tuple[str, ...]
    skip_references: bool
    markdown: bool


def parse_args(argv: Sequence[str] | None = None) -> Options:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="10M/1M,100M/10M", help="EVENTS/CUSTOMERS, comma-separated")
    p.add_argument("--quick", action="store_true", help="1M events / 100k customers only")
    p.add_argument(
        "--keep-dir",
        type=Path,
        help="keep the generated warehouses here and reuse them on the next run",
    )
    p.add_argument(
        "--pm4py-limit", type=float, default=600.0, help="seconds pm4py may take per attempt"
    )
    p.add_argument(
        "--repeat", type=int, default=2, help="run each analysis this often; the fastest counts"
    )
    p.add_argument("--only", default="", help=f"comma-separated analyses among {', '.join(LABELS)}")
    p.add_argument(
        "--skip-references", action="store_true", help="do not run pm4py or ChannelAttribution"
    )
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    a = p.parse_args(argv)
    sizes = "1M/100k" if a.quick else a.sizes
    only = tuple(x.strip() for x in a.only.split(",") if x.strip())
    unknown = [x for x in only if x not in LABELS]
    if unknown:
        raise SystemExit(f"--only: unknown analysis {unknown[0]!r}")
    return Options(
        sizes=tuple(parse_size(s) for s in sizes.split(",") if s.strip()),
        keep_dir=a.keep_dir,
        pm4py_limit=a.pm4py_limit,
        repeat=max(1, a.repeat),
        only=only,
        skip_references=bool(a.skip_references),
        markdown=bool(a.markdown),
    )


def main(argv: Sequence[str] | None = None) -> None:
    opts = parse_args(argv)
    sys.path.insert(0, str(ROOT / "src"))  # the tree this script belongs to
    results: list[Results] = []
    with tempfile.TemporaryDirectory(prefix="wayline-bench-") as scratch:
        for size in opts.sizes:
            results.append(bench_size(opts, size, Path(scratch)))
    import duckdb

    print(
        f"Wayline {revision()} on {machine_summary(None)}, DuckDB {duckdb.__version__}, "
        f"{os.cpu_count()} threads"
    )
    print_table(results, opts.markdown)


if __name__ == "__main__":
    main()
