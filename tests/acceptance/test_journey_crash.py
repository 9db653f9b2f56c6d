"""Journey workers killed with SIGKILL at random moments while 10,000 customers go through a
journey: afterwards every customer has finished, no step of any customer was taken twice,
there is exactly one outbox row per (customer, sending node), and the webhook sink got
exactly one delivery per row."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import BinaryIO

import pytest
import sqlalchemy as sa

from tests import polling
from tests.acceptance.conftest import installation
from tests.acceptance.harness import WaylineServer, free_port, wait_until, wayline_executable

CUSTOMERS = int(os.environ.get("WAYLINE_TEST_JOURNEY_CUSTOMERS", "10000"))
#: Workers killed (and started again) while the customers go through.
KILLS = 6
JOURNEY = """
id: signup-hook
entry: {{event: Signed Up}}
re_entry: {{policy: once}}
nodes:
  - id: tell_crm
    type: webhook
    url: http://127.0.0.1:{port}/hook
    body: {{user: "{{{{ profile.user_id }}}}"}}
    next: pause
  - id: pause
    type: delay
    duration: 2s
    next: welcome
  - id: welcome
    type: send
    channel: log
    template: welcome
    next: done
  - id: done
    type: exit
"""


class Sink:
    """An HTTP server that counts deliveries by webhook id."""

    def __init__(self) -> None:
        self.deliveries: Counter[str] = Counter()
        lock = threading.Lock()
        deliveries = self.deliveries

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with lock:
                    deliveries[self.headers.get("webhook-id", "?")] += 1
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink()
    yield s
    s.close()


def _database(server: WaylineServer) -> sa.Engine:
    url = server.env.get("WAYLINE_DATABASE_URL") or f"sqlite:///{server.data_dir}/wayline.db"
    return sa.create_engine(
        url.replace("postgresql://", "postgresql+psycopg://", 1), poolclass=sa.NullPool
    )


@dataclass(frozen=True, kw_only=True)
class Progress:
    """How far the customers were, read just before a kill."""

    #: Steps taken by any customer so far.
    steps: int
    #: Customers who have finished the journey.
    done: int
    #: Outbox rows written so far, and how many of them were sent.
    queued: int
    sent: int


def _progress(engine: sa.Engine) -> Progress:
    with engine.connect() as conn:
        steps, done, queued, sent = conn.execute(
            sa.text(
                "SELECT (SELECT count(*) FROM journey_steps),"
                " (SELECT count(*) FROM journey_instances WHERE state = 'done'),"
                " (SELECT count(*) FROM outbox),"
                " (SELECT count(*) FROM outbox WHERE state = 'sent')"
            )
        ).one()
    return Progress(steps=int(steps), done=int(done), queued=int(queued), sent=int(sent))


def _moved_on(engine: sa.Engine, steps: int) -> bool:
    return _progress(engine).steps > steps


def _worker(server: WaylineServer, log: BinaryIO) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [wayline_executable(), "serve", "--data-dir", str(server.data_dir), "--role", "worker"],
        env=server._environ(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )


# 10,000 customers through workers measured by coverage can take longer than the suite's
# 300 s per test
@pytest.mark.timeout(900)
def test_killed_workers_lose_nothing_and_send_nothing_twice(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path, sink: Sink
) -> None:
    with installation(request, backend, tmp_path / "data") as server:
        server.env["WAYLINE_WEBHOOK_ALLOWED_HOSTS"] = "127.0.0.1"
        server.roles = ("api", "profiles", "triggers", "dispatcher")
        ws = server.create_workspace("crash")
        journey = tmp_path / "journey.yaml"
        journey.write_text(JOURNEY.format(port=sink.port))
        server.cli("journeys", "apply", str(journey), "--workspace", ws.name)
        server.start()
        # Every event is sent before the workers start: with SQLite, several processes
        # writing at once can starve the API of the write lock for longer than a client
        # waits (SQLite's busy handler is not fair). What is tested here is the workers.
        for start in range(0, CUSTOMERS, 500):
            batch = [
                {"type": "track", "userId": f"c{i}", "event": "Signed Up", "messageId": f"s{i}"}
                for i in range(start, min(start + 500, CUSTOMERS))
            ]
            assert (
                server.http.post("/v1/batch", json={"batch": batch}, auth=ws.auth).status_code
                == 200
            )
        log = (server.data_dir / "workers.log").open("ab")
        workers = [_worker(server, log), _worker(server, log)]
        engine = _database(server)
        try:
            rng = random.Random(7)
            before_kills: list[Progress] = []
            for _ in range(KILLS):
                # Once the workers have taken steps since the last kill, wait a random
                # moment more, then kill one of them and start it again.
                last = before_kills[-1].steps if before_kills else 0
                polling.wait_until(
                    partial(_moved_on, engine, last),
                    what=f"the workers to take steps after the first {last}",
                    timeout=120,
                    interval=0.05,
                )
                time.sleep(rng.uniform(0.0, 1.0))
                before_kills.append(_progress(engine))
                victim = rng.randrange(len(workers))
                workers[victim].send_signal(signal.SIGKILL)
                assert workers[victim].wait(30) == -signal.SIGKILL
                workers[victim] = _worker(server, log)
            # Every kill landed while customers were part-way through: steps had been taken
            # since the kill before, and customers were still to finish.
            steps = [p.steps for p in before_kills]
            assert steps[0] > 0, before_kills
            assert steps == sorted(set(steps)), before_kills
            assert all(p.done < CUSTOMERS for p in before_kills), before_kills
            assert before_kills[-1].queued > 0, before_kills
            i, o = (
                sa.table("journey_instances", sa.column("state")),
                sa.table("outbox", sa.column("state")),
            )

            def unfinished() -> tuple[int, int]:
                with engine.connect() as conn:
                    left = conn.scalar(
                        sa.select(sa.func.count()).select_from(i).where(i.c.state != "done")
                    )
                    unsent = conn.scalar(
                        sa.select(sa.func.count()).select_from(o).where(o.c.state != "sent")
                    )
                    total = conn.scalar(sa.select(sa.func.count()).select_from(i))
                return (int(left or 0) + abs(CUSTOMERS - int(total or 0)), int(unsent or 0))

            seen = wait_until(unfinished, lambda x: x == (0, 0), timeout=600, interval=1)
            assert seen == (0, 0), server.log_tail()
            with engine.connect() as conn:
                rows = conn.execute(
                    sa.text(
                        "SELECT instance_id, node, count(*) FROM outbox GROUP BY instance_id, node"
                    )
                ).all()
                outcomes: dict[str, int] = {
                    str(outcome): int(n)
                    for outcome, n in conn.execute(
                        sa.text("SELECT outcome, count(*) FROM journey_instances GROUP BY outcome")
                    )
                }
                twice = conn.execute(
                    sa.text(
                        "SELECT instance_id, node, kind FROM journey_steps"
                        " GROUP BY instance_id, node, kind HAVING count(*) > 1"
                    )
                ).all()
                keys = [
                    k
                    for (k,) in conn.execute(
                        sa.text("SELECT idempotency_key FROM outbox WHERE channel = 'webhook'")
                    )
                ]
            assert outcomes == {"completed": CUSTOMERS}
            # two workers never advanced one instance twice: no step was recorded twice
            assert twice == []
            assert len(rows) == 2 * CUSTOMERS
            assert {n for _, _, n in rows} == {1}
            assert len(keys) == CUSTOMERS
            assert sink.deliveries == Counter({k: 1 for k in keys}), (
                f"{sum(sink.deliveries.values())} deliveries for {len(keys)} rows"
            )
        finally:
            for w in workers:
                w.kill()
                w.wait(30)
            log.close()
            engine.dispose()
