"""The ``email`` channel: a template rendered for the customer, sent over SMTP.

Per message: the workspace's SMTP settings, the latest version of the template, the
customer's address (``traits.email``, else their email identity) and traits as they are
now. The HTML part has its links tracked and an open pixel; the plain-text part is the
template's ``text`` or is made from the HTML. A marketing email (not ``transactional``)
always carries an unsubscribe link: ``List-Unsubscribe`` with ``List-Unsubscribe-Post:
List-Unsubscribe=One-Click`` (RFC 8058), and a visible link, added at the bottom when
the template has none. The Message-ID is derived from the outbox row, the same on every
retry, so a receiver can tell a repeat.

Connections are kept per dispatcher thread and reused; a connection the server closed
is opened again once. 4xx answers and network errors are tried again later, 5xx answers
are permanent (an authentication failure is tried again: it is fixed by configuration).
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Literal

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, field_validator

from wayline.channels import markup, mime
from wayline.channels.base import Delivery
from wayline.channels.config import ChannelConfigs
from wayline.channels.netguard import AllowList, TargetRefused
from wayline.channels.secrets import stored_secret
from wayline.channels.smtp import SmtpConnections, judge, wire_bytes
from wayline.channels.templates import (
    RenderedEmail,
    Renderer,
    RenderError,
    TemplateSpec,
    liquid_leaves,
    render_globals,
    workspace_scope,
)
from wayline.channels.tracking import (
    MessageLinks,
    Purpose,
    Tracker,
    add_pixel,
    host,
    track_links,
    written_hosts,
)
from wayline.errors import WaylineError
from wayline.store import schema
from wayline.store.base import Workspace
from wayline.store.outbox import OutboxMessage
from wayline.store.profiles import traits_of
from wayline.store.sql import SqlStore
from wayline.store.templates import StoredTemplate, TemplateStore, VariableStore

log = logging.getLogger("wayline.channels.email")

#: Names of the email secrets in ``workspace_secrets``.
SMTP_PASSWORD = "email_smtp_password"
DKIM_PRIVATE_KEY = "email_dkim_private_key"
#: Headers signed by DKIM, when present.
DKIM_HEADERS = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
    b"mime-version",
    b"content-type",
)


class EmailNotSetUp(WaylineError):
    """Email is not set up for this workspace."""


class EmailNotSent(WaylineError):
    """The SMTP server did not take the message."""


class EmailSettings(BaseModel):
    """A workspace's email settings (``PUT /api/v1/channels/email``); no secrets here."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1)
    port: int = Field(587, ge=1, le=65535)
    #: starttls: plain connection upgraded with STARTTLS (port 587); tls: TLS from the
    #: start (port 465); none: no encryption (a relay on the same host, tests).
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    from_email: str
    from_name: str | None = None
    reply_to: str | None = None
    #: DKIM signing: the domain (d=) and selector (s=); the key is a secret.
    dkim_domain: str | None = None
    dkim_selector: str | None = None

    @field_validator("from_email", "reply_to")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not valid_address(value):
            raise ValueError(f"not an email address: {value!r}")
        return value


def valid_address(value: str) -> bool:
    """An address by RFC 5321/5322 syntax, with a domain that has a dot (email-validator;
    no DNS look-up): never a name, a second address or a header smuggled in."""
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def message_id_for(message: OutboxMessage, domain: str) -> str:
    digest = hashlib.sha256(f"{message.workspace_id}:{message.idempotency_key}".encode())
    return f"<{digest.hexdigest()[:32]}@{domain}>"


def _unsubscribe_footer(url: str) -> str:
    return (
        '<div style="font-family:sans-serif;font-size:12px;color:#666;text-align:center;'
        f'padding:16px">Don\'t want these emails? <a href="{url}">Unsubscribe</a></div>'
    )


def _bodies(
    rendered: RenderedEmail,
    links: MessageLinks,
    *,
    marketing: bool,
    keep: Callable[[str], bool],
    track: bool,
) -> tuple[str, str]:
    """The HTML (links tracked, open pixel) and plain text sent, with the visible
    unsubscribe link of a marketing email."""
    body, text = rendered.html, rendered.text
    if marketing and links.unsubscribe_url not in body:
        body = markup.before_body_end(body, _unsubscribe_footer(links.unsubscribe_url))
    if marketing and links.unsubscribe_url not in text:
        text = text.rstrip("\n") + f"\n\nUnsubscribe: {links.unsubscribe_url}\n"
    if track:
        body = add_pixel(track_links(body, links.click, keep), links.open_url)
    return body, text


