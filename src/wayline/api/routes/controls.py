"""``/api/v1/controls``: the workspace's global controls (frequency caps, quiet hours)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from starlette.concurrency import run_in_threadpool

from wayline.api.deps import AdminWorkspace, ServicesDep
from wayline.api.responses import JSON
from wayline.errors import ControlsInvalid
from wayline.journeys.controls import Controls, controls_from_data
from wayline.store.controls import ControlsStore, StoredControls
from wayline.store.sql import SqlStore

router = APIRouter(prefix="/api/v1/controls", tags=["controls"])

_EXAMPLE = {
    "frequency_caps": [{"channel": "email", "limit": 3, "per": "7d"}],
    "quiet_hours": [
        {
            "channels": ["email", "sms"],
            "from": "21:00",
            "to": "08:00",
            "timezone": "customer",
            "action": "postpone",
        }
    ],
}


def _controls(services: ServicesDep) -> ControlsStore:
    assert isinstance(services.store, SqlStore)
    return ControlsStore(services.store)


def _json(stored: StoredControls | None) -> dict[str, Any]:
    if stored is None:
        return {**Controls().to_data(), "updated_at": None}
    return {**stored.spec, "updated_at": stored.updated_at.isoformat()}


@router.get("")
async def get_controls(workspace_id: AdminWorkspace, services: ServicesDep) -> dict[str, Any]:
    """The workspace's frequency caps and quiet hours (empty lists when none are set)."""
    stored = await run_in_threadpool(_controls(services).get, workspace_id)
    return _json(stored)


@router.put("", response_model=None)
async def put_controls(
    body: Annotated[
        dict[str, Any],
        Body(
            description="The whole controls: frequency_caps and quiet_hours; they replace "
            "what was there",
            examples=[_EXAMPLE],
        ),
    ],
    workspace_id: AdminWorkspace,
    services: ServicesDep,
) -> dict[str, Any] | JSON:
    """Replace the workspace's controls; they apply to the next message a journey queues.

    A problem answers ``422`` naming the field (``quiet_hours[0].action``); nothing is
    stored then.
    """
    try:
        controls = controls_from_data(body)
    except ControlsInvalid as exc:
        first = exc.problems[0]
        return JSON(
            {
                "error": f"{first.path}: {first.message}" if first.path else first.message,
                "field": first.path,
                "problems": [{"field": p.path, "message": p.message} for p in exc.problems],
            },
            status_code=422,
        )
    stored = await run_in_threadpool(_controls(services).put, workspace_id, controls.to_data())
    return _json(stored)
