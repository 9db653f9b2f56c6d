"""``/api/v1/workspace/origins``: the web origins allowed to send the workspace's events."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from starlette.concurrency import run_in_threadpool

from wayline.api.deps import AdminWorkspace, ServicesDep
from wayline.api.responses import JSON
from wayline.origins import InvalidOrigin, normalise_origin
from wayline.store.origins import OriginsStore
from wayline.store.sql import SqlStore

router = APIRouter(prefix="/api/v1/workspace/origins", tags=["origins"])


def origins_store(services: ServicesDep) -> OriginsStore:
    assert isinstance(services.store, SqlStore)
    return OriginsStore(services.store)


def _json(origins: list[str]) -> dict[str, Any]:
    return {"origins": origins, "any_origin": not origins}


@router.get("")
async def get_origins(workspace_id: AdminWorkspace, services: ServicesDep) -> dict[str, Any]:
    """The origins whose pages may send events; ``any_origin`` when none are listed."""
    return _json(await run_in_threadpool(origins_store(services).allowed, workspace_id))


@router.put("", response_model=None)
async def put_origins(
    body: Annotated[
        dict[str, Any],
        Body(
            description="The whole list, replacing what was there; an empty list lets any "
            "origin send",
            examples=[{"origins": ["https://shop.example.com", "https://*.example.com"]}],
        ),
    ],
    request: Request,
    workspace_id: AdminWorkspace,
    services: ServicesDep,
) -> dict[str, Any] | JSON:
    """Replace the workspace's origins. A bad one is a ``422`` naming it; nothing changes."""
    given = body.get("origins")
    if not isinstance(given, list):
        return JSON(
            {"error": "origins: expected a list of origins", "field": "origins"}, status_code=422
        )
    normalised: list[str] = []
    for i, text in enumerate(given):
        try:
            if not isinstance(text, str):
                raise InvalidOrigin(repr(text), "expected a string")
            normalised.append(normalise_origin(text))
        except InvalidOrigin as exc:
            field = f"origins[{i}]"
            return JSON({"error": f"{field}: {exc}", "field": field}, status_code=422)
    stored = await run_in_threadpool(origins_store(services).replace, workspace_id, normalised)
    request.app.state.origins.forget(workspace_id)
    return _json(stored)
