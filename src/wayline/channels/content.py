"""What a customer sees on a placement, and what they did with it.

The customer is named as the site knows them (a ``userId``, else an ``anonymousId``) and
found through the identity tables, so an anonymous visitor who later logs in keeps the
content sent to either. The content served is the customer's highest-priority item that
is neither expired nor dismissed (newest among equals), else the placement's first rule
that applies (``channels/placements.py``).

Serving an item for the first time puts ``Content Delivered`` on the customer's timeline;
the site reports ``Content Viewed``, ``Content Clicked`` and ``Content Dismissed``. They
are ordinary ``track`` events, so journeys wait for them and branch on them. A dismissed
item is not served again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.channels.placements import Defaults, PlacementSpec, latest_event
from wayline.channels.verification import Verifier
from wayline.events import parse_message
from wayline.store import schema
from wayline.store.content import ContentItem, ContentStore, PlacementStore
from wayline.store.messages import MessageEvent, record
from wayline.store.outbox import OutboxStore
from wayline.store.profiles import traits_of
from wayline.store.sql import SqlStore

#: Event names (persisted: never rename).
CONTENT_DELIVERED = "Content Delivered"
CONTENT_VIEWED = "Content Viewed"
CONTENT_CLICKED = "Content Clicked"
CONTENT_DISMISSED = "Content Dismissed"


class Engagement(StrEnum):
    #: Shown to the customer.
    VIEWED = "viewed"
    #: The customer followed it.
    CLICKED = "clicked"
    #: The customer closed it: it is not served again.
    DISMISSED = "dismissed"

    @property
    def event(self) -> str:
        return {
            Engagement.VIEWED: CONTENT_VIEWED,
            Engagement.CLICKED: CONTENT_CLICKED,
            Engagement.DISMISSED: CONTENT_DISMISSED,
        }[self]


class PlacementUnknown(LookupError):
    """No such placement in the workspace."""


class ContentUnknown(LookupError):
    """No such content for this customer on this placement."""


class Unverified(PermissionError):
    """The workspace verifies user ids, and this one came without its hash (or a wrong one)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Visitor:
    """The customer as the site names them."""

    user_id: str | None = None
    anonymous_id: str | None = None
    #: ``hex(HMAC-SHA256(secret, userId))``, for workspaces that verify user ids.
    user_hash: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Served:
    placement: str
    #: ``journey`` (sent to this customer), ``default`` (the placement's rule) or ``none``.
    source: str
    content: dict[str, Any] | None = None
    html: str | None = None
    item: ContentItem | None = None
    #: The index of the placement's rule that gave the default content.
    rule: int | None = None

    def as_json(self) -> dict[str, Any]:
        item = self.item
        out: dict[str, Any] = {
            "placement": self.placement,
            "source": self.source,
            "contentId": item.message_id if item else None,
            "content": self.content,
            "html": self.html,
            "expiresAt": item.expires_at.isoformat() if item and item.expires_at else None,
        }
        if item is not None:
            out.update(template=item.template, journeyId=item.journey_id, priority=item.priority)
        if self.rule is not None:
            out["rule"] = self.rule
        return out


