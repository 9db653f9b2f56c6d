"""A real ``wayline serve`` in a subprocess, driven over HTTP the way clients drive it.

The acceptance tier never imports the server: it runs the installed console script on a
data dir (and, for the PostgreSQL runs, a fresh database), creates workspaces with the CLI,
and asks the admin API what landed. Waits are polls with a deadline, never fixed sleeps.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

T = TypeVar("T")

#: How long ``wayline serve`` may take to answer ``/health`` after it was started.
START_TIMEOUT = 60.0
#: The server's graceful shutdown period (uvicorn's ``timeout_graceful_shutdown`` in cli.py).
GRACE_SECONDS = 30.0
#: How long the background loops may take to catch up with what was acknowledged.
SETTLE_TIMEOUT = 90.0


def wayline_executable() -> str:
    """The console script installed beside the interpreter running the tests."""
    beside = Path(sys.executable).parent / "wayline"
    if beside.exists():
        return str(beside)
    found = shutil.which("wayline")
    if found is None:
        raise RuntimeError("no 'wayline' console script: install the project (scripts/install)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(
    probe: Callable[[], T],
    done: Callable[[T], bool],
    *,
    timeout: float,
    interval: float = 0.1,
) -> T:
    """Call ``probe`` until ``done`` accepts its answer or ``timeout`` passes.

    Returns the last answer either way, so that the caller's assertion shows what was seen.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if done(value) or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


@dataclass(frozen=True, kw_only=True)
class Workspace:
    """A workspace created with ``wayline workspace create --json``."""

    id: str
    name: str
    write_key: str
    admin_token: str

    @property
    def auth(self) -> tuple[str, str]:
        """HTTP Basic credentials, as the Segment SDKs send the write key."""
        return (self.write_key, "")

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}


@dataclass(kw_only=True)
class WaylineServer:
    """One Wayline installation: a data dir, a database, and the process serving it."""

    data_dir: Path
    #: Extra environment for the server and the CLI (``WAYLINE_DATABASE_URL``).
    env: dict[str, str] = field(default_factory=dict)
    #: ``--role`` options; empty runs every role, as a user's plain ``wayline serve`` does.
    roles: tuple[str, ...] = ()
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    _barrier: Workspace | None = None
    _http: httpx.Client | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(base_url=self.url, timeout=30)
        return self._http

    def _environ(self) -> dict[str, str]:
        # The tests' own WAYLINE_* settings must not leak into the server under test.
        base = {k: v for k, v in os.environ.items() if not k.startswith("WAYLINE_")}
        return {**base, **self.env}

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return "(no server log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    # -- the CLI -------------------------------------------------------------------------

    def cli(self, *args: str) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [wayline_executable(), *args, "--data-dir", str(self.data_dir)],
            env=self._environ(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"wayline {' '.join(args)} failed: {done.stderr[-2000:]}"
        return done.stdout

    def create_workspace(self, prefix: str) -> Workspace:
        (ws,) = self.create_workspaces(prefix)
        return ws

    def create_workspaces(self, *prefixes: str) -> list[Workspace]:
        """New workspaces, made by concurrent ``wayline workspace create`` commands.

        The first call also makes the workspace :meth:`barrier` sends to.
        """
        names = [f"{p}-{uuid.uuid4().hex[:8]}" for p in prefixes]
        if self._barrier is None:
            names.append(f"barrier-{uuid.uuid4().hex[:8]}")

        def create(name: str) -> str:
            return self.cli("workspace", "create", name, "--json")

        outputs: list[str] = []
        if self._barrier is None and "WAYLINE_DATABASE_URL" not in self.env:
            # The first command on a new data dir creates the schema; none may race it.
            # (A PostgreSQL database here is a clone of a migrated template.)
            outputs.append(create(names[0]))
        with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
            outputs += pool.map(create, names[len(outputs) :])
        made: list[Workspace] = []
        for name, out in zip(names, outputs, strict=True):
            created = json.loads(out)
            assert created["name"] == name
            made.append(
                Workspace(
                    id=created["workspace_id"],
                    name=name,
                    write_key=created["write_key"],
                    admin_token=created["admin_token"],
                )
            )
        if self._barrier is None:
            self._barrier = made.pop()
        return made

    # -- the process ---------------------------------------------------------------------

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._barrier is None:
            self.create_workspaces()
        command = [
            wayline_executable(),
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        for role in self.roles:
            command += ["--role", role]
        with self.log_path.open("ab") as log:
            log.write(f"\n=== {' '.join(command)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                command, env=self._environ(), stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"wayline serve exited with {self.process.returncode} at start:\n"
                    + self.log_tail()
                )
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"/health did not answer in {START_TIMEOUT} s:\n{self.log_tail()}"
                )
            time.sleep(0.1)

    def signal(self, signum: int) -> None:
        assert self.process is not None, "never started"
        assert self.process.poll() is None, "not running"
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int | None:
        """The exit status, or None if the process is still running after ``timeout``."""
        assert self.process is not None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill9(self) -> None:
        self.signal(signal.SIGKILL)
        assert self.wait(30) == -signal.SIGKILL

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL if it does not go within the grace period."""
        if self._http is not None:
            self._http.close()
            self._http = None
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        status = self.wait(GRACE_SECONDS + 5)
        if status is None:
            self.process.kill()
            self.process.wait(10)
        return status

    # -- asking the admin API ------------------------------------------------------------

    def stats(self, ws: Workspace) -> dict[str, int]:
        r = self.http.get("/api/v1/stats", headers=ws.admin)
        assert r.status_code == 200, r.text
        found: dict[str, int] = r.json()
        return found

    def profile(self, ws: Workspace, any_id: str) -> dict[str, Any] | None:
        r = self.http.get(f"/api/v1/profiles/{any_id}", headers=ws.admin)
        if r.status_code == 404:
            return None
        assert r.status_code == 200, r.text
        found: dict[str, Any] = r.json()
        return found

    def timeline_pages(
        self, ws: Workspace, any_id: str, *, limit: int = 1000
    ) -> Iterator[list[dict[str, Any]]]:
        """Every page of a profile's timeline, following ``next`` to the end."""
        before: str | None = None
        for _ in range(100_000):
            params: dict[str, Any] = {"limit": limit}
            if before is not None:
                params["before"] = before
            r = self.http.get(f"/api/v1/profiles/{any_id}/events", headers=ws.admin, params=params)
            assert r.status_code == 200, r.text
            body = r.json()
            yield body["data"]
            before = body["next"]
            if before is None:
                return
        raise AssertionError("the timeline's `next` tokens never ended")

    def timeline(self, ws: Workspace, any_id: str) -> list[dict[str, Any]]:
        return [event for page in self.timeline_pages(ws, any_id) for event in page]

    def barrier(self, timeout: float = SETTLE_TIMEOUT) -> None:
        """Wait until the background loops have consumed everything acknowledged so far.

        The inbox is consumed in commit order across workspaces, so once an identify sent
        now has become a profile, every event acknowledged before it has been resolved too.
        """
        ws = self._barrier
        assert ws is not None
        user = f"barrier-{uuid.uuid4().hex}"
        r = self.http.post("/v1/identify", json={"userId": user}, auth=ws.auth)
        assert r.status_code == 200, r.text
        found = wait_until(lambda: self.profile(ws, user), lambda p: p is not None, timeout=timeout)
        assert found is not None, (
            f"the profiles loop did not reach an event acknowledged {timeout} s ago:\n"
            + self.log_tail()
        )
