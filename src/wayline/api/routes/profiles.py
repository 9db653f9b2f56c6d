"""``/api/v1/profiles``: look up, timeline, export, erase."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any, Literal

import orjson
from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from wayline.api.deps import AdminWorkspace, ServicesDep
from wayline.store.base import InboxEvent, ProfileView

router = APIRouter(prefix="/api/v1/profiles", tags=["profiles"])


def _view(view: ProfileView) -> dict[str, Any]:
    p = view.profile
    user_ids = [i.value for i in view.identities if i.kind == "user_id"]
    return {
        "id": p.id,
        "user_id": user_ids[0] if user_ids else None,
        "traits": p.traits,
        "identities": [{"kind": i.kind.value, "value": i.value} for i in view.identities],
        "first_seen": view.first_seen.isoformat() if view.first_seen else None,
        "last_seen": view.last_seen.isoformat() if view.last_seen else None,
        "created_at": p.created_at.isoformat(),
        "updated_at": p.updated_at.isoformat(),
    }


def _find(services: ServicesDep, workspace_id: str, profile_id: str) -> ProfileView:
    view = services.store.find_profile(workspace_id, profile_id)
    if view is None:
        raise HTTPException(404, f"no profile with id, userId, anonymousId or email {profile_id!r}")
    return view


def _page_token(event: InboxEvent) -> str:
    raw = orjson.dumps([event.timestamp.isoformat(), event.seq])
    return base64.urlsafe_b64encode(raw).decode()


def _parse_token(token: str) -> tuple[datetime, int]:
    try:
        when, seq = orjson.loads(base64.urlsafe_b64decode(token.encode()))
        return datetime.fromisoformat(when), int(seq)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise HTTPException(400, "before: not a page token from this API") from None


@router.get("/{profile_id}")
async def get_profile(
    profile_id: str, workspace_id: AdminWorkspace, services: ServicesDep
) -> dict[str, Any]:
    """A profile by its id, a userId, an anonymousId or an email, with traits and identities."""
    view = await run_in_threadpool(_find, services, workspace_id, profile_id)
    return _view(view)


@router.get("/{profile_id}/events")
async def get_profile_events(
    profile_id: str,
    workspace_id: AdminWorkspace,
    services: ServicesDep,
    limit: int = Query(50, ge=1, le=1000),
    before: str | None = Query(None, description="the `next` token of the previous page"),
) -> dict[str, Any]:
    """The customer's timeline, newest first, a page at a time."""
    position = _parse_token(before) if before else None

    def load() -> list[InboxEvent]:
        view = _find(services, workspace_id, profile_id)
        return services.store.profile_events(
            workspace_id, view.profile.id, limit=limit, before=position
        )

    events = await run_in_threadpool(load)
    return {
        "data": [orjson.loads(e.payload) for e in events],
        "next": _page_token(events[-1]) if len(events) == limit else None,
    }


