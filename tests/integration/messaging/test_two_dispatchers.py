"""Two dispatcher processes (``wayline serve --role dispatcher``) on one PostgreSQL database
deliver every queued email and webhook exactly once: each claims its batches with
``FOR UPDATE SKIP LOCKED``, so neither sends a row the other holds.

Which process delivered what is told apart from outside: each dispatcher has its own
public URL, which its emails' unsubscribe links carry, and the webhook receiver looks up
which process holds the other end of each connection (Linux's ``/proc``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.integration.messaging.mailbox import Mailbox, parse
from tests.polling import wait_until
from wayline.channels.config import ChannelConfigs
from wayline.channels.templates import load_template_text
from wayline.events import parse_message
from wayline.settings import Settings
from wayline.store import open_store, schema
from wayline.store.outbox import NewMessage, OutboxStore
from wayline.store.sql import SqlStore
from wayline.store.templates import TemplateStore
from wayline.testing import drain_profiles

N = 60
#: ``wayline`` as the installed command runs it.
PYTHON_CLI = (sys.executable, "-c", "from wayline.cli import main; main()")

TEMPLATE = """\
name: hello
subject: "Hello {{ profile.first_name }}"
html: "<p>Hi {{ profile.first_name }}</p>"
"""


def _socket_owner(local_port: int, remote_port: int, pids: dict[int, int]) -> int | None:
    """Which of ``pids`` (pid: name) holds the loopback TCP socket from ``local_port`` to
    ``remote_port``, read from ``/proc``; None if none of them does."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if int(local.split(":")[1], 16) == local_port and int(remote.split(":")[1], 16) == (
            remote_port
        ):
            inodes.add(f"socket:[{inode}]")
    for pid, name in pids.items():
        fds = Path(f"/proc/{pid}/fd")
        for fd in fds.iterdir():
            try:
                if os.readlink(fd) in inodes:
                    return name
            except OSError:  # closed meanwhile
                continue
    return None


class Hooks:
    """A webhook receiver on 127.0.0.1 that keeps each request's ``webhook-id``, and which
    of the processes in ``senders`` (pid: name) sent it."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.senders: dict[int, int] = {}
        self.sent_by: Counter[int | None] = Counter()
        lock = threading.Lock()
        ids = self.ids
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                # while the sender waits for the answer, its end of the connection is open
                sender = _socket_owner(self.client_address[1], hooks.port, hooks.senders)
                with lock:
                    ids.append(self.headers.get("webhook-id") or "")
                    hooks.sent_by[sender] += 1
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true}')

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Hooks:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.start()
    yield box
    box.stop()


def _customers(store: SqlStore, smtp_port: int) -> tuple[str, list[str]]:
    """A workspace with the email channel set up and N customers with an email address."""
    ws = store.create_workspace("two").workspace.id
    spec = load_template_text(TEMPLATE, "hello.yaml")
    TemplateStore(store).apply(ws, spec.name, spec.channel, spec.as_spec())
    ChannelConfigs(store).set(
        ws,
        "email",
        {"host": "127.0.0.1", "port": smtp_port, "security": "none", "from_email": "a@x.example"},
    )
    now = store.clock.now()
    store.append_events(
        ws,
        [
            parse_message(
                {
                    "type": "identify",
                    "userId": f"u{i}",
                    "traits": {"email": f"u{i}@example.com", "first_name": f"U{i}"},
                    "messageId": f"i{i}",
                },
                received_at=now,
            )
            for i in range(N)
        ],
    )
    drain_profiles(store, timeout=60)
    i = schema.identities
    with store.engine.connect() as conn:
        profiles = list(conn.scalars(sa.select(i.c.profile_id).where(i.c.kind == "user_id")))
    assert len(profiles) == N
    return ws, profiles


def _queue(store: SqlStore, ws: str, profiles: list[str], hook_port: int) -> None:
    messages = [
        NewMessage(
            workspace_id=ws,
            idempotency_key=f"email-{n}",
            channel="email",
            payload={"template": "hello", "scope": {}},
            profile_id=pid,
        )
        for n, pid in enumerate(profiles)
    ] + [
        NewMessage(
            workspace_id=ws,
            idempotency_key=f"hook-{n}",
            channel="webhook",
            payload={"url": f"http://127.0.0.1:{hook_port}/hook", "body": {"n": n}},
        )
        for n in range(N)
    ]
    with store._write() as conn:
        assert OutboxStore(store).add(conn, messages) == 2 * N


def _dispatcher(url: str, data_dir: Path, name: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        # its connections are named in pg_stat_activity, its links name it
        "PGAPPNAME": f"wayline-dispatcher-{name}",
        "WAYLINE_PUBLIC_URL": f"http://dispatcher-{name}.example",
        "WAYLINE_DATABASE_URL": url,
        "WAYLINE_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
        # small batches, so that the two take turns at the outbox
        "WAYLINE_DISPATCH_BATCH_SIZE": "4",
        "WAYLINE_DISPATCH_CONCURRENCY": "4",
    }
    return subprocess.Popen(
        [*PYTHON_CLI, "serve", "--role", "dispatcher", "--log-level", "warning"],
        env=env,
        cwd=data_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _connected(store: SqlStore) -> set[str]:
    """The application names of the sessions on the store's database."""
    with store.engine.connect() as conn:
        return set(
            conn.scalars(
                sa.text(
                    "SELECT application_name FROM pg_stat_activity"
                    " WHERE datname = current_database()"
                )
            )
        )


