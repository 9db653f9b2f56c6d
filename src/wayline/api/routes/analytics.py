"""``/api/v1/analytics``: funnels, paths, retention, stages and the journey map.

Every route reads the warehouse through the same functions as ``wayline report`` and
notebooks. A bad parameter is a 422 whose ``field`` names it; a warehouse this process
cannot open (a DuckDB file held by another process) is a 503.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from wayline.analytics import params
from wayline.analytics.eventlog import DEFAULT_CHANNEL_PATHS, InvalidAnalysis
from wayline.analytics.funnels import Funnel, FunnelMode, dropped_customers, funnel_report
from wayline.analytics.journey_map import JourneyMapSpec, PainPointRules, journey_map
from wayline.analytics.journey_map_render import to_html, to_png, to_svg
from wayline.analytics.paths import Paths, paths, sankey
from wayline.analytics.retention import CohortKind, Period, Retention, retention
from wayline.analytics.segment_members import segment_members
from wayline.analytics.stage_model import StageModel, StageModelError, load_stage_model, preset
from wayline.analytics.stages import current_stages, stage_summary
from wayline.analytics.warehouse import Warehouse, WarehouseLocked
from wayline.api.deps import AdminWorkspace, ServicesDep
from wayline.api.responses import JSON
from wayline.store.sql import SqlStore

if TYPE_CHECKING:
    import pyarrow as pa

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])
T = TypeVar("T")

From = Annotated[str | None, Query(alias="from", description="ISO 8601; UTC by default")]
To = Annotated[str | None, Query(alias="to", description="ISO 8601; UTC by default")]
IncludeInternal = Annotated[
    bool,
    Query(description="Keep the events Wayline records itself (Segment Entered, Message Sent…)"),
]


def _bad(field: str, message: str) -> JSON:
    return JSON({"error": f"{field}: {message}", "field": field}, status_code=422)


async def _answer(services: ServicesDep, work: Callable[[Warehouse], T]) -> T | JSON:
    """Run an analysis in a worker thread; bad parameters become a 422 naming them."""
    if services.warehouse is None:
        raise HTTPException(503, "this process has no analytics warehouse")

    def run() -> T | JSON:
        try:
            assert services.warehouse is not None
            return work(services.warehouse.get())
        except InvalidAnalysis as exc:
            return _bad(exc.field, exc.reason)
        except StageModelError as exc:
            return JSON({"error": str(exc), "field": "model"}, status_code=422)
        except WarehouseLocked as exc:
            raise HTTPException(503, str(exc)) from None

    return await run_in_threadpool(run)


def _choice(value: str, field: str, choices: type[Any]) -> Any:
    allowed = [c.value for c in choices]
    if value not in allowed:
        raise InvalidAnalysis(field, f"{value!r}: expected one of {', '.join(allowed)}")
    return choices(value)


def _funnel(
    steps: list[str],
    mode: str,
    window: str,
    exclude: list[str],
    breakdown: str | None,
    channel: list[str],
    start: str | None,
    end: str | None,
) -> Funnel:
    spec = Funnel(
        steps=tuple(steps),
        mode=_choice(mode, "mode", FunnelMode),
        window=params.duration(window, "window"),
        exclusions=tuple(params.exclusion(x) for x in exclude),
        breakdown=breakdown or None,
        channel_paths=tuple(channel) if channel else DEFAULT_CHANNEL_PATHS,
        start=params.moment(start, "from"),
        end=params.moment(end, "to"),
    )
    spec.check()
    return spec


Steps = Annotated[list[str], Query(description="The steps' events, in order (repeat)")]
Exclude = Annotated[list[str], Query(description="EVENT, or EVENT:FROM-TO (repeat)")]
Channel = Annotated[list[str], Query(description="Channel paths, first found wins (repeat)")]


@router.get("/funnel")
async def funnel_route(
    workspace_id: AdminWorkspace,
    services: ServicesDep,
    steps: Steps,
    mode: str = "ordered",
    window: str = "14d",
    exclude: Exclude = [],  # noqa: B006 - FastAPI copies defaults per request
    breakdown: str | None = None,
    channel: Channel = [],  # noqa: B006
    start: From = None,
    end: To = None,
) -> Any:
    """Per step: customers, conversion, drop-off, median time from the previous step;
    and the histogram of those times."""

    def work(w: Warehouse) -> dict[str, Any]:
        spec = _funnel(steps, mode, window, exclude, breakdown, channel, start, end)
        members = _members(services, workspace_id, spec)
        report = funnel_report(w, workspace_id, spec, members)
        return {"steps": params.records(report.steps), "times": params.records(report.times)}

    return await _answer(services, work)


@router.get("/funnel/dropped")
async def funnel_dropped_route(
    workspace_id: AdminWorkspace,
    services: ServicesDep,
    steps: Steps,
    step: int,
    mode: str = "ordered",
    window: str = "14d",
    exclude: Exclude = [],  # noqa: B006
    breakdown: str | None = None,
    channel: Channel = [],  # noqa: B006
    start: From = None,
    end: To = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
) -> Any:
    """The customers who reached the step before ``step`` but not ``step``."""

    def work(w: Warehouse) -> dict[str, Any]:
        spec = _funnel(steps, mode, window, exclude, breakdown, channel, start, end)
        members = _members(services, workspace_id, spec)
        frame = dropped_customers(w, workspace_id, spec, step, limit=limit, members=members)
        return {"data": params.records(frame)}

    return await _answer(services, work)


class SaveDropped(BaseModel):
    """The body of ``POST /funnel/dropped``: the funnel (as the query of ``GET``), the step,
    and the static segment to save its drop-offs as."""

    model_config = {"extra": "forbid", "populate_by_name": True}

    steps: list[str]
    step: int
    segment_id: str
    name: str | None = None
    mode: str = "ordered"
    window: str = "14d"
    exclude: list[str] = []
    channel: list[str] = []
    start: str | None = Field(None, alias="from")
    end: str | None = Field(None, alias="to")


@router.post("/funnel/dropped")
async def save_dropped_route(
    request: Request, workspace_id: AdminWorkspace, services: ServicesDep
) -> Any:
    """Save the customers who dropped before ``step`` as a new static segment (each gets
    Segment Entered). 201 with the segment's id, name and size; 409 if the id is taken."""
    from wayline.errors import SegmentInvalid
    from wayline.segments.static import SegmentExists, save_dropped

    try:
        body = SaveDropped.model_validate_json(await request.body())
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        return _bad(field, first["msg"])
    store = services.store
    assert isinstance(store, SqlStore)

    def work(w: Warehouse) -> JSON:
        spec = _funnel(
            body.steps,
            body.mode,
            body.window,
            body.exclude,
            None,
            body.channel,
            body.start,
            body.end,
        )
        try:
            saved = save_dropped(
                store, services.clock, w, workspace_id, spec, body.step, body.segment_id, body.name
            )
        except SegmentExists as exc:
            return JSON({"error": f"segment_id: {exc}", "field": "segment_id"}, status_code=409)
        except SegmentInvalid as exc:
            first = exc.problems[0]
            field = "segment_id" if first.path in ("", "id") else first.path
            return _bad(field, first.message)
        return JSON(
            {
                "segment_id": saved.segment_id,
                "name": saved.name,
                "dropped": saved.dropped,
                "size": saved.size,
            },
            status_code=201,
        )

    return await _answer(services, work)


