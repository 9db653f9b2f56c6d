"""The ``inapp`` channel: content for a placement on the customer's site or app.

A template with ``channel: inapp`` names its ``placement`` and holds ``content`` (JSON
whose text values are Liquid) and/or ``html`` (Liquid)::

    name: welcome-back
    channel: inapp
    placement: home-hero
    priority: 10                 # the higher wins on one placement (default 0)
    ttl: 7d                      # served for 7 days after delivery …
    expires: "{{ event.properties.sale_ends }}"   # … or until this time (the earlier)
    content:
      title: "Welcome back, {{ profile.first_name | default: 'friend' }}"
      product: "{{ event.properties.product }}"
    html: "<p>Your {{ event.properties.product }} is waiting</p>"

Delivering renders the template for the customer and stores the result; the content API
(``GET /v1/content/{placement}``) serves it from there. Nothing leaves the process, so
delivery only fails when the template is missing or cannot be rendered.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from wayline.channels.base import Delivery
from wayline.channels.templates import (
    Renderer,
    RenderError,
    TemplateSpec,
    render_globals,
    workspace_scope,
)
from wayline.clock import Clock
from wayline.store import schema
from wayline.store.content import ContentItem, ContentStore
from wayline.store.outbox import OutboxMessage
from wayline.store.profiles import traits_of
from wayline.store.sql import SqlStore
from wayline.store.templates import TemplateStore, VariableStore


class InAppChannel:
    def __init__(self, store: SqlStore, clock: Clock, renderer: Renderer | None = None) -> None:
        self.store = store
        self.clock = clock
        self.content = ContentStore(store)
        self.templates = TemplateStore(store)
        self.variables = VariableStore(store)
        self.renderer = renderer or Renderer()

    def deliver(self, message: OutboxMessage) -> Delivery:
        name = str(message.payload.get("template") or "")
        stored = self.templates.latest(message.workspace_id, name)
        if stored is None or stored.channel != "inapp":
            return Delivery.permanent(f"no in-app template {name!r}")
        if message.profile_id is None:
            return Delivery.permanent("the message has no recipient")
        traits = self._traits(message.profile_id)
        if traits is None:
            return Delivery.permanent("the customer no longer exists")
        spec = TemplateSpec.model_validate(stored.spec)
        queued = dict(message.payload.get("scope") or {})
        scope = message_scope(
            self.store,
            self.variables,
            message.workspace_id,
            message.profile_id,
            traits,
            event=queued.get("event", {}),
            journey=queued.get("journey", {"id": message.journey_id}),
            message={"id": message.id},
        )
        now = self.clock.now()
        try:
            content, html, expires = render_inapp(self.renderer, spec, scope, now, strict=False)
        except RenderError as exc:
            return Delivery.permanent(f"template {name!r}: {exc}")
        assert spec.placement is not None
        item = ContentItem(
            message_id=message.id,
            workspace_id=message.workspace_id,
            profile_id=message.profile_id,
            placement=spec.placement,
            template=name,
            template_version=stored.version,
            journey_id=message.journey_id,
            node=message.node,
            priority=spec.priority or 0,
            content=content,
            html=html,
            created_at=now,
            expires_at=expires,
            dismissed_at=None,
            served_at=None,
        )
        self.content.put(item)
        return Delivery.ok(
            {
                "placement": spec.placement,
                "template": name,
                "template_version": stored.version,
                "expires_at": expires.isoformat() if expires else None,
            }
        )

    def _traits(self, profile_id: str) -> dict[str, Any] | None:
        with self.store.engine.connect() as conn:
            exists = conn.scalar(
                sa.select(schema.profiles.c.id).where(schema.profiles.c.id == profile_id)
            )
            if exists is None:
                return None
            return traits_of(conn, [profile_id]).get(profile_id, {})

    def close(self) -> None:
        pass


def message_scope(
    store: SqlStore,
    variables: VariableStore,
    workspace_id: str,
    profile_id: str | None,
    traits: dict[str, Any],
    *,
    event: dict[str, Any],
    journey: dict[str, Any],
    message: dict[str, Any],
) -> dict[str, Any]:
    """What an in-app template or a placement's rule sees."""
    from wayline.channels.email import profile_scope

    workspace = store.workspace(workspace_id)
    zone = workspace.timezone if workspace else "UTC"
    return {
        **render_globals(traits, zone),
        "profile": profile_scope(profile_id or "", traits),
        "journey": journey,
        "event": event,
        "message": message,
        "workspace": workspace_scope(
            workspace_id, workspace.name if workspace else "", zone, variables.get(workspace_id)
        ),
    }


def render_inapp(
    renderer: Renderer, spec: TemplateSpec, scope: dict[str, Any], now: datetime, *, strict: bool
) -> tuple[dict[str, Any] | None, str | None, datetime | None]:
    """The content, the HTML and the end of an in-app template, for one customer."""
    content = None
    if spec.content is not None:
        content = render_json(renderer, spec.content, "content", scope, strict=strict)
    html = None if spec.html is None else renderer.markup("html", spec.html, scope, strict=strict)
    ends: list[datetime] = []
    if spec.ttl is not None:
        ends.append(now + spec.ttl)
    if spec.expires is not None:
        text = renderer.text("expires", spec.expires, scope, strict=strict).strip()
        if text:
            ends.append(parse_time("expires", text))
    return content, html, min(ends) if ends else None


def render_json(
    renderer: Renderer, value: Any, path: str, scope: dict[str, Any], *, strict: bool
) -> Any:
    """Each text value rendered as Liquid; numbers, booleans and nulls kept."""
    if isinstance(value, str):
        return renderer.text(path, value, scope, strict=strict) if "{" in value else value
    if isinstance(value, dict):
        return {
            k: render_json(renderer, v, f"{path}.{k}", scope, strict=strict)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [
            render_json(renderer, v, f"{path}.{i}", scope, strict=strict)
            for i, v in enumerate(value)
        ]
    return value


def parse_time(field: str, text: str) -> datetime:
    """An ISO 8601 time (a date alone is its midnight UTC; no zone is UTC)."""
    try:
        found = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise RenderError(field, f"not an ISO 8601 time: {text!r}") from None
    return found.replace(tzinfo=UTC) if found.tzinfo is None else found.astimezone(UTC)
