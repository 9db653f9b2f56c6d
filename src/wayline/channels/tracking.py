"""Tracking: the open pixel, tracked links and unsubscribe links of a message.

Each link carries a token: what it is for (open, click, unsubscribe), the workspace, the
message, the customer, the link's target and an expiry, signed with the workspace's
tracking key (HMAC-SHA256). A token that is altered, made up, used for another purpose or
expired is refused, and nothing is recorded. What a valid token records goes into the
message's status history and, as an event, onto the customer's timeline.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import quote, urlsplit

import orjson
from sqlalchemy.engine import Connection

from wayline import consent
from wayline.channels import feedback, markup
from wayline.channels.secrets import TRACKING_SIGNING, generated_secret
from wayline.channels.signing import secret_key
from wayline.errors import WaylineError
from wayline.store.messages import MessageEvent, record
from wayline.store.outbox import OutboxMessage, OutboxStore
from wayline.store.sql import SqlStore

#: Route prefixes of the links (persisted in every message sent: never change).
OPEN_PATH = "/t/open/"
CLICK_PATH = "/t/click/"
UNSUBSCRIBE_PATH = "/t/unsubscribe/"
PREFERENCES_PATH = "/t/preferences/"
CONFIRM_PATH = "/t/confirm/"


class Purpose(StrEnum):
    OPEN = "o"
    CLICK = "c"
    UNSUBSCRIBE = "u"
    #: The customer's preference page (not tied to a message: message id 0).
    PREFERENCES = "p"
    #: The double opt-in confirmation of a subscription (its topic in the token).
    CONFIRM = "d"


class TokenRejected(WaylineError):
    """The link is not valid."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, kw_only=True, slots=True)
class Token:
    purpose: Purpose
    workspace_id: str
    message_id: int
    profile_id: str
    expires: datetime
    url: str | None = None
    topic: str | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(key: bytes, body: str) -> str:
    return _b64(hmac.new(key, f"wayline-tracking.{body}".encode(), hashlib.sha256).digest())


