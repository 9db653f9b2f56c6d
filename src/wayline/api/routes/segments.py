"""``/api/v1/segments``: segments, their size now and over time, members, and why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson
from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from wayline.api.deps import AdminWorkspace, ServicesDep
from wayline.api.responses import JSON
from wayline.errors import SegmentInvalid, SegmentNotFound
from wayline.segments.store import SegmentRecord, SegmentStore
from wayline.store.sql import SqlStore

router = APIRouter(prefix="/api/v1/segments", tags=["segments"])

_STEPS = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}


def _store(services: ServicesDep) -> tuple[SqlStore, SegmentStore]:
    assert isinstance(services.store, SqlStore)
    return services.store, SegmentStore(services.store)


def _record(seg: SegmentStore, workspace_id: str, segment_id: str) -> SegmentRecord:
    record = seg.record(workspace_id, segment_id)
    if record is None:
        raise HTTPException(404, f"no segment {segment_id!r}")
    return record


def _segment_json(seg: SegmentStore, r: SegmentRecord) -> dict[str, Any]:
    return {
        "id": r.segment_id,
        "name": r.name,
        "version": r.version,
        "static": r.segment.is_static,
        "size": seg.size(r.workspace_id, r.segment_id),
        "created_at": r.created_at.isoformat(),
        "updated_at": r.updated_at.isoformat(),
    }


@router.get("")
async def list_segments(workspace_id: AdminWorkspace, services: ServicesDep) -> dict[str, Any]:
    """The workspace's segments with their size now."""
    _, seg = _store(services)

    def load() -> dict[str, Any]:
        return {"data": [_segment_json(seg, r) for r in seg.segments(workspace_id)]}

    return await run_in_threadpool(load)


@router.post("")
async def apply_segment(
    request: Request, workspace_id: AdminWorkspace, services: ServicesDep
) -> JSON:
    """Create or change a segment from its JSON (the same fields as a segment file).

    A new segment fills from history before it answers; an edited one is re-evaluated.
    Answers 422 with every problem (``field`` and ``message``) when it is not valid.
    """
    from wayline.segments.lifecycle import apply_segments
    from wayline.segments.loading import check_refs, read_segment_text
    from wayline.stages.checks import stage_problems

    store, seg = _store(services)
    body = await request.body()
    try:
        if not isinstance(orjson.loads(body), dict):
            raise ValueError
    except ValueError:
        return JSON({"error": "the body must be a JSON object (a segment)", "field": ""}, 400)

    def run() -> JSON:
        try:
            loaded = read_segment_text(body.decode(), "<request>")
            stored = {r.segment_id: r.segment for r in seg.segments(workspace_id)}
            problems = check_refs([loaded], stored) + stage_problems(store, workspace_id, [loaded])
            if problems:
                raise SegmentInvalid(problems)
        except SegmentInvalid as exc:
            first = exc.problems[0]
            return JSON(
                {
                    "error": f"{first.path}: {first.message}" if first.path else first.message,
                    "field": first.path,
                    "problems": [{"field": p.path, "message": p.message} for p in exc.problems],
                },
                422,
            )
        (result,) = apply_segments(store, services.clock, workspace_id, [loaded.segment])
        record = _record(seg, workspace_id, result.segment_id)
        return JSON({**_segment_json(seg, record), "state": result.state})

    return await run_in_threadpool(run)


@router.get("/{segment_id}")
async def get_segment(
    segment_id: str, workspace_id: AdminWorkspace, services: ServicesDep
) -> dict[str, Any]:
    """A segment: its definition and its size now."""
    _, seg = _store(services)

    def load() -> dict[str, Any]:
        r = _record(seg, workspace_id, segment_id)
        spec = r.segment.model_dump(mode="json", by_alias=True, exclude_none=True)
        return {**_segment_json(seg, r), "spec": spec}

    return await run_in_threadpool(load)


