"""Requests generated from the OpenAPI schema against a real ``wayline serve``: none may be
answered with a 5xx.

    .venv/bin/python bench/fuzz.py [--examples 100] [--backend sqlite|postgresql|both]
                                   [--seed N]

For each store a fresh server gets the demo shop (stages, segments, templates, journeys and
sample customers), then Schemathesis (examples, coverage and fuzzing phases; valid and
invalid data) sends up to ``--examples`` requests per operation of ``/openapi.json``:
the admin API and the tracking links with the admin token, the tracking API with the write
key. The server's own ``wayline_http_requests_total`` counts what it answered, by status,
so the table holds both sides' figures. Exits 1 when any request was answered with a 5xx.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from harness import (
    BIN,
    WAYLINE,
    Keys,
    Server,
    Target,
    Targets,
    create_workspace,
    log,
    machine_summary,
    postgres_available,
    revision,
)

from wayline.demo import shop_dir
from wayline.demo.loader import DemoShop

#: Schemathesis' own summary: "N generated, N passed" or "N generated, N found M unique
#: failures".
GENERATED = re.compile(r"(\d+) generated")
FAILURES = re.compile(r"found (\d+) unique failures?")
METRIC = re.compile(r'^wayline_http_requests_total\{.*status="(\d+)"\} ([0-9.e+]+)$')


@dataclass(frozen=True)
class Part:
    """One Schemathesis run: the operations it selects and how it authenticates."""

    name: str
    paths: str
    auth: tuple[str, ...]


def parts(keys: Keys) -> list[Part]:
    return [
        Part(
            "admin API, links",
            r"^/(api/v1|t)/|^/(health|ready)$",
            ("-H", f"Authorization: Bearer {keys.admin_token}"),
        ),
        Part("tracking API", r"^/v1/|^/sourceConfig$", ("-a", f"{keys.write_key}:")),
    ]


@dataclass
class Outcome:
    backend: str
    part: str
    operations: int
    cases: int
    failed: int
    answered: int
    server_errors: int
    seconds: float
    output: str


def answered_by_status(url: str) -> dict[int, float]:
    """The server's request counts by status, from ``/metrics``."""
    counts: dict[int, float] = {}
    for line in httpx.get(url + "/metrics", timeout=30).text.splitlines():
        found = METRIC.match(line)
        if found:
            status = int(found.group(1))
            counts[status] = counts.get(status, 0.0) + float(found.group(2))
    return counts


def load_shop(target: Target, server: Server, keys: Keys, customers: int) -> None:
    """The demo shop's configuration through the CLI, its customers through the API."""
    shop = shop_dir()
    data = ["--data-dir", str(target.data_dir)]
    commands = [
        ["stages", "apply", "--preset", "ecommerce"],
        ["segments", "apply", *map(str, sorted((shop / "segments").glob("*.yaml")))],
        ["templates", "apply", str(shop / "templates")],
        ["journeys", "apply", *map(str, sorted((shop / "journeys").glob("*.yaml")))],
    ]
    for command in commands:
        subprocess.run(
            [WAYLINE, *command, *data], env=target.env(), check=True, capture_output=True
        )
    demo = DemoShop(server.url, write_key=keys.write_key, admin_token=keys.admin_token)
    try:
        demo.send_sample(customers)
    finally:
        demo.close()


def run_part(
    server: Server, part: Part, examples: int, seed: int, phases: str
) -> tuple[str, float]:
    command = [
        str(BIN / "schemathesis"),
        "run",
        server.url + "/openapi.json",
        "--checks",
        "not_a_server_error",
        "--include-path-regex",
        part.paths,
        "--max-examples",
        str(examples),
        "--phases",
        phases,
        "--seed",
        str(seed),
        "--workers",
        "2",
        "--request-timeout",
        "30",
        "--generation-database",
        "none",
        "--no-color",
        "--warnings",
        "off",
        *part.auth,
    ]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    return done.stdout + done.stderr, time.perf_counter() - started


def fuzz(target: Target, examples: int, seed: int, customers: int, phases: str) -> list[Outcome]:
    keys = create_workspace(target, "fuzz")
    outcomes: list[Outcome] = []
    with Server(target, roles=()) as server:
        load_shop(target, server, keys, customers)
        operations = json.loads(httpx.get(server.url + "/openapi.json", timeout=30).text)
        for part in parts(keys):
            selected = sum(
                len(methods)
                for path, methods in operations["paths"].items()
                if re.search(part.paths, path)
            )
            before = answered_by_status(server.url)
            log(f"{target.backend}: {part.name}, {selected} operations")
            output, seconds = run_part(server, part, examples, seed, phases)
            after = answered_by_status(server.url)
            delta = {s: after.get(s, 0.0) - before.get(s, 0.0) for s in after}
            generated, failures = GENERATED.search(output), FAILURES.search(output)
            cases = int(generated.group(1)) if generated else 0
            # a run that printed no summary failed in a way of its own: count it as one
            failed = int(failures.group(1)) if failures else (0 if generated else 1)
            outcomes.append(
                Outcome(
                    backend=target.backend,
                    part=part.name,
                    operations=selected,
                    cases=cases,
                    failed=failed,
                    # minus the /metrics reading itself
                    answered=int(sum(delta.values())) - 1,
                    server_errors=int(sum(v for s, v in delta.items() if s >= 500)),
                    seconds=seconds,
                    output=output,
                )
            )
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=100, help="per operation")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--customers", type=int, default=50, help="demo shop customers")
    parser.add_argument(
        "--phases",
        default="examples,coverage,fuzzing",
        help="Schemathesis phases (the coverage phase sends the schema's edge cases)",
    )
    args = parser.parse_args(argv)
    pg_version = postgres_available()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    if "postgresql" in backends and pg_version is None:
        print("error: PostgreSQL is unreachable (BENCH_PG_URL)", file=sys.stderr)
        return 2
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="wayline-fuzz-") as scratch:
        targets = Targets(Path(scratch))
        try:
            for backend in backends:
                outcomes += fuzz(
                    targets.fresh(backend, "fuzz"),
                    args.examples,
                    args.seed,
                    args.customers,
                    args.phases,
                )
        finally:
            targets.close()
    print(f"# Schemathesis against wayline serve: revision {revision()}")
    print(f"# {machine_summary(pg_version)}")
    print(f"# up to {args.examples} requests per operation, seed {args.seed}, {args.phases}")
    print()
    print("| store | part | operations | generated | failed | answered | 5xx | seconds |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for o in outcomes:
        print(
            f"| {o.backend} | {o.part} | {o.operations} | {o.cases} | {o.failed} "
            f"| {o.answered} | {o.server_errors} | {o.seconds:.0f} |"
        )
    total = sum(o.answered for o in outcomes)
    errors = sum(o.server_errors for o in outcomes)
    print(f"\n{total} requests answered, {errors} with a 5xx")
    bad = [o for o in outcomes if o.server_errors or o.failed != 0]
    for o in bad:
        print(f"\n## {o.backend}, {o.part}\n{o.output[:40000]}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
