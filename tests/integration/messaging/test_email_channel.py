"""The email channel and the dispatcher against a real SMTP server, on both stores:
DKIM, authentication, connection reuse, transactional messages, topics, failures."""

from __future__ import annotations

import base64
import ipaddress
import itertools
import logging
import re
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dkim
import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.integration.messaging.mailbox import Mailbox
from wayline import consent
from wayline.channels.config import ChannelConfigs
from wayline.channels.dispatcher import Dispatcher
from wayline.channels.email import DKIM_PRIVATE_KEY, SMTP_PASSWORD, EmailChannel
from wayline.channels.secrets import set_secret
from wayline.channels.templates import load_template_text
from wayline.channels.tracking import Tracker
from wayline.events import parse_message
from wayline.settings import Settings
from wayline.store import Store
from wayline.store.outbox import NewMessage, OutboxState, OutboxStore
from wayline.store.sql import SqlStore
from wayline.store.templates import TemplateStore, VariableStore
from wayline.testing import ManualClock, drain_profiles

NEWS = """\
name: news
subject: "News for {{ profile.first_name | default: 'you' }}"
html: "<html><body><p>Read <a href='https://example.com/news'>this</a></p></body></html>"
"""


@dataclass
class Post:
    store: SqlStore
    clock: ManualClock
    workspace: str
    mailbox: Mailbox
    dispatcher: Dispatcher
    keys: Iterator[int]

    def customer(self, user: str, **traits: Any) -> str:
        call = {"type": "identify", "userId": user, "traits": traits, "messageId": f"id-{user}"}
        self.store.append_events(
            self.workspace, [parse_message(call, received_at=self.clock.now())]
        )
        drain_profiles(self.store)
        view = self.store.find_profile(self.workspace, user)
        assert view is not None
        return view.profile.id

    def queue(self, profile_id: str, **payload: Any) -> int:
        message = NewMessage(
            workspace_id=self.workspace,
            idempotency_key=f"k{next(self.keys)}",
            channel="email",
            payload={"template": "news", "profile_id": profile_id, "scope": {}, **payload},
            profile_id=profile_id,
        )
        outbox = OutboxStore(self.store)
        with self.store._write() as conn:
            outbox.add(conn, [message])
        return len(self.rows())

    def rows(self) -> list[Any]:
        from wayline.store import schema

        with self.store.engine.connect() as conn:
            return list(conn.execute(schema.outbox.select().order_by(schema.outbox.c.id)))

    def deliver(self) -> None:
        while self.dispatcher.step():
            pass

    def timeline(self, user: str) -> list[dict[str, Any]]:
        drain_profiles(self.store)
        view = self.store.find_profile(self.workspace, user)
        assert view is not None
        events = self.store.profile_events(self.workspace, view.profile.id, limit=100)
        return [orjson.loads(e.payload) for e in reversed(events)]


def _post(store: Store, clock: ManualClock, mailbox: Mailbox, **email: Any) -> Post:
    assert isinstance(store, SqlStore)
    workspace = store.create_workspace("news").workspace.id
    spec = load_template_text(NEWS, "news.yaml")
    TemplateStore(store).apply(workspace, spec.name, spec.channel, spec.as_spec())
    ChannelConfigs(store).set(
        workspace,
        "email",
        {
            "host": "127.0.0.1",
            "port": mailbox.port,
            "security": "none",
            "from_email": "news@example.com",
            **email,
        },
    )
    settings = Settings(public_url="https://wl.example.com", dispatch_concurrency=1)
    tracker = Tracker(store, settings.public_url, timedelta(days=30))
    channel = EmailChannel(store, tracker, allowed_hosts="127.0.0.1")
    dispatcher = Dispatcher(store, settings, clock, {"email": channel})
    return Post(
        store=store,
        clock=clock,
        workspace=workspace,
        mailbox=mailbox,
        dispatcher=dispatcher,
        keys=itertools.count(),
    )


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.start()
    yield box
    box.stop()


@pytest.fixture
def post(store: Store, clock: ManualClock, mailbox: Mailbox) -> Iterator[Post]:
    p = _post(store, clock, mailbox)
    yield p
    p.dispatcher.close()


def test_one_connection_carries_many_messages(post: Post) -> None:
    ids = [post.customer(f"u{i}", email=f"u{i}@example.com") for i in range(3)]
    for profile_id in ids:
        post.queue(profile_id)
    post.deliver()
    assert sorted(m["To"] for m in post.mailbox.received()) == [
        "u0@example.com",
        "u1@example.com",
        "u2@example.com",
    ]
    assert post.mailbox.sessions == 1


