"""``/api/v1/stats``, ``/api/v1/rejections`` and ``/health``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from wayline.api.deps import AdminWorkspace, ServicesDep

router = APIRouter(tags=["admin"])


@router.get("/health", tags=["health"])
async def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/api/v1/stats")
async def stats(workspace_id: AdminWorkspace, services: ServicesDep) -> dict[str, Any]:
    """How many events and profiles the workspace holds, and how many items were rejected."""
    s = await run_in_threadpool(services.store.stats, workspace_id)
    return {"events": s.events, "profiles": s.profiles, "rejected": s.rejected}


@router.get("/api/v1/rejections")
async def rejections(
    workspace_id: AdminWorkspace, services: ServicesDep, limit: int = Query(100, ge=1, le=1000)
) -> dict[str, Any]:
    """The most recent items that did not land, with the field and the reason."""
    rows = await run_in_threadpool(services.store.rejections, workspace_id, limit)
    return {"data": rows}
