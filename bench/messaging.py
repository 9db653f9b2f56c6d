"""Messaging throughput: template renders/s, and emails/s and webhooks/s delivered to local
sinks by one in-process dispatcher or by several dispatcher processes.

    .venv/bin/python bench/messaging.py [--messages N] [--renders N] [--backends sqlite,postgresql]
        [--kinds html,mjml,webhook] [--processes 1,2]

* renders/s: an HTML and an MJML template rendered for a customer (Liquid, MJML to HTML,
  the plain-text part), one thread.
* emails/s: N outbox rows of a ``send`` node for N customers are delivered by
  ``Dispatcher``s (default settings, the standard channels) to an aiosmtpd server on
  127.0.0.1 in a process of its own: consent and controls checks, rendering, link
  tracking, SMTP, the ``Message Sent`` event and the status history, counted from the
  first claim to the last message recorded. With 2 processes (PostgreSQL only), both
  start together once set up.
* webhooks/s: the same with N signed webhook calls to an HTTP server on 127.0.0.1.

Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import platform
import shutil
import socket
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiosmtpd.controller import Controller

from wayline.channels.config import ChannelConfigs
from wayline.channels.dispatcher import Dispatcher, standard_channels
from wayline.channels.templates import Renderer, load_template_text, render_globals
from wayline.events import parse_message
from wayline.settings import Settings
from wayline.store import open_store, schema
from wayline.store.outbox import NewMessage, OutboxStore
from wayline.store.sql import SqlStore
from wayline.store.templates import TemplateStore
from wayline.testing import drain_profiles

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
#: How long one dispatcher may take to empty the outbox before the benchmark gives up.
DRAIN_TIMEOUT = 600.0

HTML = """\
name: html
subject: "{{ profile.first_name | default: 'Hello' }}, your cart is waiting"
preheader: "{{ event.properties.price | money }} in your cart"
html: |
  <html><body><p>Hi {{ profile.first_name }},</p>
  <p>You left something worth {{ event.properties.price | money }}.</p>
  <p><a href="https://shop.example.com/cart/{{ journey.key }}">Back to my cart</a></p>
  <p><a href="{{ message.unsubscribe_url }}">Unsubscribe</a></p></body></html>
"""
MJML = """\
name: mjml
subject: "{{ profile.first_name | default: 'Hello' }}, your cart is waiting"
mjml: |
  <mjml><mj-body><mj-section><mj-column>
    <mj-text>Hi {{ profile.first_name }},</mj-text>
    <mj-text>You left something worth {{ event.properties.price | money }}.</mj-text>
    <mj-button href="https://shop.example.com/cart/{{ journey.key }}">Back to my cart</mj-button>
    <mj-text><a href="{{ message.unsubscribe_url }}">Unsubscribe</a></mj-text>
  </mj-column></mj-section></mj-body></mjml>