def _headers(
    settings: EmailSettings,
    *,
    sender: str,
    to: str,
    subject: str,
    date: str,
    message_id: str,
    links: MessageLinks,
    marketing: bool,
) -> list[tuple[str, str]]:
    headers = [
        ("From", sender),
        ("To", to),
        ("Subject", subject),
        ("Date", date),
        ("Message-ID", message_id),
    ]
    if settings.reply_to:
        headers.append(("Reply-To", settings.reply_to))
    if marketing:
        headers.append(("List-Unsubscribe", f"<{links.unsubscribe_url}>"))
        headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    return headers


def compose(
    rendered: RenderedEmail,
    *,
    settings: EmailSettings,
    to: str,
    message_id: str,
    links: MessageLinks,
    marketing: bool,
    keep: Callable[[str], bool],
    date: str,
    track: bool = True,
) -> EmailMessage:
    """The MIME message: tracked HTML, plain text, and the compliance headers."""
    body, text = _bodies(rendered, links, marketing=marketing, keep=keep, track=track)
    mail = EmailMessage()
    local, _, domain = settings.from_email.rpartition("@")
    sender = Address(settings.from_name or "", local, domain)
    for name, value in _headers(
        settings,
        sender="",
        to=to,
        subject=rendered.subject,
        date=date,
        message_id=message_id,
        links=links,
        marketing=marketing,
    ):
        mail[name] = sender if name == "From" else value
    mail.set_content(text)
    mail.add_alternative(body, subtype="html")
    return mail


def compose_bytes(
    rendered: RenderedEmail,
    *,
    settings: EmailSettings,
    to: str,
    message_id: str,
    links: MessageLinks,
    marketing: bool,
    keep: Callable[[str], bool],
    date: str,
    track: bool = True,
) -> bytes:
    """:func:`compose`'s message as SMTP carries it, written directly (:mod:`mime`) when
    it fits, else through the ``email`` package."""
    headers = _headers(
        settings,
        sender=mime.address(settings.from_name, settings.from_email),
        to=to,
        subject=rendered.subject,
        date=date,
        message_id=message_id,
        links=links,
        marketing=marketing,
    )
    addresses = [settings.from_email, to, settings.reply_to or ""]
    if not mime.writable(headers, addresses) or not (settings.from_name or "").isprintable():
        mail = compose(
            rendered,
            settings=settings,
            to=to,
            message_id=message_id,
            links=links,
            marketing=marketing,
            keep=keep,
            date=date,
            track=track,
        )
        return wire_bytes(mail)
    body, text = _bodies(rendered, links, marketing=marketing, keep=keep, track=track)
    return mime.alternative(headers, text, body)


class _Unread:
    """The workspace was not read beforehand."""


_UNREAD = _Unread()


@dataclass(frozen=True, slots=True)
class _Prepared:
    """What delivering a message needs from the store, read with its batch."""

    #: The latest version of the template, None when there is no email template by its name.
    template: tuple[StoredTemplate, TemplateSpec] | None
    #: The customer's traits (None when they no longer exist) and address.
    recipient: tuple[dict[str, Any] | None, str | None]
    workspace: Workspace | None
    #: The workspace's email settings, None when email is not set up.
    settings: EmailSettings | None


