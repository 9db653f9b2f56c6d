"""SMTP connections pass the network guard that webhooks pass, on both stores: a
workspace's admin cannot point email at Wayline's own network, and what a refused or failed
connection answers does not tell an open port from a closed one."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.integration.messaging.mailbox import Mailbox, free_port
from wayline.channels.config import ChannelConfigs
from wayline.channels.email import EmailChannel, EmailNotSent
from wayline.channels.templates import load_template_text
from wayline.channels.tracking import Tracker
from wayline.events import parse_message
from wayline.store import Store
from wayline.store.sql import SqlStore
from wayline.store.templates import TemplateStore
from wayline.testing import drain_profiles

NEWS = """\
name: news
subject: "News"
html: "<html><body><p>Hello</p></body></html>"
"""
_names = itertools.count()


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.start()
    yield box
    box.stop()


def _workspace(store: Store, host: str, port: int) -> str:
    assert isinstance(store, SqlStore)
    workspace = store.create_workspace(f"news-{next(_names)}").workspace.id
    call = {"type": "identify", "userId": "ann", "traits": {}, "messageId": "id-ann"}
    store.append_events(workspace, [parse_message(call, received_at=store.clock.now())])
    drain_profiles(store)
    spec = load_template_text(NEWS, "news.yaml")
    TemplateStore(store).apply(workspace, spec.name, spec.channel, spec.as_spec())
    ChannelConfigs(store).set(
        workspace,
        "email",
        {"host": host, "port": port, "security": "none", "from_email": "news@example.com"},
    )
    return workspace


def _send(store: Store, workspace: str, allowed_hosts: str = "") -> dict[str, Any]:
    assert isinstance(store, SqlStore)
    tracker = Tracker(store, "https://wl.example.com", timedelta(days=30))
    channel = EmailChannel(store, tracker, timeout=5, allowed_hosts=allowed_hosts)
    try:
        return channel.send_test(workspace, "news", "ann", "ann@example.com")
    finally:
        channel.close()


def _refusal(store: Store, workspace: str, allowed_hosts: str = "") -> str:
    with pytest.raises(EmailNotSent) as caught:
        _send(store, workspace, allowed_hosts)
    return str(caught.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::ffff:127.0.0.1", "10.0.0.1"])
def test_smtp_to_an_internal_address_is_refused_before_connecting(
    store: Store, mailbox: Mailbox, host: str
) -> None:
    workspace = _workspace(store, host, mailbox.port)

    error = _refusal(store, workspace)

    assert "refused" in error
    assert "WAYLINE_WEBHOOK_ALLOWED_HOSTS" in error
    assert mailbox.sessions == 0
    assert mailbox.received() == []


def test_an_open_and_a_closed_internal_port_answer_alike(store: Store, mailbox: Mailbox) -> None:
    open_port = _workspace(store, "127.0.0.1", mailbox.port)
    closed_port = _workspace(store, "127.0.0.1", free_port())

    assert _refusal(store, open_port) == _refusal(store, closed_port)


def test_the_allow_list_lets_smtp_reach_a_local_server(store: Store, mailbox: Mailbox) -> None:
    workspace = _workspace(store, "127.0.0.1", mailbox.port)

    sent = _send(store, workspace, allowed_hosts="127.0.0.1")

    assert sent["sent"] is True
    (mail,) = mailbox.received()
    assert mail["Subject"] == "[Test] News"


def test_a_closed_allowed_port_says_only_that_it_cannot_connect(store: Store) -> None:
    workspace = _workspace(store, "127.0.0.1", free_port())

    error = _refusal(store, workspace, allowed_hosts="127.0.0.1")

    assert "cannot connect to the SMTP server 127.0.0.1:" in error
    assert "refused" not in error.lower()
    assert "errno" not in error.lower()
