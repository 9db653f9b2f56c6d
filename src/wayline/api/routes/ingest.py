"""``/v1/*``: the Segment tracking API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from wayline.api.deps import ServicesDep, basic_username
from wayline.api.responses import JSON
from wayline.ingest import IngestError, decode_body
from wayline.store.base import CredentialKind

router = APIRouter(tags=["tracking"])

CALLS = ("track", "identify", "page", "screen", "group", "alias")


async def _read(request: Request, services: ServicesDep) -> tuple[str, Any]:
    raw = await request.body()
    limit = services.settings.max_batch_bytes
    body = decode_body(raw, request.headers.get("content-encoding"), limit)
    key = basic_username(request)
    if key is None and isinstance(body, dict) and isinstance(body.get("writeKey"), str):
        key = body["writeKey"]
    if not key:
        raise IngestError(401, "a write key is required: HTTP Basic username or 'writeKey'")
    credential = request.app.state.credentials.get(key)
    if credential is None or credential.kind is not CredentialKind.WRITE_KEY:
        raise IngestError(401, "unknown write key")
    return credential.workspace_id, body


def _single(call: str) -> Any:
    async def endpoint(request: Request, services: ServicesDep) -> JSON:
        workspace_id, body = await _read(request, services)
        result = await run_in_threadpool(services.ingestor.single, workspace_id, call, body)
        return JSON(result.as_json())

    endpoint.__name__ = f"ingest_{call}"
    endpoint.__doc__ = f"Record one `{call}` call (the Segment spec)."
    return endpoint


for _call in CALLS:
    router.add_api_route(f"/v1/{_call}", _single(_call), methods=["POST"], response_class=JSON)


@router.post("/v1/batch", response_class=JSON)
@router.post("/v1/import", response_class=JSON, include_in_schema=False)
async def ingest_batch(request: Request, services: ServicesDep) -> JSON:
    """Record a batch of calls. Valid items land even when others are rejected."""
    workspace_id, body = await _read(request, services)
    result = await run_in_threadpool(services.ingestor.batch, workspace_id, body)
    return JSON(result.as_json())
