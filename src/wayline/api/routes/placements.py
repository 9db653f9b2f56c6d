"""``/api/v1/placements``: in-app placements and their default rules (admin token)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from wayline.api.deps import AdminWorkspace, ServicesDep
from wayline.api.responses import JSON
from wayline.channels.placements import load_placement_text
from wayline.channels.templates import TemplateInvalid
from wayline.store.content import PlacementStore, StoredPlacement
from wayline.store.sql import SqlStore

router = APIRouter(prefix="/api/v1/placements", tags=["content"])


def _store(services: ServicesDep) -> PlacementStore:
    assert isinstance(services.store, SqlStore)
    return PlacementStore(services.store)


def _json(p: StoredPlacement) -> dict[str, Any]:
    return {"name": p.name, "updated_at": p.updated_at.isoformat(), "placement": p.spec}


@router.get("")
async def list_placements(workspace_id: AdminWorkspace, services: ServicesDep) -> dict[str, Any]:
    """Every placement of the workspace, by name."""
    found = await run_in_threadpool(_store(services).list, workspace_id)
    return {"data": [_json(p) for p in found]}


@router.get("/{name}")
async def get_placement(
    name: str, workspace_id: AdminWorkspace, services: ServicesDep
) -> dict[str, Any]:
    found = await run_in_threadpool(_store(services).get, workspace_id, name)
    if found is None:
        raise HTTPException(404, f"no placement {name!r}")
    return _json(found)


@router.put("/{name}")
async def put_placement(
    name: str, request: Request, workspace_id: AdminWorkspace, services: ServicesDep
) -> JSON:
    """Create or replace a placement (the fields of a placement file, as JSON). Problems
    answer 422, each naming its field."""
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise HTTPException(400, f"malformed JSON: {exc}") from None
    if not isinstance(body, dict):
        raise HTTPException(400, "body must be a JSON object")
    if body.setdefault("name", name) != name:
        return JSON(
            {"error": "name: differs from the name in the path", "field": "name"}, status_code=422
        )
    try:
        spec = load_placement_text(orjson.dumps(body).decode(), "<api>")
    except TemplateInvalid as exc:
        first = exc.problems[0]
        return JSON(
            {
                "error": f"{first.path}: {first.message}" if first.path else first.message,
                "field": first.path or None,
                "problems": [{"field": p.path, "error": p.message} for p in exc.problems],
            },
            status_code=422,
        )
    changed = await run_in_threadpool(_store(services).put, workspace_id, spec.name, spec.as_spec())
    return JSON({"name": spec.name, "changed": changed})


@router.delete("/{name}")
async def delete_placement(
    name: str, workspace_id: AdminWorkspace, services: ServicesDep
) -> dict[str, Any]:
    if not await run_in_threadpool(_store(services).delete, workspace_id, name):
        raise HTTPException(404, f"no placement {name!r}")
    return {"deleted": name}
