"""``/api/v1/journeys``: journeys, their versions, per-node counts, a customer's trace,
enrolment."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from wayline.api.deps import AdminWorkspace, ServicesDep
from wayline.engine.compile import compile_journey
from wayline.engine.enrolment import enrol
from wayline.journeys.spec import Journey
from wayline.store import journey_versions
from wayline.store.journeys import JourneyRecord, JourneyStatus, JourneyStore, Step
from wayline.store.sql import SqlStore

router = APIRouter(prefix="/api/v1/journeys", tags=["journeys"])


def _store(services: ServicesDep) -> tuple[SqlStore, JourneyStore]:
    assert isinstance(services.store, SqlStore)
    return services.store, JourneyStore(services.store)


def _record(journeys: JourneyStore, workspace_id: str, journey_id: str) -> JourneyRecord:
    record = journeys.journey(workspace_id, journey_id)
    if record is None:
        raise HTTPException(404, f"no journey {journey_id!r}")
    return record


def _journey_json(j: JourneyRecord) -> dict[str, Any]:
    return {
        "id": j.journey_id,
        "name": j.name,
        "status": j.status.value,
        "version": j.version,
        "created_at": j.created_at.isoformat(),
        "updated_at": j.updated_at.isoformat(),
    }


def _step_json(s: Step) -> dict[str, Any]:
    return {
        "instance_id": s.instance_id,
        "node": s.node,
        "kind": s.kind,
        "reason": s.reason,
        "at": s.at.isoformat(),
    }


@router.get("")
async def list_journeys(workspace_id: AdminWorkspace, services: ServicesDep) -> dict[str, Any]:
    """The workspace's journeys with their status and current version."""
    _, journeys = _store(services)
    records = await run_in_threadpool(journeys.journeys, workspace_id)
    return {"data": [_journey_json(j) for j in records]}


@router.get("/{journey_id}")
async def journey_detail(
    journey_id: str, workspace_id: AdminWorkspace, services: ServicesDep
) -> dict[str, Any]:
    """The journey with its versions (number, date, which is current) and how many
    customers are inside per version and node."""
    store, journeys = _store(services)

    def load() -> dict[str, Any]:
        record = _record(journeys, workspace_id, journey_id)
        with store.engine.connect() as conn:
            every = journey_versions.versions(conn, workspace_id, journey_id)
            inside = journey_versions.occupancy(conn, workspace_id, journey_id)
        return {
            **_journey_json(record),
            "versions": [
                {
                    "version": v.version,
                    "created_at": v.created_at.isoformat(),
                    "current": v.version == record.version,
                }
                for v in every
            ],
            "inside": [
                {"version": v, "node": node, "customers": n}
                for (v, node), n in sorted(inside.items())
            ],
        }

    return await run_in_threadpool(load)


@router.get("/{journey_id}/versions/{version}")
async def journey_version(
    journey_id: str,
    version: Annotated[int, Path(ge=1, le=2**31 - 1)],
    workspace_id: AdminWorkspace,
    services: ServicesDep,
) -> dict[str, Any]:
    """One version: its spec in the file's own terms, and the customers inside it per node."""
    store, journeys = _store(services)

    def load() -> dict[str, Any]:
        record = _record(journeys, workspace_id, journey_id)
        with store.engine.connect() as conn:
            every = journey_versions.versions(conn, workspace_id, journey_id)
            inside = journey_versions.occupancy(conn, workspace_id, journey_id)
        found = next((v for v in every if v.version == version), None)
        if found is None:
            raise HTTPException(404, f"no version {version} of journey {journey_id!r}")
        return {
            "id": journey_id,
            "version": version,
            "created_at": found.created_at.isoformat(),
            "current": version == record.version,
            "spec": Journey.model_validate(found.spec).to_data(),
            "inside": [
                {"node": node, "customers": n}
                for (v, node), n in sorted(inside.items())
                if v == version
            ],
        }

    return await run_in_threadpool(load)


@router.get("/{journey_id}/stats")
async def journey_stats(
    journey_id: str, workspace_id: AdminWorkspace, services: ServicesDep
) -> dict[str, Any]:
    """Per node: how many customers entered, passed, waited, were queued a message, reached
    the goal, left — and how many are at the node now (``here_now``)."""
    _, journeys = _store(services)

    def load() -> dict[str, Any]:
        record = _record(journeys, workspace_id, journey_id)
        return {**_journey_json(record), "nodes": journeys.node_counts(workspace_id, journey_id)}

    return await run_in_threadpool(load)


@router.get("/{journey_id}/instances/{customer}")
async def journey_trace(
    journey_id: str, customer: str, workspace_id: AdminWorkspace, services: ServicesDep
) -> dict[str, Any]:
    """Every step the customer took in the journey, with its time and reason."""
    store, journeys = _store(services)

    def load() -> dict[str, Any]:
        _record(journeys, workspace_id, journey_id)
        view = store.find_profile(workspace_id, customer)
        if view is None:
            raise HTTPException(404, f"no customer {customer!r}")
        steps = journeys.steps(workspace_id, journey_id, view.profile.id)
        return {
            "journey_id": journey_id,
            "profile_id": view.profile.id,
            "steps": [_step_json(s) for s in steps],
        }

    return await run_in_threadpool(load)


class Enrolment(BaseModel):
    """Who enters: a customer known by any of their ids."""

    customer: str = Field(description="userId, anonymousId, email or profile id")
    key: str | None = Field(None, description="The correlation key of this entry")
    properties: dict[str, Any] = Field(
        default_factory=dict, description="Kept as the triggering event's properties"
    )


@router.post("/{journey_id}/enroll", status_code=201)
async def enroll(
    journey_id: str, body: Enrolment, workspace_id: AdminWorkspace, services: ServicesDep
) -> dict[str, Any]:
    """Put a customer into a journey whose entry is ``{api: true}``."""
    store, journeys = _store(services)

    def run() -> dict[str, Any]:
        record = _record(journeys, workspace_id, journey_id)
        if record.status is not JourneyStatus.ACTIVE:
            raise HTTPException(409, f"journey {journey_id!r} is {record.status.value}")
        journey = compile_journey(
            workspace_id,
            journey_id,
            record.version,
            journeys.spec(workspace_id, journey_id, record.version),
        )
        if not journey.entry_api:
            raise HTTPException(
                409,
                f"journey {journey_id!r} is not entered by API (its entry is not {{api: true}})",
            )
        view = store.find_profile(workspace_id, body.customer)
        if view is None:
            raise HTTPException(404, f"no customer {body.customer!r}")
        now = store.clock.now()
        steps: list[Step] = []
        trigger = {"event": None, "properties": body.properties, "timestamp": now.isoformat()}
        with store._write() as conn:
            result = enrol(
                journeys,
                conn,
                journey,
                view.profile.id,
                body.key or "",
                trigger,
                now,
                steps,
                reason="API enrolment",
            )
            if isinstance(result, str):
                raise HTTPException(409, f"not enrolled: {result}")
            journeys.add_steps(conn, steps)
        return {
            "instance_id": result,
            "journey_id": journey_id,
            "version": record.version,
            "profile_id": view.profile.id,
        }

    return await run_in_threadpool(run)
