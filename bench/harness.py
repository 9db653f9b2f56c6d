"""What the benchmarks share: fresh stores, ``wayline serve`` as a subprocess, the machine.

Each script in bench/ imports this module from beside it; nothing here runs at import.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent


BIN = Path(sys.executable).parent


WAYLINE = str(BIN / "wayline")


HOST = "127.0.0.1"


PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass
class Target:
    """A fresh store: a data dir and, for PostgreSQL, its own database."""

    backend: str
    data_dir: Path
    database_url: str = ""

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WAYLINE_")}
        env["WAYLINE_DATA_DIR"] = str(self.data_dir)
        if self.database_url:
            env["WAYLINE_DATABASE_URL"] = self.database_url
        return env

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "wayline.db"


class Targets:
    """Makes fresh targets under one scratch dir and removes everything at the end."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.databases: list[str] = []
        self.n = 0

    def fresh(self, backend: str, label: str) -> Target:
        self.n += 1
        name = f"{self.n:02d}-{backend}-{label}"
        data_dir = self.scratch / name
        data_dir.mkdir(parents=True)
        if backend == "sqlite":
            return Target(backend, data_dir)
        db = f"wayline_bench_{os.getpid()}_{self.n:02d}"
        pg_admin(f'DROP DATABASE IF EXISTS "{db}"', f'CREATE DATABASE "{db}"')
        self.databases.append(db)
        return Target(backend, data_dir, PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + db)

    def drop(self, target: Target) -> None:
        shutil.rmtree(target.data_dir, ignore_errors=True)
        if target.database_url:
            db = target.database_url.rsplit("/", 1)[1]
            pg_admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            self.databases.remove(db)

    def close(self) -> None:
        for db in list(self.databases):
            with contextlib.suppress(Exception):
                pg_admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        shutil.rmtree(self.scratch, ignore_errors=True)


def pg_admin(*statements: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def postgres_available() -> str | None:
    """The server's version, or None when it cannot be reached."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "?"
    except Exception:
        return None


@dataclass(frozen=True)
class Keys:
    workspace_id: str
    write_key: str
    admin_token: str


def create_workspace(target: Target, name: str = "bench") -> Keys:
    """``wayline workspace create`` through the real console script."""
    out = subprocess.run(
        [WAYLINE, "workspace", "create", name, "--json", "--data-dir", str(target.data_dir)],
        env=target.env(),
        capture_output=True,
        check=True,
        timeout=120,
    )
    created = orjson.loads(out.stdout.strip().splitlines()[-1])
    return Keys(created["workspace_id"], created["write_key"], created["admin_token"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Server:
    """``wayline serve`` as a subprocess on a free loopback port."""

    def __init__(self, target: Target, roles: Sequence[str]) -> None:
        self.target = target
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log_path = target.data_dir / "serve.log"
        cmd = [WAYLINE, "serve", "--data-dir", str(target.data_dir), "--host", HOST]
        cmd += ["--port", str(self.port), "--log-level", "warning"]
        for role in roles:
            cmd += ["--role", role]
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            cmd, env=target.env(), stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"wayline serve exited at start:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"wayline serve did not answer /health within 60 s:\n{self.log_tail()}")

    def log_tail(self) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-20:])

    def cpu_seconds(self) -> float:
        return process_cpu(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of one process, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def background_cores(seconds: float = 1.0) -> float:
    """How many cores the machine keeps busy while this benchmark runs nothing."""
    busy0, total0 = machine_busy()
    time.sleep(seconds)
    busy1, total1 = machine_busy()
    return (busy1 - busy0) / max(1e-9, total1 - total0) * (os.cpu_count() or 1)


def settle(patience: float) -> float:
    """Wait up to ``patience`` seconds for other processes to leave the machine (nearly) idle;
    returns how many cores they kept busy in the last second."""
    deadline = time.monotonic() + patience
    busy = background_cores()
    while busy > 0.2 and time.monotonic() < deadline:
        busy = background_cores(2.0)
    if busy > 0.2:
        log(f"  note: other processes keep {busy:.1f} cores busy")
    return busy


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(values) - idle) / tick, sum(values) / tick


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def revision() -> str:
    """The commit measured, marked when the source differs from it."""
    git = ["git", "-C", str(ROOT)]
    try:
        head = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--", "src"], capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head} (with uncommitted changes in src/)" if dirty else head


def machine_summary(pg_version: str | None) -> str:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {ram:.0f} GiB RAM, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, PostgreSQL {pg_version or 'n/a'}"
    )
