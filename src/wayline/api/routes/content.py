"""``/v1/content/{placement}``: in-app content for a site's or app's visitor (write key).

Browsers call it from the site's own pages, so every answer (errors included) carries the
CORS headers for an origin in ``content_allowed_origins``, and preflight requests are
answered. The write key comes as the HTTP Basic username or as ``writeKey`` in the query,
like analytics.js sends it: it is public, and it lets a caller only send events and read
the content of a customer it names — of a verified ``userId`` only, in a workspace that
verifies user ids (``channels/verification.py``).
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from wayline.api.deps import ServicesDep, basic_username
from wayline.api.responses import JSON
from wayline.channels.content import (
    ContentService,
    ContentUnknown,
    Engagement,
    PlacementUnknown,
    Unverified,
    Visitor,
)
from wayline.store.base import CredentialKind
from wayline.store.sql import SqlStore

router = APIRouter(tags=["content"])

_PLACEMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
MAX_ID = 255
MAX_BODY = 32 * 1024


class Refused(Exception):
    def __init__(self, status: int, field: str | None, message: str) -> None:
        super().__init__(message)
        self.status, self.field, self.message = status, field, message

    def body(self) -> dict[str, Any]:
        error = f"{self.field}: {self.message}" if self.field else self.message
        return {"error": error, "field": self.field}


def _allowed(request: Request, services: ServicesDep) -> str | None:
    """The request's origin when it may read the answer, else None."""
    origin = request.headers.get("origin")
    if not origin:
        return None
    allowed = {o.strip().rstrip("/") for o in services.settings.content_allowed_origins.split(",")}
    allowed.discard("")
    return origin if "*" in allowed or origin.rstrip("/") in allowed else None


def _answer(
    request: Request, services: ServicesDep, body: Any, status: int = 200, **headers: str
) -> JSON:
    response = JSON(body, status_code=status, headers={"Cache-Control": "no-store", **headers})
    origin = _allowed(request, services)
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Vary"] = "Origin"
    return response


def _workspace(request: Request, key: str | None) -> str:
    key = basic_username(request) or key
    if not key:
        raise Refused(401, "writeKey", "a write key is required: HTTP Basic username or writeKey")
    credential = request.app.state.credentials.get(key)
    if credential is None or credential.kind is not CredentialKind.WRITE_KEY:
        raise Refused(401, "writeKey", "unknown write key")
    workspace_id: str = credential.workspace_id
    return workspace_id


def _placement(placement: str) -> str:
    if not _PLACEMENT.fullmatch(placement):
        raise Refused(
            422,
            "placement",
            "letters, digits, _, . and -, starting with a letter or digit, at most 100 characters",
        )
    return placement


def _visitor(source: dict[str, Any]) -> Visitor:
    ids: dict[str, str | None] = {}
    for field in ("userId", "anonymousId"):
        value = source.get(field)
        if value is None or value == "":
            ids[field] = None
            continue
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_ID:
            raise Refused(422, field, f"must be a text of 1 to {MAX_ID} characters")
        ids[field] = value
    if ids["userId"] is None and ids["anonymousId"] is None:
        raise Refused(422, "userId", "userId or anonymousId is required")
    user_hash = source.get("userHash")
    if user_hash is not None and (not isinstance(user_hash, str) or len(user_hash) > 128):
        raise Refused(422, "userHash", "must be the hex HMAC-SHA256 of the userId")
    return Visitor(user_id=ids["userId"], anonymous_id=ids["anonymousId"], user_hash=user_hash)


UNVERIFIED = Refused(
    401, "userHash", "this workspace verifies user ids: send the userId's userHash"
)


def _service(request: Request, services: ServicesDep) -> ContentService:
    """One per application, so that its caches (settings, parsed templates) are kept."""
    found = getattr(request.app.state, "content", None)
    if found is None:
        assert isinstance(services.store, SqlStore)
        found = request.app.state.content = ContentService(services.store)
    assert isinstance(found, ContentService)
    return found


def _preflight(request: Request, services: ServicesDep) -> Response:
    if _allowed(request, services) is None:
        return _answer(
            request,
            services,
            Refused(403, "origin", "this origin may not call the content API").body(),
            403,
        )
    return _answer(
        request,
        services,
        None,
        204,
        **{
            "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
            "Access-Control-Allow-Headers": "Authorization, Content-Type",
            "Access-Control-Max-Age": "600",
        },
    )


@router.options("/v1/content/{placement}", include_in_schema=False)
async def content_preflight(placement: str, request: Request, services: ServicesDep) -> Response:
    return _preflight(request, services)


@router.options("/v1/content/{placement}/events", include_in_schema=False)
async def events_preflight(placement: str, request: Request, services: ServicesDep) -> Response:
    return _preflight(request, services)


@router.get("/v1/content/{placement}", response_class=JSON)
async def get_content(placement: str, request: Request, services: ServicesDep) -> JSON:
    """The content for the customer (``userId`` or ``anonymousId``) on the placement: what
    a journey sent them, else the placement's default."""
    query = dict(request.query_params)
    try:
        workspace_id = _workspace(request, query.get("writeKey"))
        _placement(placement)
        visitor = _visitor(query)
        try:
            served = await run_in_threadpool(
                _service(request, services).serve, workspace_id, placement, visitor
            )
        except PlacementUnknown:
            raise Refused(
                404, "placement", f"no placement {placement!r} in this workspace"
            ) from None
        except Unverified:
            raise UNVERIFIED from None
    except Refused as exc:
        return _answer(request, services, exc.body(), exc.status)
    return _answer(request, services, served.as_json())


@router.post("/v1/content/{placement}/events", response_class=JSON)
async def content_event(placement: str, request: Request, services: ServicesDep) -> JSON:
    """Record that the customer viewed, clicked or dismissed the placement's content;
    dismissed content is not served again."""
    try:
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise Refused(413, None, f"the body is over {MAX_BODY} bytes")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise Refused(400, None, f"malformed JSON: {exc}") from None
        if not isinstance(body, dict):
            raise Refused(400, None, "the body must be a JSON object")
        key = body.get("writeKey") if isinstance(body.get("writeKey"), str) else None
        workspace_id = _workspace(request, key or request.query_params.get("writeKey"))
        _placement(placement)
        visitor = _visitor(body)
        try:
            what = Engagement(str(body.get("event")))
        except ValueError:
            raise Refused(422, "event", "must be viewed, clicked or dismissed") from None
        content_id = body.get("contentId")
        if content_id is not None and (
            not isinstance(content_id, int) or isinstance(content_id, bool) or content_id < 1
        ):
            raise Refused(422, "contentId", "must be the contentId the content came with")
        message_id = body.get("messageId")
        if message_id is not None and (
            not isinstance(message_id, str) or not message_id.strip() or len(message_id) > MAX_ID
        ):
            raise Refused(422, "messageId", f"must be a text of 1 to {MAX_ID} characters")
        properties = body.get("properties", {})
        if not isinstance(properties, dict):
            raise Refused(422, "properties", "must be an object")
        try:
            new = await run_in_threadpool(
                lambda: _service(request, services).engage(
                    workspace_id,
                    placement,
                    visitor,
                    what,
                    content_id=content_id,
                    message_id=message_id,
                    properties=properties,
                )
            )
        except Unverified:
            raise UNVERIFIED from None
        except ContentUnknown:
            raise Refused(
                404, "contentId", f"no content {content_id} for this customer on {placement!r}"
            ) from None
    except Refused as exc:
        return _answer(request, services, exc.body(), exc.status)
    return _answer(request, services, {"success": True, "recorded": new})