class Tokens:
    """Signs and checks tokens with each workspace's tracking key (kept in memory once read)."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self._keys: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def key(self, workspace_id: str) -> bytes:
        with self._lock:
            found = self._keys.get(workspace_id)
        if found is None:
            found = secret_key(generated_secret(self.store, workspace_id, TRACKING_SIGNING))
            with self._lock:
                self._keys[workspace_id] = found
        return found

    def sign(self, token: Token) -> str:
        data: dict[str, Any] = {
            "k": token.purpose.value,
            "w": token.workspace_id,
            "m": token.message_id,
            "p": token.profile_id,
            "x": int(token.expires.timestamp()),
        }
        if token.url is not None:
            data["u"] = token.url
        if token.topic is not None:
            data["t"] = token.topic
        body = _b64(orjson.dumps(data))
        return f"{body}.{_signature(self.key(token.workspace_id), body)}"

    def verify(self, text: str, purpose: Purpose, now: datetime) -> Token:
        body, dot, signature = text.partition(".")
        try:
            data = orjson.loads(_unb64(body)) if dot else None
        except (ValueError, orjson.JSONDecodeError):
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("w"), str):
            raise TokenRejected(400, "this link is not valid")
        workspace_id = data["w"]
        found = self.store.workspace(workspace_id)
        if found is None or found.id != workspace_id:
            raise TokenRejected(403, "this link is not valid")
        expected = _signature(self.key(workspace_id), body)
        if not hmac.compare_digest(expected, signature):
            raise TokenRejected(403, "this link is not valid")
        try:
            token = Token(
                purpose=Purpose(data["k"]),
                workspace_id=workspace_id,
                message_id=int(data["m"]),
                profile_id=str(data["p"]),
                expires=datetime.fromtimestamp(int(data["x"]), now.tzinfo),
                url=data.get("u"),
                topic=data.get("t"),
            )
        except (KeyError, ValueError, TypeError):
            raise TokenRejected(400, "this link is not valid") from None
        if token.purpose is not purpose:
            raise TokenRejected(403, "this link is not valid here")
        if token.expires < now:
            raise TokenRejected(410, "this link has expired")
        return token


@dataclass(frozen=True, kw_only=True, slots=True)
class MessageLinks:
    """The tracking links of one message, for its template and headers."""

    open_url: str
    unsubscribe_url: str
    click: Callable[[str], str]


#: The tags whose ``href`` is a link a reader clicks.
_LINKS = frozenset({"a", "area"})


def track_links(body: str, click: Callable[[str], str], keep: Callable[[str], bool]) -> str:
    """Every http(s) link of an HTML body, through the click redirect (except ``keep``):
    the first ``href`` of each ``<a>`` and ``<area>`` a browser sees, and nothing else."""

    def swap(href: str) -> str | None:
        url = href.strip()
        scheme, colon, rest = url.partition(":")
        if not colon or scheme.lower() not in ("http", "https") or not rest.startswith("//"):
            return None
        url = f"{scheme.lower()}:{rest}"
        return None if keep(url) else click(url)

    return markup.rewrite_attribute(body, _LINKS, "href", swap)


_WRITTEN_LINK = re.compile(r"https?://[^/\s\"'<>?#{}\\]+", re.IGNORECASE)


def host(url: str) -> str | None:
    """The host of a link, in lower case; None when it has none."""
    try:
        return urlsplit(url.strip()).hostname
    except ValueError:
        return None


def written_hosts(texts: Iterable[str]) -> frozenset[str]:
    """The hosts of the http(s) links written out in these texts (a template's body, the
    workspace variables): the sites a link may be tracked to. A link whose host comes from
    customer data (``href="{{ profile.website }}"``) is left as it is, so that no signed
    redirect of the sender's domain ever leads to a site a customer chose."""
    found = set()
    for text in texts:
        for match in _WRITTEN_LINK.finditer(text):
            name = host(match.group(0))
            if name:
                found.add(name)
    return frozenset(found)


def add_pixel(body: str, open_url: str) -> str:
    """The open pixel, last in the body."""
    pixel = (
        f'<img src="{open_url}" width="1" height="1" alt="" '
        'style="display:block;border:0;width:1px;height:1px" />'
    )
    return markup.before_body_end(body, pixel)


