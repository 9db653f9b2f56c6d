"""``/api/v1/subscription_groups`` and ``/api/v1/suppressions``: the workspace's consent
settings and its suppression list."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from wayline import subscription_groups as sg
from wayline.addresses import email_address
from wayline.api.deps import AdminWorkspace, ServicesDep
from wayline.api.responses import JSON
from wayline.store import suppressions
from wayline.store.sql import SqlStore

groups_router = APIRouter(prefix="/api/v1/subscription_groups", tags=["consent"])
suppressions_router = APIRouter(prefix="/api/v1/suppressions", tags=["consent"])

_EXAMPLE = {
    "subscription_groups": [
        {
            "channel": "email",
            "topic": "newsletter",
            "name": "Newsletter",
            "default": "opt_in",
            "double_opt_in": True,
            "confirmation_template": "confirm-newsletter",
        },
        {"channel": "email", "topic": "product-updates", "name": "Updates", "default": "opt_out"},
    ]
}


def _store(services: ServicesDep) -> SqlStore:
    assert isinstance(services.store, SqlStore)
    return services.store


def _invalid(field: str | None, message: str, problems: list[dict[str, Any]]) -> JSON:
    return JSON(
        {
            "error": f"{field}: {message}" if field else message,
            "field": field,
            "problems": problems,
        },
        status_code=422,
    )


@groups_router.get("")
async def get_groups(workspace_id: AdminWorkspace, services: ServicesDep) -> dict[str, Any]:
    """The workspace's subscription groups, in the order of its file."""
    store = _store(services)

    def load() -> list[dict[str, Any]]:
        with store.engine.connect() as conn:
            return [g.to_json() for g in sg.groups(conn, workspace_id)]

    return {"subscription_groups": await run_in_threadpool(load)}


@groups_router.put("", response_model=None)
async def put_groups(
    body: Annotated[
        dict[str, Any],
        Body(description="Every group; they replace what was there", examples=[_EXAMPLE]),
    ],
    workspace_id: AdminWorkspace,
    services: ServicesDep,
) -> dict[str, Any] | JSON:
    """Replace the workspace's subscription groups; the next message is checked against
    them. A problem answers ``422`` naming the field; nothing is stored then."""
    try:
        spec = sg.groups_from_data(body)
    except sg.SubscriptionGroupsInvalid as exc:
        first = exc.problems[0]
        return _invalid(
            first.path,
            first.message,
            [{"field": p.path, "message": p.message} for p in exc.problems],
        )
    store = _store(services)
    missing = await run_in_threadpool(sg.missing_templates, store, workspace_id, spec)
    if missing:
        index = next(
            i
            for i, g in enumerate(spec.subscription_groups)
            if g.confirmation_template == missing[0]
        )
        field = f"subscription_groups[{index}].confirmation_template"
        message = f"no email template {missing[0]!r} in this workspace"
        return _invalid(field, message, [{"field": field, "message": message}])
    stored = await run_in_threadpool(sg.put_groups, store, workspace_id, spec)
    return {"subscription_groups": [g.to_json() for g in stored]}


class NewSuppression(BaseModel):
    channel: Literal["email", "sms"]
    address: str = Field(min_length=3, max_length=255)
    detail: str | None = Field(None, max_length=2000)


@suppressions_router.get("")
async def list_suppressions(
    workspace_id: AdminWorkspace,
    services: ServicesDep,
    channel: Literal["email", "sms"] | None = Query(None),
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    """The suppression list, newest first. Rows of erased customers show no address."""
    store = _store(services)

    def load() -> list[dict[str, Any]]:
        with store.engine.connect() as conn:
            return [
                s.to_json()
                for s in suppressions.listing(conn, workspace_id, channel=channel, limit=limit)
            ]

    return {"data": await run_in_threadpool(load)}


@suppressions_router.get("/{channel}/{address}")
async def get_suppression(
    channel: Literal["email", "sms"],
    address: str,
    workspace_id: AdminWorkspace,
    services: ServicesDep,
) -> dict[str, Any]:
    """Whether this address is suppressed (an erased customer's too: by its hash)."""
    store = _store(services)

    def load() -> suppressions.Suppression | None:
        with store.engine.connect() as conn:
            return suppressions.find(conn, workspace_id, channel, address)

    found = await run_in_threadpool(load)
    if found is None:
        raise HTTPException(404, f"{address!r} is not on the {channel} suppression list")
    return found.to_json()


@suppressions_router.post("", status_code=201)
async def add_suppression(
    body: NewSuppression, workspace_id: AdminWorkspace, services: ServicesDep
) -> dict[str, Any]:
    """Suppress an address by hand (reason ``manual``); nothing more is sent to it."""
    store = _store(services)
    if body.channel == "email" and email_address(body.address) is None:
        raise HTTPException(422, f"address: not an email address: {body.address!r}")

    def run() -> bool:
        with store._write() as conn:
            return suppressions.suppress(
                store,
                conn,
                workspace_id,
                body.channel,
                body.address,
                suppressions.Reason.MANUAL,
                store.clock.now(),
                body.detail,
            )

    added = await run_in_threadpool(run)
    return {"channel": body.channel, "address": body.address, "added": added}


@suppressions_router.delete("/{channel}/{address}")
async def remove_suppression(
    channel: Literal["email", "sms"],
    address: str,
    workspace_id: AdminWorkspace,
    services: ServicesDep,
) -> dict[str, Any]:
    """Take an address off the list (e.g. a mailbox that works again)."""
    store = _store(services)

    def run() -> bool:
        with store._write() as conn:
            return suppressions.unsuppress(conn, workspace_id, channel, address)

    if not await run_in_threadpool(run):
        raise HTTPException(404, f"{address!r} is not on the {channel} suppression list")
    return {"channel": channel, "address": address, "removed": True}