@router.get("/{profile_id}/messages")
async def get_profile_messages(
    profile_id: str,
    workspace_id: AdminWorkspace,
    services: ServicesDep,
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    """Every message to the customer, newest first: channel, template, journey, state and
    status history (queued, sent, dropped, failed, opened, clicked, unsubscribed)."""
    from wayline.store.messages import profile_messages
    from wayline.store.sql import SqlStore

    def load() -> list[dict[str, Any]]:
        view = _find(services, workspace_id, profile_id)
        assert isinstance(services.store, SqlStore)
        return profile_messages(services.store, workspace_id, view.profile.id, limit=limit)

    return {"data": await run_in_threadpool(load)}


@router.get("/{profile_id}/export")
async def export_profile(
    profile_id: str, workspace_id: AdminWorkspace, services: ServicesDep
) -> dict[str, Any]:
    """Everything held about the customer (GDPR access): profile, identities, events,
    messages with their content and status history, journey instances with their trace,
    subscriptions, merged profiles, suppressed addresses."""
    from wayline.customer_export import export_customer
    from wayline.store.sql import SqlStore

    def load() -> dict[str, Any] | None:
        view = _find(services, workspace_id, profile_id)
        assert isinstance(services.store, SqlStore)
        return export_customer(services.store, workspace_id, view.profile.id)

    found = await run_in_threadpool(load)
    if found is None:  # erased between the lookup and the export
        raise HTTPException(404, f"no profile with id, userId, anonymousId or email {profile_id!r}")
    return found


class SubscriptionChange(BaseModel):
    channel: Literal["email", "sms", "inapp"]
    topic: str | None = Field(None, min_length=1, max_length=100, description="None: every topic")
    status: Literal["subscribed", "unsubscribed"]
    confirmed: bool = Field(
        False,
        description="subscribed to a double opt-in group: the customer already confirmed "
        "elsewhere (else a confirmation email goes out and the subscription is pending)",
    )


@router.get("/{profile_id}/subscriptions")
async def get_subscriptions(
    profile_id: str, workspace_id: AdminWorkspace, services: ServicesDep
) -> dict[str, Any]:
    """The customer's recorded choices per channel and topic (``*``: every topic). No row
    means subscribed."""
    from wayline import consent
    from wayline.store.sql import SqlStore

    def load() -> list[dict[str, str]]:
        view = _find(services, workspace_id, profile_id)
        assert isinstance(services.store, SqlStore)
        with services.store.engine.connect() as conn:
            return consent.subscriptions(conn, workspace_id, view.profile.id)

    return {"data": await run_in_threadpool(load)}


@router.put("/{profile_id}/subscriptions")
async def set_subscription(
    profile_id: str,
    body: SubscriptionChange,
    workspace_id: AdminWorkspace,
    services: ServicesDep,
    request: Request,
) -> dict[str, Any]:
    """Record a customer's choice for a channel (and topic), e.g. subscribe them again.
    Subscribing to a double opt-in group records ``pending`` and sends the confirmation
    email, unless ``confirmed`` is true."""
    from wayline import consent
    from wayline.api.routes.preferences import preferences
    from wayline.store.sql import SqlStore

    prefs = preferences(request)

    def run() -> list[dict[str, str]]:
        view = _find(services, workspace_id, profile_id)
        store = services.store
        assert isinstance(store, SqlStore)
        prefs.prepare(workspace_id)
        with store._write() as conn:
            if body.status == "subscribed":
                prefs.subscribe(
                    conn,
                    workspace_id,
                    view.profile.id,
                    body.channel,
                    body.topic,
                    consent.Source.API,
                    confirmed=body.confirmed,
                )
            else:
                consent.set_status(
                    conn,
                    workspace_id=workspace_id,
                    profile_id=view.profile.id,
                    channel=body.channel,
                    topic=body.topic,
                    status=consent.Status.UNSUBSCRIBED,
                    source=consent.Source.API,
                    now=store.clock.now(),
                )
            return consent.subscriptions(conn, workspace_id, view.profile.id)

    return {"data": await run_in_threadpool(run)}


@router.get("/{profile_id}/preferences_url")
async def get_preferences_url(
    profile_id: str, workspace_id: AdminWorkspace, services: ServicesDep, request: Request
) -> dict[str, Any]:
    """The signed link of the customer's hosted preference page (what
    ``{{ message.preferences_url }}`` shows in an email)."""
    from wayline.api.routes.tracking import tracker
    from wayline.channels.tracking import Purpose

    view = await run_in_threadpool(_find, services, workspace_id, profile_id)
    url = tracker(request).customer_url(Purpose.PREFERENCES, workspace_id, view.profile.id)
    return {"url": url}


@router.delete("/{profile_id}")
async def erase_profile(
    profile_id: str, workspace_id: AdminWorkspace, services: ServicesDep
) -> dict[str, Any]:
    """Erase the customer: profile, identities, every event (in the warehouse too),
    messages and their history, journey instances and trace, subscriptions, the rejected
    items that carried their ids. Their email
    addresses and phone numbers stay on the suppression list as salted hashes only."""

    def erase() -> dict[str, Any]:
        view = _find(services, workspace_id, profile_id)
        report = services.store.erase_profile(workspace_id, view.profile.id)
        warehouse: int | None = None
        if services.eraser is not None:
            warehouse = services.eraser.apply_erasures()
        return {
            "erased": True,
            "profile_id": report.profile_id,
            "deleted": {
                "profiles": 1,
                "identities": len(report.identities),
                "events": report.events,
                "merges": report.merges,
                "rejections": report.rejections,
                "warehouse_events": warehouse,
            },
            "warehouse": "erased" if warehouse is not None else "pending",
        }

    return await run_in_threadpool(erase)