def _members(services: ServicesDep, workspace_id: str, spec: Funnel) -> pa.Table | None:
    """The segments' members from the state store, for a segment breakdown."""
    if spec.segments is None:
        return None
    assert isinstance(services.store, SqlStore)
    return segment_members(services.store, workspace_id, spec.segments)


@router.get("/paths")
async def paths_route(
    workspace_id: AdminWorkspace,
    services: ServicesDep,
    start_event: str | None = None,
    end_event: str | None = None,
    depth: int = 5,
    session_gap: str = "30m",
    top: int = 20,
    start: From = None,
    end: To = None,
    include_internal: IncludeInternal = False,
) -> Any:
    """Top transitions after ``start_event`` or before ``end_event``, and Sankey data."""

    def work(w: Warehouse) -> dict[str, Any]:
        spec = Paths(
            start_event=start_event or None,
            end_event=end_event or None,
            depth=depth,
            session_gap=params.duration(session_gap, "session_gap"),
            top=top,
            start=params.moment(start, "from"),
            end=params.moment(end, "to"),
            include_internal=include_internal,
        )
        frame = paths(w, workspace_id, spec)
        return {"links": params.records(frame), "sankey": sankey(frame)}

    return await _answer(services, work)


@router.get("/retention")
async def retention_route(
    workspace_id: AdminWorkspace,
    services: ServicesDep,
    start_event: str | None = None,
    return_event: str | None = None,
    period: str = "week",
    kind: str = "first_time",
    periods: int = 12,
    start: From = None,
    end: To = None,
) -> Any:
    """A row per cohort and period: cohort size, customers retained, rate."""

    def work(w: Warehouse) -> dict[str, Any]:
        spec = Retention(
            start_event=start_event or None,
            return_event=return_event or None,
            period=_choice(period, "period", Period),
            kind=_choice(kind, "kind", CohortKind),
            periods=periods,
            start=params.moment(start, "from"),
            end=params.moment(end, "to"),
        )
        return {"data": params.records(retention(w, workspace_id, spec))}

    return await _answer(services, work)


