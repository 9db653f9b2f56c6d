"""Previewing a template for a customer, strictly: a missing variable is an error that
names it, where a real send would render it as nothing."""

from __future__ import annotations

from typing import Any

from wayline.channels.templates import Renderer, TemplateSpec, render_globals, workspace_scope
from wayline.errors import ProfileNotFound, WaylineError
from wayline.store.sql import SqlStore
from wayline.store.templates import TemplateStore, VariableStore

#: Stand-ins for the links of a real message.
PREVIEW_LINKS = {
    "id": 0,
    "unsubscribe_url": "https://example.invalid/unsubscribe",
    "open_url": "https://example.invalid/open",
    "preferences_url": "https://example.invalid/preferences",
    "confirm_url": "https://example.invalid/confirm",
}


class TemplateNotFound(WaylineError):
    """No template with this name in the workspace."""


def preview_scope(
    store: SqlStore,
    workspace_id: str,
    customer: str,
    *,
    event: dict[str, Any] | None = None,
    journey: dict[str, Any] | None = None,
) -> tuple[str, dict[str, Any]]:
    """The customer's profile id, and what a template sees for them (stand-in links)."""
    from wayline.channels.email import profile_scope

    view = store.find_profile(workspace_id, customer)
    if view is None:
        raise ProfileNotFound(f"no customer {customer!r}")
    traits = dict(view.profile.traits)
    users = [i.value for i in view.identities if i.kind == "user_id"]
    if users:
        traits["__user_id"] = users[0]
    workspace = store.workspace(workspace_id)
    zone = workspace.timezone if workspace else "UTC"
    return view.profile.id, {
        **render_globals(traits, zone),
        "profile": profile_scope(view.profile.id, traits),
        "event": event or {},
        "journey": journey or {},
        "message": PREVIEW_LINKS,
        "workspace": workspace_scope(
            workspace_id,
            workspace.name if workspace else "",
            zone,
            VariableStore(store, ttl=0).get(workspace_id),
        ),
    }


def latest_spec(store: SqlStore, workspace_id: str, name: str) -> tuple[int, TemplateSpec]:
    stored = TemplateStore(store).latest(workspace_id, name)
    if stored is None:
        raise TemplateNotFound(f"no template {name!r}")
    return stored.version, TemplateSpec.model_validate(stored.spec)


def preview(
    store: SqlStore,
    workspace_id: str,
    name: str,
    customer: str,
    *,
    event: dict[str, Any] | None = None,
    journey: dict[str, Any] | None = None,
    renderer: Renderer | None = None,
) -> dict[str, Any]:
    """The template rendered for the customer (known by any of their ids)."""
    version, spec = latest_spec(store, workspace_id, name)
    profile_id, scope = preview_scope(store, workspace_id, customer, event=event, journey=journey)
    renderer = renderer or Renderer()
    out: dict[str, Any] = {
        "name": name,
        "version": version,
        "channel": spec.channel,
        "profile_id": profile_id,
    }
    if spec.channel == "email":
        rendered = renderer.email(spec, scope, strict=True)
        out.update(
            subject=rendered.subject,
            preheader=rendered.preheader,
            html=rendered.html,
            text=rendered.text,
        )
    elif spec.channel == "inapp":
        from wayline.channels.inapp import render_inapp

        content, html, expires = render_inapp(renderer, spec, scope, store.clock.now(), strict=True)
        out.update(
            placement=spec.placement,
            priority=spec.priority or 0,
            content=content,
            html=html,
            expires_at=expires.isoformat() if expires else None,
        )
    else:
        out["body"] = renderer.sms(spec, scope, strict=True)
    return out