class EmailChannel:
    def __init__(
        self,
        store: SqlStore,
        tracker: Tracker,
        *,
        timeout: float = 30.0,
        renderer: Renderer | None = None,
        allowed_hosts: str = "",
    ) -> None:
        self.store = store
        self.tracker = tracker
        self.configs = ChannelConfigs(store)
        self.templates = TemplateStore(store)
        self.variables = VariableStore(store)
        self.renderer = renderer or Renderer()
        # SMTP servers pass the guard of webhooks; loopback and private networks only when
        # allow-listed (WAYLINE_WEBHOOK_ALLOWED_HOSTS)
        self.smtp = SmtpConnections(timeout, AllowList(allowed_hosts))
        #: What :meth:`prepare` read for each message of the batch, by message id.
        self._prepared: dict[int, _Prepared] = {}

    def settings(self, workspace_id: str) -> EmailSettings | None:
        found = self.configs.get(workspace_id, "email")
        return None if found is None else EmailSettings.model_validate(found)

    def prepare(self, messages: Sequence[OutboxMessage]) -> None:
        """Read what a batch of messages needs in a few queries (templates, workspaces,
        recipients), for :meth:`deliver` to use instead of reading it message by message."""
        templates: dict[tuple[str, str], tuple[StoredTemplate, TemplateSpec] | None] = {}
        workspaces: dict[str, Workspace | None] = {}
        settings: dict[str, EmailSettings | None] = {}
        for m in messages:
            key = (m.workspace_id, str(m.payload.get("template") or ""))
            if key not in templates:
                stored = self.templates.latest(*key)
                templates[key] = None
                if stored is not None and stored.channel == "email":
                    templates[key] = (stored, TemplateSpec.model_validate(stored.spec))
            if m.workspace_id not in workspaces:
                workspaces[m.workspace_id] = self.store.workspace(m.workspace_id)
                settings[m.workspace_id] = self.settings(m.workspace_id)
        profiles = {m.profile_id for m in messages if m.profile_id is not None}
        recipients = self._recipients(profiles)
        self._prepared.clear()
        for m in messages:
            key = (m.workspace_id, str(m.payload.get("template") or ""))
            self._prepared[m.id] = _Prepared(
                template=templates[key],
                recipient=recipients.get(m.profile_id or "", (None, None)),
                workspace=workspaces[m.workspace_id],
                settings=settings[m.workspace_id],
            )

    def deliver(self, message: OutboxMessage) -> Delivery:
        payload = message.payload
        name = str(payload.get("template") or "")
        ready = self._prepared.pop(message.id, None)
        if ready is None:
            ready = self._read(message, name)
        settings = ready.settings
        if settings is None:
            return Delivery.transient("email is not set up for this workspace")
        if ready.template is None:
            return Delivery.permanent(f"no email template {name!r}")
        stored, spec = ready.template
        if message.profile_id is None:
            return Delivery.permanent("the message has no recipient")
        traits, address = ready.recipient
        if traits is None:
            return Delivery.permanent("the customer no longer exists")
        if address is None:
            return Delivery.permanent("the customer has no email address")
        links = self.tracker.links(message)
        scope = self.scope(message, traits, links, workspace=ready.workspace)
        try:
            rendered = self.renderer.email(spec, scope, strict=False)
        except RenderError as exc:
            return Delivery.permanent(f"template {name!r}: {exc}")
        domain = settings.from_email.rpartition("@")[2]
        message_id = message_id_for(message, domain)
        wire = compose_bytes(
            rendered,
            settings=settings,
            to=address,
            message_id=message_id,
            links=links,
            marketing=not payload.get("transactional", False),
            keep=self._untracked(spec, scope),
            date=formatdate(self.store.clock.now().timestamp(), usegmt=True),
        )
        data = self._signed(message.workspace_id, settings, wire)
        password = (
            stored_secret(self.store, message.workspace_id, SMTP_PASSWORD)
            if settings.username
            else None
        )
        try:
            self.smtp.send(settings, password, settings.from_email, address, data)
        except TargetRefused as exc:
            return Delivery.permanent(str(exc))
        except (smtplib.SMTPException, OSError) as exc:
            return judge(exc)
        return Delivery.ok(
            {
                "to": address,
                "message_id": message_id,
                "subject": rendered.subject,
                "template": name,
                "template_version": stored.version,
            }
        )

    def _untracked(self, spec: TemplateSpec, scope: dict[str, Any]) -> Callable[[str], bool]:
        """Which links are left as they are: Wayline's own, and those to a site that is
        not written in the template or the workspace variables (it came from data)."""
        body = spec.mjml if spec.mjml is not None else spec.html or ""
        variables = [text for _, text in liquid_leaves(scope.get("workspace") or {}, ())]
        hosts = written_hosts([body, *variables])
        return lambda url: self.tracker.is_own(url) or host(url) not in hosts

    def send_test(self, workspace_id: str, name: str, customer: str, to: str) -> dict[str, Any]:
        """Render a template strictly for a customer and send it to ``to``, marked as a
        test: subject prefixed ``[Test]``, links not tracked, nothing recorded."""
        from wayline.channels.preview import PREVIEW_LINKS, latest_spec, preview_scope

        if not valid_address(to):
            raise RenderError("to", f"not an email address: {to!r}")
        version, spec = latest_spec(self.store, workspace_id, name)
        if spec.channel != "email":
            raise RenderError("channel", f"{name!r} is an {spec.channel} template")
        _, scope = preview_scope(self.store, workspace_id, customer)
        settings = self.settings(workspace_id)
        if settings is None:
            raise EmailNotSetUp("email is not set up for this workspace")
        rendered = self.renderer.email(spec, scope, strict=True)
        rendered = RenderedEmail(
            subject=f"[Test] {rendered.subject}",
            preheader=rendered.preheader,
            html=rendered.html,
            text=rendered.text,
        )
        links = MessageLinks(
            open_url=str(PREVIEW_LINKS["open_url"]),
            unsubscribe_url=str(PREVIEW_LINKS["unsubscribe_url"]),
            click=lambda url: url,
        )
        domain = settings.from_email.rpartition("@")[2]
        mail = compose(
            rendered,
            settings=settings,
            to=to,
            message_id=make_msgid(domain=domain),
            links=links,
            marketing=False,
            keep=lambda _url: True,
            date=formatdate(self.store.clock.now().timestamp(), usegmt=True),
            track=False,
        )
        data = self._signed(workspace_id, settings, wire_bytes(mail))
        password = (
            stored_secret(self.store, workspace_id, SMTP_PASSWORD) if settings.username else None
        )
        try:
            self.smtp.send(settings, password, settings.from_email, to, data)
        except TargetRefused as exc:
            raise EmailNotSent(str(exc)) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise EmailNotSent(judge(exc).error) from None
        return {"sent": True, "to": to, "subject": rendered.subject, "template_version": version}

    def _read(self, message: OutboxMessage, name: str) -> _Prepared:
        """What :meth:`prepare` reads, for one message."""
        stored = self.templates.latest(message.workspace_id, name)
        template = None
        if stored is not None and stored.channel == "email":
            template = (stored, TemplateSpec.model_validate(stored.spec))
        recipient: tuple[dict[str, Any] | None, str | None] = (None, None)
        if message.profile_id is not None:
            recipient = self._recipients({message.profile_id}).get(message.profile_id, recipient)
        return _Prepared(
            template=template,
            recipient=recipient,
            workspace=self.store.workspace(message.workspace_id),
            settings=self.settings(message.workspace_id),
        )

    def scope(
        self,
        message: OutboxMessage,
        traits: dict[str, Any],
        links: MessageLinks,
        *,
        workspace: Workspace | _Unread | None = _UNREAD,
    ) -> dict[str, Any]:
        """What the template sees: the customer as they are now, and the journey and
        event as they were when the message was queued."""
        queued = dict(message.payload.get("scope") or {})
        if isinstance(workspace, _Unread):
            workspace = self.store.workspace(message.workspace_id)
        zone = workspace.timezone if workspace else "UTC"
        return {
            **render_globals(traits, zone),
            "journey": queued.get("journey", {"id": message.journey_id}),
            "event": queued.get("event", {}),
            "profile": profile_scope(message.profile_id or "", traits),
            "message": {
                "id": message.id,
                "unsubscribe_url": links.unsubscribe_url,
                "open_url": links.open_url,
                "preferences_url": self.tracker.customer_url(
                    Purpose.PREFERENCES, message.workspace_id, message.profile_id or ""
                ),
                "confirm_url": message.payload.get("confirm_url"),
            },
            "workspace": workspace_scope(
                message.workspace_id,
                workspace.name if workspace else "",
                zone,
                self.variables.get(message.workspace_id),
            ),
        }

    def _recipients(
        self, profile_ids: set[str]
    ) -> dict[str, tuple[dict[str, Any] | None, str | None]]:
        """Each existing customer's traits and address (``traits.email`` when valid, else
        their first email identity; None when neither is a valid address)."""
        wanted = sorted(profile_ids)
        found: dict[str, tuple[dict[str, Any] | None, str | None]] = {}
        p, i = schema.profiles, schema.identities
        with self.store.engine.connect() as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                existing = set(conn.scalars(sa.select(p.c.id).where(p.c.id.in_(chunk))))
                if not existing:
                    continue
                traits = traits_of(conn, existing)
                addresses: dict[str, str | None] = {}
                for pid in existing:
                    email = traits.get(pid, {}).get("email")
                    valid = isinstance(email, str) and valid_address(email)
                    addresses[pid] = email if valid else None
                missing = [pid for pid, a in addresses.items() if a is None]
                if missing:
                    rows = conn.execute(
                        sa.select(i.c.profile_id, i.c.value)
                        .where(i.c.profile_id.in_(missing), i.c.kind == "email")
                        .order_by(i.c.profile_id, i.c.first_seen)
                    )
                    first: dict[str, str] = {}
                    for pid, value in rows:
                        first.setdefault(pid, value)
                    for pid, value in first.items():
                        # never a header made of what the customer typed
                        addresses[pid] = value if valid_address(value) else None
                for pid in existing:
                    found[pid] = (traits.get(pid, {}), addresses[pid])
        return found

    def _signed(self, workspace_id: str, settings: EmailSettings, data: bytes) -> bytes:
        if not (settings.dkim_domain and settings.dkim_selector):
            return data
        key = stored_secret(self.store, workspace_id, DKIM_PRIVATE_KEY)
        if key is None:
            log.warning("workspace %s: DKIM is set up without a key; not signing", workspace_id)
            return data
        import dkim

        header: bytes = dkim.sign(
            data,
            settings.dkim_selector.encode(),
            settings.dkim_domain.encode(),
            key.encode(),
            include_headers=list(DKIM_HEADERS),
        )
        return header + data

    def close(self) -> None:
        self.smtp.close()


def profile_scope(profile_id: str, traits: dict[str, Any]) -> dict[str, Any]:
    shown = {k: v for k, v in traits.items() if not k.startswith("__")}
    return {"id": profile_id, "user_id": traits.get("__user_id"), "traits": shown, **shown}
