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
from urllib.parse import parse_qsl

import orjson
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


class NulCharacter(HTTPException):
    """The NUL character in a path, a query parameter or an admin body: PostgreSQL cannot
    keep it in text, so it is refused at the door on every store alike."""

    def __init__(self, field: str) -> None:
        super().__init__(400, f"{field}: the NUL character (\\u0000) is not allowed")
        self.field = field

    def as_json(self) -> dict[str, Any]:
        return {"error": self.detail, "field": self.field}


def _nul_path(value: Any, path: str = "") -> str | None:
    """Where in parsed JSON a key or string holds NUL, as ``a.b.0``; None if nowhere."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, at = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return at or "body"
        elif isinstance(item, dict):
            for key, child in item.items():
                where = f"{at}.{key}" if at else str(key)
                if "\x00" in key:
                    return where
                stack.append((child, where))
        elif isinstance(item, list):
            stack.extend((child, f"{at}.{i}" if at else str(i)) for i, child in enumerate(item))
    return None


def _nul_form(encoded: bytes, whole: str) -> str | None:
    """The field of form-encoded ``encoded`` (a query string, a form body) holding NUL."""
    if b"%00" not in encoded and b"\x00" not in encoded:
        return None
    for key, value in parse_qsl(encoded.decode("latin-1"), keep_blank_values=True):
        if "\x00" in key or "\x00" in value:
            return key.replace("\x00", "") or whole
    return None


def nul_in_request(scope: Scope) -> str | None:
    """The path or query parameter holding NUL, if any."""
    if "\x00" in scope["path"]:
        return "path"
    return _nul_form(scope.get("query_string", b""), "query")


def nul_in_body(body: bytes) -> str | None:
    """The field of a body (JSON, or a form) whose key or value holds NUL, if any."""
    if body.lstrip()[:1] not in (b"{", b"["):
        return _nul_form(body, "body")
    if b"\\u0000" not in body:
        return None
    try:
        return _nul_path(orjson.loads(body))
    except orjson.JSONDecodeError:
        return None  # the route answers what is wrong with it


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
        nul = nul_in_request(scope)
        if nul is not None:
            await JSON(NulCharacter(nul).as_json(), 400)(scope, receive, send)
            return
        limit, field = body_limit(self.settings, path)
        declared = Request(scope).headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await JSON(BodyTooLarge(limit, field).as_json(), 413)(scope, receive, send)
            return
        read = 0
        # a body is kept until it is whole, to look for NUL (the tracking API's validator
        # names the field of an event itself, and its batches are the large bodies)
        kept: list[bytes] | None = None if field == "batch" or path in SINGLE_PATHS else []

        async def counted() -> Message:
            nonlocal read
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                read += len(chunk)
                if read > limit:
                    raise BodyTooLarge(limit, field)
                if kept is not None:
                    kept.append(chunk)
                    if not message.get("more_body", False):
                        where = nul_in_body(b"".join(kept))
                        if where is not None:
                            raise NulCharacter(where)
            return message

        await self.app(scope, counted, send)
