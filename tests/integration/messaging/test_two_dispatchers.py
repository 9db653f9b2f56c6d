"""Two dispatcher processes (``wayline serve --role dispatcher``) on one PostgreSQL database
deliver every queued email and webhook exactly once: each claims its batches with
``FOR UPDATE SKIP LOCKED``, so neither sends a row the other holds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.integration.messaging.mailbox import Mailbox, parse
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


class Hooks:
    """A webhook receiver on 127.0.0.1 that keeps each request's ``webhook-id``."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        lock = threading.Lock()
        ids = self.ids

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                with lock:
                    ids.append(self.headers.get("webhook-id") or "")
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


def _queue(store: SqlStore, smtp_port: int, hook_port: int) -> str:
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
    return ws


def _dispatcher(url: str, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
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


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_dispatcher_processes_send_every_message_exactly_once(
    database_url: str, tmp_path: Path, mailbox: Mailbox
) -> None:
    store = open_store(Settings(database_url=database_url, data_dir=tmp_path))
    assert isinstance(store, SqlStore)
    try:
        with Hooks() as hooks:
            _queue(store, mailbox.port, hooks.port)
            procs = [_dispatcher(database_url, tmp_path) for _ in range(2)]
            try:
                deadline = time.monotonic() + 120
                while OutboxStore(store).pending_count() and time.monotonic() < deadline:
                    if any(p.poll() is not None for p in procs):
                        break  # a dispatcher stopped: its error is shown below
                    time.sleep(0.2)
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
            # one claim each, one status history line per email
            assert attempts == {1}
            assert len(sent_events) == N
            assert set(sent_events.values()) == {1}
    finally:
        store.close()
