"""``/api/v1/stages``: the workspace's stage model (set it, read it with how many customers
are in each stage now), and one customer's stage."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from wayline.analytics.stage_model import PRESETS, StageModelError
from wayline.api.deps import AdminWorkspace, ServicesDep
from wayline.api.responses import JSON
from wayline.stages.store import StageStore, StoredModel
from wayline.store.sql import SqlStore

router = APIRouter(prefix="/api/v1/stages", tags=["stages"])


class StageModelBody(BaseModel):
    #: The stage model, as YAML text.
    model: str | None = None
    #: Or a built-in one: ``ecommerce`` or ``saas``.
    preset: str | None = None


def _store(services: ServicesDep) -> SqlStore:
    assert isinstance(services.store, SqlStore)
    return services.store


def _model_json(stages: StageStore, stored: StoredModel) -> dict[str, Any]:
    counts = stages.counts(stored.workspace_id)
    return {
        "version": stored.version,
        "updated_at": stored.updated_at.isoformat(),
        "model": stored.text,
        "stall_factor": stored.model.stall_factor,
        "stages": [
            {
                "stage": s.name,
                "customers": counts.get(s.name, 0),
                "typical_seconds": stored.typical.get(s.name),
                "stall_after_seconds": (
                    None if (after := stored.stall_after(s.name)) is None else after.total_seconds()
                ),
            }
            for s in stored.model.stages
        ],
    }


@router.get("")
async def get_stage_model(workspace_id: AdminWorkspace, services: ServicesDep) -> dict[str, Any]:
    """The stage model, with per stage the customers in it now, the typical time in it and
    the time after which a customer there is stalled."""
    stages = StageStore(_store(services))

    def load() -> dict[str, Any]:
        stored = stages.model(workspace_id)
        if stored is None:
            raise HTTPException(404, "no stage model in this workspace")
        return _model_json(stages, stored)

    return await run_in_threadpool(load)


@router.put("")
async def put_stage_model(
    body: StageModelBody, workspace_id: AdminWorkspace, services: ServicesDep
) -> JSON:
    """Set the stage model (``{"model": "<YAML>"}`` or ``{"preset": "saas"}``) and place
    every customer by it from history (without Stage Entered events). 422 names the field."""
    from wayline.stages.lifecycle import apply_stage_model

    store = _store(services)
    if (body.model is None) == (body.preset is None):
        return JSON({"error": "give model or preset", "field": "model"}, 422)
    if body.preset is not None and body.preset not in PRESETS:
        choices = ", ".join(PRESETS)
        return JSON(
            {"error": f"preset: no preset {body.preset!r}; one of {choices}", "field": "preset"},
            422,
        )
    text = body.model if body.model is not None else PRESETS[str(body.preset)].text

    def run() -> JSON:
        try:
            result = apply_stage_model(store, services.clock, workspace_id, text, "model")
        except StageModelError as exc:
            return JSON({"error": str(exc), "field": "model"}, 422)
        stages = StageStore(store)
        stored = stages.model(workspace_id)
        assert stored is not None
        return JSON({**_model_json(stages, stored), "state": result.state})

    return await run_in_threadpool(run)


@router.get("/customers/{customer_id}")
async def customer_stage(
    customer_id: str, workspace_id: AdminWorkspace, services: ServicesDep
) -> dict[str, Any]:
    """A customer's current stage (``null`` when in none), whether they are stalled there,
    and the stage changes seen as their events arrived."""
    store = _store(services)
    stages = StageStore(store)

    def load() -> dict[str, Any]:
        view = store.find_profile(workspace_id, customer_id)
        if view is None:
            raise HTTPException(404, f"no customer {customer_id!r}")
        profile_id = view.profile.id
        stored = stages.model(workspace_id)
        place = stages.place(workspace_id, profile_id)
        current: dict[str, Any] | None = None
        if place is not None and stored is not None:
            after = stored.stall_after(place.stage)
            current = {
                "stage": place.stage,
                "entered_at": place.entered_at.isoformat(),
                "previous_stage": place.previous_stage,
                "stalled": after is not None and place.entered_at + after <= store.clock.now(),
            }
        return {
            "profile_id": profile_id,
            "current": current,
            "changes": [
                {
                    "stage": c.stage,
                    "previous_stage": c.previous_stage,
                    "previous_stage_duration": c.previous_stage_duration,
                    "at": c.at.isoformat(),
                }
                for c in stages.history(workspace_id, profile_id)
            ],
        }

    return await run_in_threadpool(load)
