"""The door of every request: who is calling, and how much they may send.

It runs before any route reads a body. A request to the admin API (``/api/…``) without an
admin token is answered 401 (a write key 403) before a byte of its body is read, so that a
malformed body can never earn a 422 from a stranger. Every body is counted while it is
read: a ``Content-Length`` over the path's limit is refused at once, and a body that grows
past it is stopped there with 413 — never held whole in memory. The tracking API's own
routes authenticate a write key sent in a header before they read (``routes/ingest.py``).
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import HTTPException
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wayline.api.deps import admin_workspace
from wayline.api.responses import JSON
from wayline.api.routes.ingest import BATCH_PATHS, SINGLE_PATHS
from wayline.settings import Settings

#: Paths of the admin API that authenticate otherwise (the warehouse's internal token).
_OWN_AUTH: Final = ("/api/v1/warehouse/",)


class BodyTooLarge(HTTPException):
    """The request body is over the limit of its path."""

    def __init__(self, limit: int, field: str) -> None:
        super().__init__(413, f"request body is over the limit of {limit} bytes")
        self.limit = limit
        self.field = field

    def as_json(self) -> dict[str, Any]:
        # the shape of an ingestion error, which the SDKs read (`code`, `message`)
        return {
            "success": False,
            "error": self.detail,
            "code": "payload_too_large",
            "message": self.detail,
            "field": self.field,
            "limit": self.limit,
        }


def body_limit(settings: Settings, path: str) -> tuple[int, str]:
    """The largest body ``path`` takes, in bytes as sent, and the field a 413 names."""
    if path in BATCH_PATHS:
        return settings.max_batch_bytes, "batch"
    if path in SINGLE_PATHS:
        return settings.max_batch_bytes, "body"
    return settings.max_request_bytes, "body"


def _is_admin(path: str) -> bool:
    return path.startswith("/api/") and not path.startswith(_OWN_AUTH)


class RequestGate:
    """ASGI middleware: admin authentication first, then a body counted against its limit."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if _is_admin(path) and scope["method"] != "OPTIONS":
            try:
                await run_in_threadpool(admin_workspace, Request(scope))
            except HTTPException as exc:
                answer = JSON({"error": exc.detail}, status_code=exc.status_code)
                if exc.headers:
                    answer.headers.update(exc.headers)
                await answer(scope, receive, send)
                return
        limit, field = body_limit(self.settings, path)
        declared = Request(scope).headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await JSON(BodyTooLarge(limit, field).as_json(), 413)(scope, receive, send)
            return
        read = 0

        async def counted() -> Message:
            nonlocal read
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > limit:
                    raise BodyTooLarge(limit, field)
            return message

        await self.app(scope, counted, send)
