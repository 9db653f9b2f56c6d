"""``/api/v1/insights``: the discovered journey, conformance, attribution and experiments.

Admin routes. Each answers ``{"data": …}``; a parameter that cannot be used is a 400 whose
``field`` names it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Query
from starlette.concurrency import run_in_threadpool

from wayline.analytics.fields import BadParameter, Scope, UnknownJourney
from wayline.analytics.params import records
from wayline.analytics.warehouse import Warehouse, WarehouseLocked
from wayline.api.deps import AdminWorkspace, Services, ServicesDep
from wayline.api.responses import JSON

router = APIRouter(prefix="/api/v1/insights", tags=["insights"])

T = TypeVar("T")

Since = Annotated[datetime | None, Query(description="Only events from this time (ISO 8601)")]
Until = Annotated[datetime | None, Query(description="Only events before this time")]
Activity = Annotated[
    str, Query(description="The event field naming a step: event, properties.page, …")
]
IncludeInternal = Annotated[
    bool,
    Query(description="Keep the events Wayline records itself (Segment Entered, Message Sent…)"),
]


#: Python parameter → the query parameter that carries it, where they differ.
_QUERY_NAMES = {"models": "model"}


def _bad(exc: BadParameter, unknown_is_404: bool) -> JSON:
    status = 404 if unknown_is_404 and isinstance(exc, UnknownJourney) else 400
    field = _QUERY_NAMES.get(exc.parameter, exc.parameter)
    return JSON({"error": f"{field}: {exc.reason}", "field": field}, status_code=status)


def _warehouse(services: Services) -> Warehouse:
    if services.warehouse is None:
        raise HTTPException(503, "this process has no analytics warehouse")
    try:
        return services.warehouse.get()
    except WarehouseLocked as exc:
        raise HTTPException(503, str(exc)) from None


def _scope(workspace_id: str, since: datetime | None, until: datetime | None) -> Scope:
    return Scope(workspace_id=workspace_id, since=since, until=until)


async def _answer(
    work: Callable[[], T], shape: Callable[[T], Any], *, unknown_is_404: bool = False
) -> Any:
    """``{"data": shape(work())}``; a bad parameter is a 400 (an unknown journey in the
    path a 404)."""
    try:
        result = await run_in_threadpool(work)
    except BadParameter as exc:
        return _bad(exc, unknown_is_404)
    return {"data": shape(result)}


@router.get("/discovered-journey")
async def discovered_journey(
    workspace_id: AdminWorkspace,
    services: ServicesDep,
    activity: Activity = "event",
    since: Since = None,
    until: Until = None,
    include_internal: IncludeInternal = False,
) -> Any:
    """The directly-follows graph: ``source``, ``target``, ``frequency``,
    ``median_seconds`` (``source`` null: cases starting at ``target``; ``target`` null:
    cases ending at ``source``)."""
    from wayline.analytics.discovery import directly_follows

    warehouse = _warehouse(services)
    return await _answer(
        lambda: directly_follows(
            warehouse,
            _scope(workspace_id, since, until),
            activity,
            include_internal=include_internal,
        ),
        records,
    )


@router.get("/variants")
async def journey_variants(
    workspace_id: AdminWorkspace,
    services: ServicesDep,
    activity: Activity = "event",
    top: int = 10,
    since: Since = None,
    until: Until = None,
    include_internal: IncludeInternal = False,
) -> Any:
    """The most common variants: ``variant`` (the steps), ``cases``, ``share``,
    ``median_seconds``."""
    from wayline.analytics.discovery import variants

    warehouse = _warehouse(services)
    return await _answer(
        lambda: variants(
            warehouse,
            _scope(workspace_id, since, until),
            activity,
            top=top,
            include_internal=include_internal,
        ),
        records,
    )


@router.get("/conformance")
async def conformance_route(
    workspace_id: AdminWorkspace,
    services: ServicesDep,
    journey: str | None = None,
    sequence: Annotated[str | None, Query(description="Steps, comma-separated")] = None,
    activity: Activity = "event",
    project: bool = True,
    since: Since = None,
    until: Until = None,
    include_internal: IncludeInternal = False,
) -> Any:
    """Fitness of real behaviour to a journey (its entry, waits and goal) or to a
    sequence of steps, and the deviations: ``kind`` (skipped | unexpected), ``activity``,
    ``position``, ``cases``, ``occurrences``."""
    from wayline.analytics.conformance import conformance, designed_sequence
    from wayline.journeys.spec import Journey
    from wayline.store.journeys import JourneyStore
    from wayline.store.sql import SqlStore

    warehouse = _warehouse(services)

    def run() -> dict[str, Any]:
        if (journey is None) == (sequence is None):
            raise BadParameter("journey", "give either journey or sequence")
        if sequence is not None:
            model = [s.strip() for s in sequence.split(",") if s.strip()]
        else:
            assert isinstance(services.store, SqlStore)
            journeys = JourneyStore(services.store)
            record = journeys.journey(workspace_id, journey or "")
            if record is None:
                raise UnknownJourney(journey or "")
            spec = journeys.spec(workspace_id, record.journey_id, record.version)
            model = designed_sequence(Journey.model_validate(spec))
        result = conformance(
            warehouse,
            _scope(workspace_id, since, until),
            model,
            activity,
            project=project,
            include_internal=include_internal,
        )
        return {**result.to_json(), "deviations": records(result.deviations)}

    return await _answer(run, lambda r: r)


@router.get("/attribution")
async def attribution_route(
    workspace_id: AdminWorkspace,
    services: ServicesDep,
    by: Annotated[
        str, Query(description="channel, campaign, journey, or an event field path")
    ] = "channel",
    conversion_event: str = "Order Completed",
    revenue: str = "properties.revenue",
    model: Annotated[list[str] | None, Query(description="Repeatable; default: all")] = None,
    half_life_days: float = 7.0,
    markov_order: int = 1,
    lookback_days: float | None = None,
    since: Since = None,
    until: Until = None,
) -> Any:
    """Conversions and revenue per channel under each model: ``model``, ``channel`` (null:
    conversions with no touch), ``conversions``, ``revenue``."""
    from wayline.analytics.attribution import MODELS, attribution

    warehouse = _warehouse(services)
    return await _answer(
        lambda: attribution(
            warehouse,
            _scope(workspace_id, since, until),
            by=by,
            conversion_event=conversion_event,
            revenue=revenue,
            models=model or MODELS,
            half_life_days=half_life_days,
            markov_order=markov_order,
            lookback_days=lookback_days,
        ),
        records,
    )


@router.get("/experiments/{journey_id}")
async def experiments_route(
    journey_id: str,
    workspace_id: AdminWorkspace,
    services: ServicesDep,
    confidence: float = 0.95,
    min_customers: int = 100,
    min_conversions: int = 10,
) -> Any:
    """Each split of the journey, one row per variant: customers, conversions, rate,
    difference, uplift, confidence interval, z, p-value, probability to beat the
    control, sample-ratio p-value and a verdict."""
    from wayline.analytics.experiments import experiments
    from wayline.store.sql import SqlStore

    store = services.store
    assert isinstance(store, SqlStore)
    return await _answer(
        lambda: experiments(
            store,
            workspace_id,
            journey_id,
            confidence=confidence,
            min_customers=min_customers,
            min_conversions=min_conversions,
        ),
        records,
        unknown_is_404=True,
    )