class ContentService:
    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.items = ContentStore(store)
        self.placements = PlacementStore(store)
        self.defaults = Defaults(store)
        self.verifier = Verifier(store)

    def profiles_of(self, workspace_id: str, visitor: Visitor) -> list[str]:
        """The profiles the site's ids belong to, the userId's first. Two only for the
        moment between a login and the merge of the anonymous profile into the user's."""
        verify = self.verifier.required(workspace_id)
        if (
            verify
            and visitor.user_id is not None
            and not self.verifier.check(workspace_id, visitor.user_id, visitor.user_hash)
        ):
            raise Unverified(visitor.user_id)
        t = schema.identities
        wanted = [("user_id", visitor.user_id), ("anonymous_id", visitor.anonymous_id)]
        found: list[str] = []
        with self.store.engine.connect() as conn:
            for kind, value in wanted:
                if value is None:
                    continue
                profile_id = conn.scalar(
                    sa.select(t.c.profile_id).where(
                        t.c.workspace_id == workspace_id, t.c.kind == kind, t.c.value == value
                    )
                )
                if profile_id is None or profile_id in found:
                    continue
                if verify and kind == "anonymous_id" and _has_user(conn, str(profile_id)):
                    # a known user's profile: only with that user's verified id
                    continue
                found.append(str(profile_id))
        return found

    def serve(self, workspace_id: str, placement: str, visitor: Visitor) -> Served:
        now = self.store.clock.now()
        profiles = self.profiles_of(workspace_id, visitor)
        profile_id = profiles[0] if profiles else None
        if profiles:
            item = self._current(workspace_id, profiles, placement, now)
            if item is not None:
                if item.served_at is None and self.items.mark_served(item.message_id, now):
                    self._track(
                        workspace_id,
                        visitor,
                        CONTENT_DELIVERED,
                        f"wl-content-delivered-{item.message_id}",
                        _item_properties(item),
                        now,
                    )
                return Served(
                    placement=placement,
                    source="journey",
                    content=item.content,
                    html=item.html,
                    item=item,
                )
        stored = self.placements.get(workspace_id, placement)
        if stored is None:
            raise PlacementUnknown(placement)
        spec = PlacementSpec.model_validate(stored.spec)
        traits: dict[str, Any] = {}
        if profile_id is not None:
            with self.store.engine.connect() as conn:
                traits = traits_of(conn, [profile_id]).get(profile_id, {})
        found = self.defaults.content(spec, workspace_id, profile_id, traits, now)
        if found is None:
            return Served(placement=placement, source="none")
        rule, content, html = found
        return Served(placement=placement, source="default", content=content, html=html, rule=rule)

    def _current(
        self, workspace_id: str, profiles: list[str], placement: str, now: datetime
    ) -> ContentItem | None:
        """The item to serve. One the site dismissed through ``/v1/track`` (a ``Content
        Dismissed`` event naming it in ``properties.message_id``) is marked dismissed here."""
        for _ in range(20):
            item = self.items.current(workspace_id, profiles, placement, now)
            if item is None:
                return None
            with self.store.engine.connect() as conn:
                tracked = latest_event(
                    conn,
                    workspace_id,
                    item.profile_id,
                    CONTENT_DISMISSED,
                    where={
                        "properties.message_id": {"in": [item.message_id, str(item.message_id)]}
                    },
                )
            if tracked is None:
                return item
            self.items.dismiss(item.message_id, now)
        return None

    def engage(
        self,
        workspace_id: str,
        placement: str,
        visitor: Visitor,
        what: Engagement,
        *,
        content_id: int | None,
        message_id: str | None,
        properties: dict[str, Any],
    ) -> bool:
        """Record what the customer did with the content. Returns whether it was new."""
        now = self.store.clock.now()
        props: dict[str, Any] = {**properties, "placement": placement, "channel": "inapp"}
        item: ContentItem | None = None
        profiles = self.profiles_of(workspace_id, visitor)  # verifies the userId
        if content_id is not None:
            item = self.items.get(workspace_id, profiles, content_id) if profiles else None
            if item is None or item.placement != placement:
                raise ContentUnknown(content_id)
            props.update(_item_properties(item))
        else:
            props["source"] = "default"
        # a view or a dismissal counts once per item; clicks (and anything about default
        # content) each count, unless the site gives its own messageId to retry with
        key = message_id or (
            f"wl-content-{what.value}-{content_id}"
            if content_id is not None and what is not Engagement.CLICKED
            else f"wl-content-{what.value}-{uuid.uuid4().hex}"
        )
        new = self._track(workspace_id, visitor, what.event, key, props, now)
        if item is not None:
            if what is Engagement.DISMISSED:
                self.items.dismiss(item.message_id, now)
            else:
                self._history(item, what, now)
        return new

    def _history(self, item: ContentItem, what: Engagement, now: datetime) -> None:
        """Views and clicks go into the message's status history, like email opens."""
        message = OutboxStore(self.store).get(item.message_id)
        if message is None:
            return
        kind = MessageEvent.OPENED if what is Engagement.VIEWED else MessageEvent.CLICKED
        with self.store._write() as conn:
            record(self.store, conn, message, kind, now, detail={"placement": item.placement})

    def _track(
        self,
        workspace_id: str,
        visitor: Visitor,
        event: str,
        key: str,
        properties: dict[str, Any],
        now: datetime,
    ) -> bool:
        call: dict[str, Any] = {
            "type": "track",
            "event": event,
            "messageId": key[:255],
            "timestamp": now.isoformat(),
            "properties": properties,
            "context": {"library": {"name": "wayline"}},
        }
        if visitor.user_id is not None:
            call["userId"] = visitor.user_id
        if visitor.anonymous_id is not None:
            call["anonymousId"] = visitor.anonymous_id
        row = parse_message(call, received_at=now)
        return self.store.append_events(workspace_id, [row]) > 0


def _has_user(conn: Connection, profile_id: str) -> bool:
    t = schema.identities
    return (
        conn.scalar(
            sa.select(t.c.value).where(t.c.profile_id == profile_id, t.c.kind == "user_id").limit(1)
        )
        is not None
    )


def _item_properties(item: ContentItem) -> dict[str, Any]:
    props: dict[str, Any] = {
        "message_id": item.message_id,
        "channel": "inapp",
        "placement": item.placement,
        "template": item.template,
        "journey_id": item.journey_id,
        "node": item.node,
        "source": "journey",
    }
    return {k: v for k, v in props.items() if v is not None}