class StageModelBody(BaseModel):
    #: The stage model, as YAML text.
    model: str


def _model(
    body: StageModelBody | None, preset_name: str | None, services: ServicesDep, workspace_id: str
) -> StageModel:
    """The model posted, else the preset asked for, else the workspace's own stage model
    (``PUT /api/v1/stages``), else ``ecommerce``."""
    if body is not None:
        return load_stage_model(body.model, "model")
    if preset_name is None:
        from wayline.stages.store import StageStore
        from wayline.store.sql import SqlStore

        if isinstance(services.store, SqlStore):
            stored = StageStore(services.store).model(workspace_id)
            if stored is not None:
                return stored.model
    return preset(preset_name or "ecommerce")


@router.get("/stages")
@router.post("/stages")
async def stages_route(
    workspace_id: AdminWorkspace,
    services: ServicesDep,
    body: StageModelBody | None = None,
    preset: str | None = None,
    as_of: str | None = None,
) -> Any:
    """Per stage: entered, current, moved on, conversion, typical time, stalled. GET uses a
    preset (``ecommerce``, ``saas``); POST ``{"model": "<YAML>"}`` a model of your own."""

    def work(w: Warehouse) -> dict[str, Any]:
        model = _model(body, preset, services, workspace_id)
        when = params.moment(as_of, "as_of")
        return {"data": params.records(stage_summary(w, workspace_id, model, as_of=when))}

    return await _answer(services, work)


@router.get("/stages/customers")
@router.post("/stages/customers")
async def stage_customers_route(
    workspace_id: AdminWorkspace,
    services: ServicesDep,
    body: StageModelBody | None = None,
    preset: str | None = None,
    as_of: str | None = None,
    stage: str | None = None,
    stalled: bool = False,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
) -> Any:
    """Customers with their current stage, time in it, and whether they are stalled."""

    def work(w: Warehouse) -> dict[str, Any]:
        model = _model(body, preset, services, workspace_id)
        if stage is not None and stage not in model.names:
            raise InvalidAnalysis("stage", f"{stage!r} is not a stage of the model")
        frame = current_stages(
            w,
            workspace_id,
            model,
            as_of=params.moment(as_of, "as_of"),
            stage=stage,
            stalled_only=stalled,
            limit=limit,
        )
        return {"data": params.records(frame)}

    return await _answer(services, work)


_MEDIA = {
    "html": "text/html; charset=utf-8",
    "svg": "image/svg+xml",
    "png": "image/png",
}


@router.get("/journey-map")
@router.post("/journey-map")
async def journey_map_route(
    workspace_id: AdminWorkspace,
    services: ServicesDep,
    body: StageModelBody | None = None,
    preset: str | None = None,
    as_of: str | None = None,
    format: str = "json",
    channel: Channel = [],  # noqa: B006
    touchpoints: int = 12,
    min_customers: Annotated[int, Query(ge=1, le=2**31 - 1)] = 10,
    include_internal: IncludeInternal = False,
) -> Any:
    """The stages-by-touchpoints grid with its pain points: JSON, or ``format=html|svg|png``."""

    def work(w: Warehouse) -> Any:
        if format not in ("json", *_MEDIA):
            raise InvalidAnalysis("format", f"{format!r}: expected json, html, svg or png")
        spec = JourneyMapSpec(
            model=_model(body, preset, services, workspace_id),
            as_of=params.moment(as_of, "as_of"),
            channel_paths=tuple(channel) if channel else DEFAULT_CHANNEL_PATHS,
            touchpoints=touchpoints,
            rules=PainPointRules(min_customers=min_customers),
            include_internal=include_internal,
        )
        result = journey_map(w, workspace_id, spec)
        if format == "json":
            return result.to_json()
        if format == "png":
            return Response(to_png(result), media_type=_MEDIA[format])
        page = to_html(result) if format == "html" else to_svg(result)
        return Response(page, media_type=_MEDIA[format])

    return await _answer(services, work)