def _sender(unsubscribe: str) -> int | None:
    """Which dispatcher sent an email, from the host of its unsubscribe link."""
    for name in (0, 1):
        if f"//dispatcher-{name}.example/" in unsubscribe:
            return name
    return None


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_dispatcher_processes_send_every_message_exactly_once(
    database_url: str, tmp_path: Path, mailbox: Mailbox
) -> None:
    store = open_store(Settings(database_url=database_url, data_dir=tmp_path))
    assert isinstance(store, SqlStore)
    try:
        with Hooks() as hooks:
            ws, profiles = _customers(store, mailbox.port)
            procs = [_dispatcher(database_url, tmp_path, name) for name in range(2)]
            try:
                hooks.senders = {p.pid: name for name, p in enumerate(procs)}
                # both are polling the outbox before anything is queued, so that neither
                # can take it all while the other starts
                wait_until(
                    lambda: (
                        _connected(store) >= {"wayline-dispatcher-0", "wayline-dispatcher-1"}
                        or any(p.poll() is not None for p in procs)
                    ),
                    what="both dispatchers to connect to the database",
                    timeout=60,
                )
                _queue(store, ws, profiles, hooks.port)
                wait_until(
                    lambda: (
                        not OutboxStore(store).pending_count()
                        # a dispatcher stopped: its error is shown below
                        or any(p.poll() is not None for p in procs)
                    ),
                    what="the outbox to be empty",
                    timeout=120,
                    interval=0.2,
                )
            finally:
                for p in procs:
                    p.send_signal(signal.SIGTERM)
                errors = [p.communicate(timeout=30)[1].decode() for p in procs]
            assert all(p.returncode == 0 for p in procs), errors
            assert OutboxStore(store).pending_count() == 0, errors
            o, e = schema.outbox, schema.message_events
            with store.engine.connect() as conn:
                states = Counter(conn.scalars(sa.select(o.c.state)))
                sent_events = Counter(
                    conn.scalars(sa.select(e.c.message_id).where(e.c.kind == "sent"))
                )
                attempts = set(conn.scalars(sa.select(o.c.attempts)))
            assert states == {"sent": 2 * N}
            # each email once in the mailbox, each webhook once at the receiver
            ids = Counter(str(parse(raw)["Message-ID"]) for _, _, raw in mailbox.messages)
            assert len(ids) == N
            assert set(ids.values()) == {1}
            recipients = sorted(to for _, tos, _ in mailbox.messages for to in tos)
            assert recipients == sorted(f"u{i}@example.com" for i in range(N))
            hook_ids = Counter(hooks.ids)
            assert len(hook_ids) == N
            assert set(hook_ids.values()) == {1}
            # both dispatchers delivered, and every delivery came from one of them
            emails_by = Counter(
                _sender(str(parse(raw)["List-Unsubscribe"])) for _, _, raw in mailbox.messages
            )
            assert set(emails_by) <= {0, 1}, emails_by
            assert hooks.sent_by.keys() <= {0, 1}, hooks.sent_by
            by = emails_by + Counter({k: n for k, n in hooks.sent_by.items() if k is not None})
            assert by[0] >= 1, by
            assert by[1] >= 1, by
            assert by.total() == 2 * N
            # one claim each, one status history line per email
            assert attempts == {1}
            assert len(sent_events) == N
            assert set(sent_events.values()) == {1}
    finally:
        store.close()