def test_transactional_mail_has_no_unsubscribe_and_ignores_opt_outs(post: Post) -> None:
    ann = post.customer("ann", email="ann@example.com", first_name="Ann")
    with post.store._write() as conn:
        consent.set_status(
            conn,
            workspace_id=post.workspace,
            profile_id=ann,
            channel="email",
            topic=None,
            status=consent.Status.UNSUBSCRIBED,
            source=consent.Source.API,
            now=post.clock.now(),
        )
    post.queue(ann, transactional=True)
    post.queue(ann)
    post.deliver()
    (mail,) = post.mailbox.received()
    assert mail["Subject"] == "News for Ann"
    assert mail["List-Unsubscribe"] is None
    body = mail.get_body(preferencelist=("html",))
    assert body is not None
    assert "/t/unsubscribe/" not in body.get_content()
    states = [r.state for r in post.rows()]
    assert states == [OutboxState.SENT.value, OutboxState.DROPPED.value]
    assert post.rows()[1].last_error.startswith("unsubscribed")


def test_a_marketing_mail_without_a_link_gets_one_added(post: Post) -> None:
    ann = post.customer("ann", email="ann@example.com")
    post.queue(ann)
    post.deliver()
    (mail,) = post.mailbox.received()
    html = mail.get_body(preferencelist=("html",))
    text = mail.get_body(preferencelist=("plain",))
    assert html is not None
    assert text is not None
    url = mail["List-Unsubscribe"].strip("<>")
    assert f'<a href="{url}">Unsubscribe</a>' in html.get_content()
    assert f"Unsubscribe: {url}" in text.get_content()


def test_an_opt_out_of_one_topic_leaves_the_others(post: Post) -> None:
    ann = post.customer("ann", email="ann@example.com")
    with post.store._write() as conn:
        consent.set_status(
            conn,
            workspace_id=post.workspace,
            profile_id=ann,
            channel="email",
            topic="tips",
            status=consent.Status.UNSUBSCRIBED,
            source=consent.Source.API,
            now=post.clock.now(),
        )
    post.queue(ann, topic="tips")
    post.queue(ann, topic="orders")
    post.queue(ann)
    post.deliver()
    assert [r.state for r in post.rows()] == ["dropped", "sent", "sent"]
    assert "topic 'tips'" in post.rows()[0].last_error


def test_no_address_or_a_refused_one_is_a_dead_letter_on_the_timeline(post: Post) -> None:
    nobody = post.customer("nobody", first_name="N")
    refused = post.customer("ref", email="refused@example.com")
    post.queue(nobody)
    post.queue(refused)
    post.deliver()
    rows = post.rows()
    assert [r.state for r in rows] == ["dead", "dead"]
    assert rows[0].last_error == "the customer has no email address"
    assert rows[1].last_error.startswith("recipient refused: 550")
    (failed,) = [e for e in post.timeline("ref") if e.get("event") == "Message Failed"]
    assert failed["properties"]["template"] == "news"
    assert "550" in failed["properties"]["error"]


def test_a_4xx_answer_is_tried_again(post: Post) -> None:
    busy = post.customer("busy", email="busy@example.com")
    post.queue(busy)
    post.deliver()
    (row,) = post.rows()
    assert row.state == "pending"
    assert "451" in row.last_error