@router.get("/{segment_id}/sizes")
async def segment_sizes(
    segment_id: str,
    workspace_id: AdminWorkspace,
    services: ServicesDep,
    interval: Literal["hour", "day", "week"] = "day",
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """Size over time: the number of members at the end of each interval (UTC), from the
    first change (or ``since``) to now (or ``until``); at most 1,000 points."""
    store, seg = _store(services)

    def load() -> dict[str, Any]:
        _record(seg, workspace_id, segment_id)
        changes = seg.changes(workspace_id, segment_id)
        end = _utc(until) if until else store.clock.now()
        step = _STEPS[interval]
        start = _utc(since) if since else (changes[0][0] if changes else end)
        start = _floor(start, interval)
        if (end - start) / step > 1000:
            raise HTTPException(422, "since: more than 1,000 intervals; choose a later since")
        points, size, i = [], 0, 0
        bound = start + step
        while True:
            while i < len(changes) and changes[i][0] < bound:
                size += changes[i][1]
                i += 1
            points.append({"at": (bound - step).isoformat(), "size": size})
            if bound > end:
                break
            bound += step
        return {"id": segment_id, "interval": interval, "data": points}

    return await run_in_threadpool(load)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _floor(value: datetime, interval: str) -> datetime:
    day = value.replace(minute=0, second=0, microsecond=0)
    if interval == "hour":
        return day
    day = day.replace(hour=0)
    return day - timedelta(days=day.weekday()) if interval == "week" else day


@router.get("/{segment_id}/members")
async def segment_members(
    segment_id: str,
    workspace_id: AdminWorkspace,
    services: ServicesDep,
    limit: int = Query(100, ge=1, le=1000),
    after: str | None = None,
) -> dict[str, Any]:
    """Members by profile id, a page at a time: pass ``next`` back as ``after``."""
    store, seg = _store(services)

    def load() -> dict[str, Any]:
        _record(seg, workspace_id, segment_id)
        rows = seg.members(workspace_id, segment_id, limit=limit, after=after)
        with store.engine.connect() as conn:
            senders = seg.senders(conn, {p for p, _ in rows})
        return {
            "data": [
                {
                    "profile_id": p,
                    "user_id": senders.get(p, (None, None))[0],
                    "entered_at": at.isoformat(),
                }
                for p, at in rows
            ],
            "next": rows[-1][0] if len(rows) == limit else None,
        }

    return await run_in_threadpool(load)


@router.get("/{segment_id}/members/{customer}")
async def segment_member(
    segment_id: str, customer: str, workspace_id: AdminWorkspace, services: ServicesDep
) -> dict[str, Any]:
    """Whether the customer is a member, and which conditions hold or fail for them."""
    from wayline.segments.explain import explain_member

    store, seg = _store(services)

    def load() -> dict[str, Any]:
        _record(seg, workspace_id, segment_id)
        view = store.find_profile(workspace_id, customer)
        if view is None:
            raise HTTPException(404, f"no customer {customer!r}")
        answer = explain_member(store, workspace_id, segment_id, view.profile.id, store.clock.now())
        assert answer is not None
        return answer

    return await run_in_threadpool(load)


class MembersBody(BaseModel):
    """Whom to add to (or remove from) a static segment: by profile id, by userId, or both."""

    model_config = {"extra": "forbid"}

    profile_ids: list[str] = Field(default_factory=list, max_length=10_000)
    user_ids: list[str] = Field(default_factory=list, max_length=10_000)


async def _change_members(
    request: Request,
    segment_id: str,
    workspace_id: str,
    services: ServicesDep,
    *,
    add: bool,
) -> JSON:
    from wayline.segments.static import SegmentNotStatic, change_members, check_static, profiles_of

    store, _ = _store(services)
    try:
        body = MembersBody.model_validate_json(await request.body())
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        return JSON({"error": f"{field}: {first['msg']}", "field": field}, 422)
    if not body.profile_ids and not body.user_ids:
        return JSON(
            {"error": "profile_ids: give profile_ids or user_ids", "field": "profile_ids"}, 422
        )

    def run() -> JSON:
        try:
            check_static(store, workspace_id, segment_id)
        except SegmentNotFound as exc:
            return JSON({"error": str(exc)}, 404)
        except SegmentNotStatic as exc:
            return JSON({"error": f"segment_id: {exc}", "field": "segment_id"}, 409)
        found: list[str] = []
        with store.engine.connect() as conn:
            for field, keys, kind in (
                ("profile_ids", body.profile_ids, "profile"),
                ("user_ids", body.user_ids, "user_id"),
            ):
                owners = profiles_of(conn, workspace_id, keys, (kind,))
                for i, key in enumerate(keys):
                    if key not in owners:
                        return JSON(
                            {
                                "error": f"{field}[{i}]: no customer {key!r}",
                                "field": f"{field}[{i}]",
                            },
                            422,
                        )
                found += owners.values()
        change = change_members(store, services.clock, workspace_id, segment_id, found, add=add)
        return JSON(
            {
                "id": segment_id,
                "added" if add else "removed": change.changed,
                "unchanged": change.unchanged,
                "size": change.size,
            }
        )

    return await run_in_threadpool(run)


@router.post("/{segment_id}/members")
async def add_segment_members(
    segment_id: str, request: Request, workspace_id: AdminWorkspace, services: ServicesDep
) -> JSON:
    """Add customers to a static segment (``{"user_ids": [...]}`` and/or
    ``{"profile_ids": [...]}``, up to 10,000 each); each new member gets Segment Entered.
    Nothing changes when any id names no customer (422 naming it); 409 for a segment that
    is not static."""
    return await _change_members(request, segment_id, workspace_id, services, add=True)


@router.delete("/{segment_id}/members")
async def remove_segment_members(
    segment_id: str, request: Request, workspace_id: AdminWorkspace, services: ServicesDep
) -> JSON:
    """Remove customers from a static segment (the same body as adding); each one removed
    gets Segment Exited."""
    return await _change_members(request, segment_id, workspace_id, services, add=False)