"""


class Sink:
    """Counts what the SMTP server accepts."""

    def __init__(self, counter: Any) -> None:
        self.counter = counter

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.counter.get_lock():
            self.counter.value += 1
        return "250 OK"


def smtp_sink(port: int, counter: Any, ready: Any, stop: Any) -> None:
    """An aiosmtpd server in a process of its own: the server is not Wayline's work."""
    controller = Controller(Sink(counter), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


class _SmtpSession(asyncio.Protocol):
    """Just enough SMTP for smtplib: EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""

    def __init__(self, counter: Any) -> None:
        self.counter = counter
        self.buffer = b""
        self.in_data = False

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.in_data:
                end = self.buffer.find(b"\r\n.\r\n")
                if end < 0:
                    return
                self.buffer = self.buffer[end + 5 :]
                self.in_data = False
                with self.counter.get_lock():
                    self.counter.value += 1
                self.transport.write(b"250 OK\r\n")
                continue
            line, sep, rest = self.buffer.partition(b"\r\n")
            if not sep:
                return
            self.buffer = rest
            verb = line[:4].upper()
            if verb == b"EHLO":
                self.transport.write(b"250-sink\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                self.in_data = True
                self.transport.write(b"354 go on\r\n")
            elif verb == b"QUIT":
                self.transport.write(b"221 bye\r\n")
                self.transport.close()
                return
            else:
                self.transport.write(b"250 OK\r\n")


def minimal_smtp_sink(port: int, counter: Any, ready: Any, stop: Any) -> None:
    """A bare asyncio SMTP server (see :class:`_SmtpSession`) in a process of its own, so
    that the sink takes as little as possible of the cores the dispatchers share."""

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _SmtpSession(counter), "127.0.0.1", port)
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.1)
        server.close()

    asyncio.run(serve())


def webhook_sink(port: int, counter: Any, ready: Any, stop: Any) -> None:
    """A webhook receiver (HTTP/1.1, keep-alive) in a process of its own."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            with counter.get_lock():
                counter.value += 1
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ready.set()
    stop.wait()
    server.shutdown()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def renders_per_second(text: str, n: int) -> float:
    spec = load_template_text(text, "t.yaml")
    renderer = Renderer()
    traits = {"first_name": "Ann", "email": "ann@example.com"}
    scope = {
        **render_globals(traits, "UTC"),
        "profile": traits,
        "event": {"properties": {"price": 30}},
        "journey": {"key": "c1"},
        "message": {"unsubscribe_url": "https://wl.example.com/t/unsubscribe/x"},
    }
    renderer.email(spec, scope, strict=False)
    start = time.perf_counter()
    for _ in range(n):
        renderer.email(spec, scope, strict=False)
    return n / (time.perf_counter() - start)


def dispatcher_settings(url: str) -> Settings:
    return Settings(
        database_url=url, public_url="https://wl.example.com", webhook_allowed_hosts="127.0.0.1"
    )


def run_dispatcher(url: str, cpu: Any, ready: Any, go: Any, done: Any = None) -> None:
    """One dispatcher (the standard channels) until the outbox is empty; ``done`` is set
    then, before the process winds down, and the CPU seconds it took (every thread of the
    process) added to ``cpu``."""
    settings = dispatcher_settings(url)
    store = open_store(settings)
    assert isinstance(store, SqlStore)
    dispatcher = Dispatcher(
        store, settings, store.clock, standard_channels(store, settings, store.clock)
    )
    outbox = OutboxStore(store)
    if ready is not None:
        ready.set()
        go.wait()
    used = time.process_time()
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while True:
        if not dispatcher.step():
            if not outbox.pending_count():
                break
            if time.monotonic() >= deadline:
                raise RuntimeError(f"the outbox was not empty after {DRAIN_TIMEOUT:g} s")
            time.sleep(0.01)  # the other dispatcher's last batch
    with cpu.get_lock():
        cpu.value += time.process_time() - used
    if done is not None:
        done.set()
    dispatcher.close()
    store.close()


def delivered_per_second(
    url: str, n: int, what: str, processes: int, smtp_port: int, hook_port: int, counter: Any
) -> tuple[float, float]:
    """Messages/s, and the dispatchers' CPU milliseconds per message (what a shared machine
    changes least). ``what``: an email template (html, mjml) or ``webhook``."""
    store = open_store(Settings(database_url=url))
    store.migrate()
    assert isinstance(store, SqlStore)
    try:
        workspace = store.create_workspace("bench").workspace.id
        for text in (HTML, MJML):
            spec = load_template_text(text, "t.yaml")
            TemplateStore(store).apply(workspace, spec.name, spec.channel, spec.as_spec())
        ChannelConfigs(store).set(
            workspace,
            "email",
            {
                "host": "127.0.0.1",
                "port": smtp_port,
                "security": "none",
                "from_email": "b@x.example",
            },
        )
        now = datetime.now(UTC)
        calls = [
            parse_message(
                {
                    "type": "identify",
                    "userId": f"u{i}",
                    "traits": {"email": f"u{i}@example.com", "first_name": f"U{i}"},
                    "messageId": f"i{i}",
                },
                received_at=now,
            )
            for i in range(n)
        ]
        for first in range(0, n, 500):
            store.append_events(workspace, calls[first : first + 500])
        drain_profiles(store, timeout=120)
        p = schema.identities
        with store.engine.connect() as conn:
            query = sa.select(p.c.profile_id).where(p.c.kind == "user_id")
            profiles = [r.profile_id for r in conn.execute(query)]
        scope = {"event": {"properties": {"price": 30}}, "journey": {"key": "c1"}}
        hook = {"url": f"http://127.0.0.1:{hook_port}/hook", "body": {"cart": "c1"}}
        messages = [
            NewMessage(
                workspace_id=workspace,
                idempotency_key=f"b{i}-{uuid.uuid4().hex}",
                channel="webhook" if what == "webhook" else "email",
                payload=hook
                if what == "webhook"
                else {"template": what, "profile_id": pid, "scope": scope},
                profile_id=pid,
            )
            for i, pid in enumerate(profiles)
        ]
        with store._write() as conn:
            OutboxStore(store).add(conn, messages)
        with counter.get_lock():
            counter.value = 0
        spawn = multiprocessing.get_context("spawn")
        cpu = spawn.Value("d", 0.0)
        if processes == 1:
            start = time.perf_counter()
            run_dispatcher(url, cpu, None, None)
        else:
            go = spawn.Event()
            readies = [spawn.Event() for _ in range(processes)]
            dones = [spawn.Event() for _ in range(processes)]
            procs = [
                spawn.Process(target=run_dispatcher, args=(url, cpu, ready, go, done))
                for ready, done in zip(readies, dones, strict=True)
            ]
            for proc in procs:
                proc.start()
            for ready in readies:
                ready.wait()
            start = time.perf_counter()
            go.set()
            for done in dones:
                done.wait()
        elapsed = time.perf_counter() - start
        if processes > 1:
            for proc in procs:
                proc.join()
        assert counter.value == n, (counter.value, n)
        return n / elapsed, cpu.value * 1000 / n
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--renders", type=int, default=2000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--kinds", default="html,mjml,webhook")
    parser.add_argument("--processes", default="1,2", help="dispatcher processes to try")
    parser.add_argument(
        "--smtp-sink", choices=("minimal", "aiosmtpd"), default="minimal", help="the SMTP server"
    )
    args = parser.parse_args()
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.python_version()}, "
        f"{args.messages} messages, {args.renders} renders"
    )
    print("| measurement | result | dispatcher CPU per message |")
    print("|---|---|---|")
    for name, text in (("HTML", HTML), ("MJML", MJML)):
        rate = renders_per_second(text, args.renders)
        print(f"| {name} template renders/s (goal >= 5,000) | {rate:,.0f}/s | |")
    spawn = multiprocessing.get_context("spawn")
    counter, stop = spawn.Value("i", 0), spawn.Event()
    smtp_port, hook_port = free_port(), free_port()
    readies = [spawn.Event(), spawn.Event()]
    sinks = [
        spawn.Process(
            target=minimal_smtp_sink if args.smtp_sink == "minimal" else smtp_sink,
            args=(smtp_port, counter, readies[0], stop),
        ),
        spawn.Process(target=webhook_sink, args=(hook_port, counter, readies[1], stop)),
    ]
    for sink in sinks:
        sink.start()
    for ready in readies:
        ready.wait()
    try:
        for backend in args.backends.split(","):
            for what in args.kinds.split(","):
                for processes in (int(p) for p in args.processes.split(",")):
                    if backend == "sqlite" and processes > 1:
                        continue  # one writer: SQLite deployments run one dispatcher
                    ports = (smtp_port, hook_port)
                    rate, cpu = measure(backend, args.messages, what, processes, ports, counter)
                    unit = "webhooks" if what == "webhook" else f"emails ({what.upper()})"
                    print(
                        f"| {unit}/s end to end, {backend}, {processes} dispatcher"
                        f"{'s' if processes > 1 else ''} | {rate:,.0f}/s | {cpu:.1f} ms |"
                    )
    finally:
        stop.set()
        for sink in sinks:
            sink.join()


def measure(
    backend: str, n: int, what: str, processes: int, ports: tuple[int, int], counter: Any
) -> tuple[float, float]:
    if backend == "sqlite":
        tmp = Path(tempfile.mkdtemp())
        try:
            url = f"sqlite:///{tmp / 'bench.db'}"
            return delivered_per_second(url, n, what, processes, *ports, counter)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    db = f"wayline_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{db}"')
    try:
        url = PG_ADMIN.rsplit("/", 1)[0] + f"/{db}"
        return delivered_per_second(url, n, what, processes, *ports, counter)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        admin.dispose()


if __name__ == "__main__":
    main()
