"""``/v1/*``: the Segment tracking API, under the paths every SDK uses.

The long paths (``/v1/track``) are the HTTP API's and the server SDKs'; analytics.js posts
each call to the first letter of its type (``/v1/t``, ``/v1/i``, ``/v1/p``, ``/v1/a``,
``/v1/g``, ``/v1/s``) and batches to ``/v1/b``, as the mobile SDKs do; RudderStack's
browser SDK sends its ``navigator.sendBeacon`` batches to ``/beacon/v1/batch?writeKey=…``.
A body is JSON whatever its ``Content-Type`` says (``sendBeacon`` and analytics.js send
``text/plain``, which spares the browser a preflight when no header is added).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from wayline.api.cors import check_origin
from wayline.api.deps import ServicesDep, basic_username
from wayline.api.responses import JSON
from wayline.api.segment_spec import batch_schema, call_schema, request_body
from wayline.ingest import IngestError, decode_body
from wayline.store.base import CredentialKind

router = APIRouter(tags=["tracking"])

CALLS = ("track", "identify", "page", "screen", "group", "alias")
#: analytics.js names the path of a call by the first letter of its type.
SHORT = {call[0]: call for call in CALLS}
BATCH_PATHS = ("/v1/batch", "/v1/b", "/v1/import", "/beacon/v1/batch")
SINGLE_PATHS = tuple(f"/v1/{call}" for call in CALLS) + tuple(f"/v1/{x}" for x in SHORT)


def write_key_workspace(request: Request, key: str | None) -> str:
    """The workspace of a write key, once the request's origin is checked against it."""
    if not key:
        raise IngestError(
            401, "a write key is required: HTTP Basic username or 'writeKey'", field="writeKey"
        )
    credential = request.app.state.credentials.get(key)
    if credential is None or credential.kind is not CredentialKind.WRITE_KEY:
        raise IngestError(401, "unknown write key", field="writeKey")
    workspace_id: str = credential.workspace_id
    check_origin(request.headers.get("origin"), request.app.state.origins.get(workspace_id))
    return workspace_id


async def _read(request: Request, services: ServicesDep) -> tuple[str, Any]:
    """The workspace and the parsed body. A key in a header (or the query) is checked before
    the body is read; only a request without one has its body read for ``writeKey``. The
    body is read under the size limit of ``api/gate.py``."""
    limit = services.settings.max_batch_bytes
    encoding = request.headers.get("content-encoding")
    key = basic_username(request) or request.query_params.get("writeKey")
    if key is not None:
        workspace_id = write_key_workspace(request, key)
        return workspace_id, decode_body(await request.body(), encoding, limit)
    body = decode_body(await request.body(), encoding, limit)
    if isinstance(body, dict) and isinstance(body.get("writeKey"), str):
        key = body["writeKey"]
    return write_key_workspace(request, key), body


def _single(call: str) -> Any:
    async def endpoint(request: Request, services: ServicesDep) -> JSON:
        workspace_id, body = await _read(request, services)
        result = await run_in_threadpool(services.ingestor.single, workspace_id, call, body)
        return JSON(result.as_json())

    endpoint.__name__ = f"ingest_{call}"
    endpoint.__doc__ = f"Record one `{call}` call (the Segment spec)."
    return endpoint


for _call in CALLS:
    router.add_api_route(
        f"/v1/{_call}",
        _single(_call),
        methods=["POST"],
        response_class=JSON,
        openapi_extra=request_body(call_schema(_call)),
    )
for _letter, _call in SHORT.items():
    router.add_api_route(
        f"/v1/{_letter}",
        _single(_call),
        methods=["POST"],
        response_class=JSON,
        include_in_schema=False,
    )


async def ingest_batch(request: Request, services: ServicesDep) -> JSON:
    """Record a batch of calls. Valid items land even when others are rejected."""
    workspace_id, body = await _read(request, services)
    result = await run_in_threadpool(services.ingestor.batch, workspace_id, body)
    return JSON(result.as_json())


for _path in BATCH_PATHS:
    router.add_api_route(
        _path,
        ingest_batch,
        methods=["POST"],
        response_class=JSON,
        include_in_schema=_path == "/v1/batch",
        openapi_extra=request_body(batch_schema()),
    )