def test_dkim_signatures_verify(store: Store, clock: ManualClock, mailbox: Mailbox) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    post = _post(store, clock, mailbox, dkim_domain="example.com", dkim_selector="wl1")
    set_secret(post.store, post.workspace, DKIM_PRIVATE_KEY, pem)
    post.queue(post.customer("ann", email="ann@example.com"))
    post.deliver()
    post.dispatcher.close()
    (raw,) = post.mailbox.raw()
    assert raw.startswith(b"DKIM-Signature:")
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"wl1._domainkey.example.com."
        return record

    assert dkim.verify(raw, dnsfunc=dns)
    assert not dkim.verify(raw.replace(b"News for you", b"News for YOU"), dnsfunc=dns)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_login_and_a_wrong_password(
    store: Store, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    box = Mailbox(login=("wl", "s3cret-pw"))
    box.start()
    try:
        post = _post(store, clock, box, username="wl")
        set_secret(post.store, post.workspace, SMTP_PASSWORD, "wrong-pw")
        ann = post.customer("ann", email="ann@example.com")
        caplog.set_level(logging.DEBUG)
        post.queue(ann)
        post.deliver()
        (row,) = post.rows()
        assert row.state == "pending"
        assert row.last_error.startswith("SMTP authentication failed")
        set_secret(post.store, post.workspace, SMTP_PASSWORD, "s3cret-pw")
        clock.advance(hours=2)
        post.deliver()
        assert [r.state for r in post.rows()] == ["sent"]
        assert len(box.received()) == 1
        post.dispatcher.close()
    finally:
        box.stop()
    assert "s3cret-pw" not in caplog.text
    assert "wrong-pw" not in caplog.text


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_starttls_with_a_verified_certificate(
    store: Store, clock: ManualClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = _certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    box = Mailbox(tls=context)
    box.start()
    try:
        # the client trusts only this certificate, through the standard variable
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        post = _post(store, clock, box, security="starttls")
        post.queue(post.customer("ann", email="ann@example.com"))
        post.deliver()
        assert [r.state for r in post.rows()] == ["sent"]
        assert box.tls_sessions == 1
        post.dispatcher.close()
        # a certificate the client does not trust: not sent, tried again later
        monkeypatch.delenv("SSL_CERT_FILE")
        other = _post_again(post)
        other.queue(other.customer("bob", email="bob@example.com"))
        other.deliver()
        assert other.rows()[-1].state == "pending"
        assert "CERTIFICATE_VERIFY_FAILED" in other.rows()[-1].last_error
        other.dispatcher.close()
    finally:
        box.stop()
    assert len(box.received()) == 1


def _post_again(post: Post) -> Post:
    settings = Settings(public_url="https://wl.example.com", dispatch_concurrency=1)
    tracker = Tracker(post.store, settings.public_url, timedelta(days=30))
    channel = EmailChannel(post.store, tracker, allowed_hosts="127.0.0.1")
    dispatcher = Dispatcher(post.store, settings, post.clock, {"email": channel})
    return Post(
        store=post.store,
        clock=post.clock,
        workspace=post.workspace,
        mailbox=post.mailbox,
        dispatcher=dispatcher,
        keys=itertools.count(100),
    )


def test_links_keep_working_after_the_customer_is_merged(post: Post) -> None:
    visitor = post.customer("v", email="visitor@example.com")
    post.queue(visitor)
    post.deliver()
    (mail,) = post.mailbox.received()
    html = mail.get_body(preferencelist=("html",))
    assert html is not None
    click = next(
        u for u in re.findall(r"href=['\"]([^'\"]+)", html.get_content()) if "/click/" in u
    )
    unsubscribe = mail["List-Unsubscribe"].strip("<>")

    # the visitor turns out to be Ann, who was known under another id: the profiles merge
    ann = post.customer("ann", email="ann@example.com")
    call = {"type": "alias", "userId": "ann", "previousId": "v", "messageId": "merge-1"}
    post.store.append_events(post.workspace, [parse_message(call, received_at=post.clock.now())])
    drain_profiles(post.store)
    merged = post.store.find_profile(post.workspace, "v")
    assert merged is not None
    assert merged.profile.id == post.store.find_profile(post.workspace, "ann").profile.id  # type: ignore[union-attr]

    tracker = Tracker(post.store, "https://wl.example.com", timedelta(days=30))
    token = click.rsplit("/", 1)[1]
    assert tracker.clicked(token) == "https://example.com/news"
    tracker.unsubscribe(unsubscribe.rsplit("/", 1)[1], consent.Source.ONE_CLICK)
    names = [e.get("event") for e in post.timeline("ann")]
    assert names.count("Email Link Clicked") == 1
    assert names.count("Unsubscribed") == 1
    # the opt-out holds for the merged customer
    post.queue(merged.profile.id)
    post.deliver()
    assert post.rows()[-1].state == "dropped"
    assert merged.profile.id in {visitor, ann}


def test_templates_see_the_workspace_variables(post: Post) -> None:
    VariableStore(post.store).replace(post.workspace, {"brand": "Acme"})
    spec = load_template_text(
        "name: news\n"
        "subject: '{{ workspace.brand }} news for {{ workspace.name }}'\n"
        "html: '<p>x</p>'\n",
        "news.yaml",
    )
    TemplateStore(post.store).apply(post.workspace, spec.name, spec.channel, spec.as_spec())
    post.queue(post.customer("ann", email="ann@example.com"))
    post.deliver()
    (mail,) = post.mailbox.received()
    assert mail["Subject"] == "Acme news for news"
    (row,) = post.rows()
    assert orjson.loads(row.result)["template_version"] == 2


def test_an_address_with_a_header_smuggled_in_is_not_used(post: Post) -> None:
    sly = post.customer("sly", email="sly@example.com\r\nBcc: all@example.com")
    post.queue(sly)
    post.deliver()
    (row,) = post.rows()
    assert (row.state, row.last_error) == ("dead", "the customer has no email address")
    assert post.mailbox.received() == []


def test_a_trait_holding_a_link_arrives_as_text_and_is_not_tracked(post: Post) -> None:
    spec = load_template_text(
        "name: news\nsubject: 'News for {{ profile.name }}'\n"
        'html: "<html><body><p>Hi {{ profile.name }}</p>'
        "<p><a href='https://example.com/news'>this</a></p></body></html>\"\n",
        "news.yaml",
    )
    TemplateStore(post.store).apply(post.workspace, spec.name, spec.channel, spec.as_spec())
    name = '<a href="https://evil.example/login">Log in</a>'
    post.queue(post.customer("eve", email="eve@example.com", name=name))
    post.deliver()
    (mail,) = post.mailbox.received()
    assert mail["Subject"] == f"News for {name}"
    html = mail.get_body(preferencelist=("html",))
    text = mail.get_body(preferencelist=("plain",))
    assert html is not None
    assert text is not None
    body = html.get_content()
    assert "Hi &lt;a href=&#34;https://evil.example/login&#34;&gt;Log in&lt;/a&gt;" in body
    # one tracked link: the template's own; none signed for the customer's target
    tokens = re.findall(r"/t/click/([A-Za-z0-9._-]+)", body)
    assert len(tokens) == 1
    targets = [orjson.loads(base64.urlsafe_b64decode(t.split(".")[0] + "=="))["u"] for t in tokens]
    assert targets == ["https://example.com/news"]
    assert f"Hi {name}" in text.get_content()


def test_a_template_over_a_limit_fails_the_message_with_the_reason(post: Post) -> None:
    spec = load_template_text(
        "name: news\nsubject: s\nhtml: '{% for i in (1..1000000) %}x{% endfor %}'\n", "news.yaml"
    )
    TemplateStore(post.store).apply(post.workspace, spec.name, spec.channel, spec.as_spec())
    post.queue(post.customer("ann", email="ann@example.com"))
    post.deliver()
    (row,) = post.rows()
    assert (row.state, row.last_error) == (
        "dead",
        "template 'news': html: the template is over a limit: more than 10000 loop iterations",
    )
    assert post.mailbox.received() == []


def test_an_address_that_only_looks_like_one_is_not_used(post: Post) -> None:
    post.queue(post.customer("ann", email="ann@example..com"))
    post.deliver()
    (row,) = post.rows()
    assert (row.state, row.last_error) == ("dead", "the customer has no email address")
    assert post.mailbox.received() == []


def test_links_are_tracked_where_a_browser_sees_them(post: Post) -> None:
    spec = load_template_text(
        "name: news\nsubject: s\nhtml: |\n"
        "  <html><body><a data-href='https://example.com/d' href=https://example.com/a>A</a>\n"
        "  <a title='1 > 0' href='https://example.com/b'>B</a></body></html>\n",
        "news.yaml",
    )
    TemplateStore(post.store).apply(post.workspace, spec.name, spec.channel, spec.as_spec())
    post.queue(post.customer("ann", email="ann@example.com"))
    post.deliver()
    (mail,) = post.mailbox.received()
    html = mail.get_body(preferencelist=("html",))
    assert html is not None
    body = html.get_content()
    assert "data-href='https://example.com/d'" in body
    tokens = re.findall(r'href="https://wl\.example\.com/t/click/([A-Za-z0-9._-]+)"', body)
    targets = [orjson.loads(base64.urlsafe_b64decode(t.split(".")[0] + "=="))["u"] for t in tokens]
    assert targets == ["https://example.com/a", "https://example.com/b"]
    assert body.index("/t/open/") < body.index("</body>")


def test_a_link_whose_site_comes_from_customer_data_is_not_signed(post: Post) -> None:
    VariableStore(post.store).replace(post.workspace, {"help": "https://help.example.org/faq"})
    spec = load_template_text(
        "name: news\nsubject: s\nhtml: |\n"
        "  <html><body><a href='{{ profile.website }}'>site</a>\n"
        "  <a href='https://example.com/p/{{ profile.website | url_encode }}'>shop</a>\n"
        "  <a href='{{ workspace.help }}'>help</a></body></html>\n",
        "news.yaml",
    )
    TemplateStore(post.store).apply(post.workspace, spec.name, spec.channel, spec.as_spec())
    post.queue(post.customer("eve", email="eve@example.com", website="https://evil.example/x"))
    post.deliver()
    (mail,) = post.mailbox.received()
    html = mail.get_body(preferencelist=("html",))
    assert html is not None
    body = html.get_content()
    assert "href='https://evil.example/x'" in body  # a link, but no redirect of ours
    tokens = re.findall(r"/t/click/([A-Za-z0-9._-]+)", body)
    targets = [orjson.loads(base64.urlsafe_b64decode(t.split(".")[0] + "=="))["u"] for t in tokens]
    assert targets == [
        "https://example.com/p/https%3A%2F%2Fevil.example%2Fx",
        "https://help.example.org/faq",
    ]