class Tracker:
    """Makes a message's links, and records what customers do with them."""

    def __init__(self, store: SqlStore, public_url: str, lifetime: timedelta) -> None:
        self.store = store
        self.tokens = Tokens(store)
        self.base = public_url.rstrip("/")
        self.lifetime = lifetime
        self.outbox = OutboxStore(store)

    def links(self, message: OutboxMessage) -> MessageLinks:
        expires = self.store.clock.now() + self.lifetime
        profile_id = message.profile_id or ""
        topic = message.payload.get("topic")

        def url(path: str, purpose: Purpose, target: str | None = None) -> str:
            token = Token(
                purpose=purpose,
                workspace_id=message.workspace_id,
                message_id=message.id,
                profile_id=profile_id,
                expires=expires,
                url=target,
                topic=topic if purpose is Purpose.UNSUBSCRIBE else None,
            )
            return self.base + path + quote(self.tokens.sign(token), safe=".-_")

        return MessageLinks(
            open_url=url(OPEN_PATH, Purpose.OPEN),
            unsubscribe_url=url(UNSUBSCRIBE_PATH, Purpose.UNSUBSCRIBE),
            click=lambda target: url(CLICK_PATH, Purpose.CLICK, target),
        )

    def customer_url(
        self,
        purpose: Purpose,
        workspace_id: str,
        profile_id: str,
        *,
        channel: str | None = None,
        topic: str | None = None,
    ) -> str:
        """A link of the customer's own, not of a message: the preference page, or the
        confirmation of a subscription (``channel`` and ``topic`` in the token)."""
        path = PREFERENCES_PATH if purpose is Purpose.PREFERENCES else CONFIRM_PATH
        token = Token(
            purpose=purpose,
            workspace_id=workspace_id,
            message_id=0,
            profile_id=profile_id,
            expires=self.store.clock.now() + self.lifetime,
            url=channel,
            topic=topic,
        )
        return self.base + path + quote(self.tokens.sign(token), safe=".-_")

    def is_own(self, url: str) -> bool:
        return url.startswith(self.base + "/t/")

    # -- what customers do ---------------------------------------------------------------

    def _message(self, token: Token) -> OutboxMessage | None:
        """The message the token is from, or None when it is gone (its customer erased).

        The token's customer is not compared with the message's: a customer merged into
        another since (an anonymous visitor who signed in) keeps working links, and what
        they do is recorded on the profile the message now belongs to.
        """
        message = self.outbox.get(token.message_id)
        if message is None or message.workspace_id != token.workspace_id:
            return None
        return message

    def opened(self, text: str) -> None:
        token = self.tokens.verify(text, Purpose.OPEN, self.store.clock.now())
        message = self._message(token)
        if message is None:
            return
        self._record(message, MessageEvent.OPENED, "", None)
        feedback.emit(
            self.store,
            message,
            feedback.EMAIL_OPENED,
            f"open-{message.id}",
            feedback.message_properties(message),
        )

    def clicked(self, text: str) -> str:
        """Record the click; returns where to send the customer (even when the message is
        gone: the signature proves the target was in it)."""
        token = self.tokens.verify(text, Purpose.CLICK, self.store.clock.now())
        if not token.url or not token.url.startswith(("http://", "https://")):
            raise TokenRejected(400, "this link is not valid")
        message = self._message(token)
        if message is None:
            return token.url
        key = hashlib.sha256(token.url.encode()).hexdigest()[:32]
        self._record(message, MessageEvent.CLICKED, key, {"url": token.url})
        feedback.emit(
            self.store,
            message,
            feedback.EMAIL_LINK_CLICKED,
            f"click-{message.id}-{key}",
            feedback.message_properties(message, url=token.url),
        )
        return token.url

    def check_unsubscribe(self, text: str) -> Token:
        """The token of an unsubscribe link, checked (for the confirmation page)."""
        token = self.tokens.verify(text, Purpose.UNSUBSCRIBE, self.store.clock.now())
        if self._message(token) is None:
            raise TokenRejected(404, "this message is no longer known")
        return token

    def unsubscribe(self, text: str, source: consent.Source) -> None:
        token = self.tokens.verify(text, Purpose.UNSUBSCRIBE, self.store.clock.now())
        message = self._message(token)
        if message is None or message.profile_id is None:
            raise TokenRejected(404, "this message is no longer known")
        profile_id = message.profile_id
        now = self.store.clock.now()

        def choose(conn: Connection) -> None:
            consent.set_status(
                conn,
                workspace_id=message.workspace_id,
                profile_id=profile_id,
                channel=message.channel,
                topic=token.topic,
                status=consent.Status.UNSUBSCRIBED,
                source=source,
                now=now,
                message_id=message.id,
            )
            record(
                self.store,
                conn,
                message,
                MessageEvent.UNSUBSCRIBED,
                now,
                detail={"source": source.value, "topic": token.topic or consent.ALL_TOPICS},
            )

        # the choice first: it is what the law asks for; the event follows (idempotent)
        with self.store._write() as conn:
            choose(conn)
        feedback.emit(
            self.store,
            message,
            feedback.UNSUBSCRIBED,
            f"unsubscribe-{message.id}",
            feedback.message_properties(message, source=source.value),
        )

    def _record(
        self, message: OutboxMessage, kind: MessageEvent, key: str, detail: dict[str, Any] | None
    ) -> None:
        with self.store._write() as conn:
            record(self.store, conn, message, kind, self.store.clock.now(), key=key, detail=detail)
