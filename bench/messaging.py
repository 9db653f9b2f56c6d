"""Messaging throughput: template renders/s, and emails/s rendered and delivered to a local
SMTP sink by one in-process dispatcher.

    .venv/bin/python bench/messaging.py [--messages N] [--renders N] [--backends sqlite,postgresql]

* renders/s: an HTML and an MJML template rendered for a customer (Liquid, MJML to HTML,
  the plain-text part), one thread.
* emails/s: N outbox rows of a ``send`` node for N customers are delivered by a
  ``Dispatcher`` (its default thread pool) to an aiosmtpd server on 127.0.0.1: consent
  check, rendering, link tracking, SMTP, the ``Message Sent`` event and the status
  history, counted from the first claim to the last message recorded as sent.

Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import socket
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiosmtpd.controller import Controller

from wayline.channels.config import ChannelConfigs
from wayline.channels.dispatcher import Dispatcher
from wayline.channels.email import EmailChannel
from wayline.channels.templates import Renderer, load_template_text, render_globals
from wayline.channels.tracking import Tracker
from wayline.events import parse_message
from wayline.settings import Settings
from wayline.store import open_store, schema
from wayline.store.outbox import NewMessage, OutboxStore
from wayline.store.sql import SqlStore
from wayline.store.templates import TemplateStore
from wayline.testing import drain_profiles

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

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
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        return "250 OK"


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


def emails_per_second(url: str, n: int, template: str) -> float:
    store = open_store(Settings(database_url=url))
    store.migrate()
    assert isinstance(store, SqlStore)
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        workspace = store.create_workspace("bench").workspace.id
        for text in (HTML, MJML):
            spec = load_template_text(text, "t.yaml")
            TemplateStore(store).apply(workspace, spec.name, spec.channel, spec.as_spec())
        ChannelConfigs(store).set(
            workspace,
            "email",
            {"host": "127.0.0.1", "port": port, "security": "none", "from_email": "b@x.example"},
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
        messages = [
            NewMessage(
                workspace_id=workspace,
                idempotency_key=f"b{i}-{uuid.uuid4().hex}",
                channel="email",
                payload={"template": template, "profile_id": pid, "scope": scope},
                profile_id=pid,
            )
            for i, pid in enumerate(profiles)
        ]
        with store._write() as conn:
            OutboxStore(store).add(conn, messages)
        settings = Settings(database_url=url)
        tracker = Tracker(store, "https://wl.example.com", timedelta(days=30))
        dispatcher = Dispatcher(
            store, settings, store.clock, {"email": EmailChannel(store, tracker)}
        )
        start = time.perf_counter()
        while dispatcher.step():
            pass
        elapsed = time.perf_counter() - start
        dispatcher.close()
        assert sink.count == n, (sink.count, n)
        return n / elapsed
    finally:
        controller.stop()
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--renders", type=int, default=2000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.python_version()}, "
        f"{args.messages} emails, {args.renders} renders"
    )
    print("| measurement | result |")
    print("|---|---|")
    for name, text in (("HTML", HTML), ("MJML", MJML)):
        rate = renders_per_second(text, args.renders)
        print(f"| {name} template renders/s (goal >= 5,000) | {rate:,.0f}/s |")
    for backend in args.backends.split(","):
        tmp = Path(tempfile.mkdtemp())
        try:
            for template in ("html", "mjml"):
                if backend == "sqlite":
                    url = f"sqlite:///{tmp / f'{template}.db'}"
                    rate = emails_per_second(url, args.messages, template)
                else:
                    db = f"wayline_bench_{uuid.uuid4().hex[:8]}"
                    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
                    with admin.connect() as conn:
                        conn.exec_driver_sql(f'CREATE DATABASE "{db}"')
                    try:
                        url = PG_ADMIN.rsplit("/", 1)[0] + f"/{db}"
                        rate = emails_per_second(url, args.messages, template)
                    finally:
                        with admin.connect() as conn:
                            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
                        admin.dispose()
                print(
                    f"| emails/s end to end, {template.upper()}, {backend}, 1 dispatcher "
                    f"(goal >= 1,000) | {rate:,.0f}/s |"
                )
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
