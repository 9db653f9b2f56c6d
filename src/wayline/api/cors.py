"""CORS for the tracking API, so that pages on other origins can send events.

A preflight (``OPTIONS`` with ``Access-Control-Request-Method``) carries no write key, so
it cannot know the workspace: every preflight to a tracking path is answered ``204`` for any
origin. The workspace's list of allowed origins is enforced on the request itself, which
carries the key (``check_origin``, called by the routes once the key is known); that answer
still echoes the origin so that the page can read why it was refused.

Only the tracking paths get these headers. The admin API (``/api/v1/*``) stays same-origin,
and ``/v1/content`` and ``/v1/providers`` have their own rules.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wayline.ingest import IngestError
from wayline.origins import origin_allowed

#: Browsers cap the preflight cache (Chrome at two hours); longer would only be ignored.
MAX_AGE_SECONDS = 7200
ALLOW_METHODS = "GET, POST, OPTIONS"
#: Always allowed; whatever else a preflight asks for is allowed too (the SDKs add their own:
#: ``X-Retry-Count``, ``AnonymousId``, ``SentAt``, ``Rsa-Retry-Attempt``, …).
ALLOW_HEADERS = ("Authorization", "Content-Type", "Content-Encoding")
_TOKEN = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_OWN_RULES = ("/v1/content", "/v1/providers")


def is_tracking_path(path: str) -> bool:
    """The paths browsers may call from any page: ``/v1/*`` (but content and provider
    reports), RudderStack's ``/beacon/v1/*`` and ``/sourceConfig``."""
    if path.startswith("/v1/"):
        return not any(path == p or path.startswith(p + "/") for p in _OWN_RULES)
    return path.startswith("/beacon/v1/") or path.rstrip("/") == "/sourceConfig"


def _allowed_headers(requested: str | None) -> str:
    names = list(ALLOW_HEADERS)
    known = {n.lower() for n in names}
    for name in (requested or "").split(","):
        name = name.strip()
        if name and _TOKEN.match(name) and name.lower() not in known:
            names.append(name)
            known.add(name.lower())
    return ", ".join(names)


class TrackingCors:
    """ASGI middleware: answers preflights and adds the CORS headers to tracking answers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_tracking_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(origin, headers, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw: list[tuple[bytes, bytes]] = []
                vary = [b"Origin"]
                for k, v in message.get("headers", []):
                    if k.lower() == b"vary":
                        vary += [p.strip() for p in v.split(b",") if p.strip().lower() != b"origin"]
                    elif k.lower() != b"access-control-allow-origin":
                        raw.append((k, v))
                raw.append((b"access-control-allow-origin", origin.encode("latin-1")))
                raw.append((b"vary", b", ".join(vary)))
                message = {**message, "headers": raw}
            await send(message)

        await self.app(scope, receive, send_with_cors)

    @staticmethod
    async def _preflight(origin: str, headers: Headers, send: Send) -> None:
        answer = [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-methods", ALLOW_METHODS.encode()),
            (
                b"access-control-allow-headers",
                _allowed_headers(headers.get("access-control-request-headers")).encode(),
            ),
            (b"access-control-max-age", str(MAX_AGE_SECONDS).encode()),
            (b"vary", b"Origin, Access-Control-Request-Headers"),
            (b"content-length", b"0"),
        ]
        await send({"type": "http.response.start", "status": 204, "headers": answer})
        await send({"type": "http.response.body", "body": b""})


class AllowedOrigins:
    """Each workspace's allowed origins, read from the store at most once per ``ttl``.

    A change made through this process (``forget``) applies at once; one made elsewhere
    (another API process, the CLI) within ``ttl`` seconds.
    """

    def __init__(self, load: Callable[[str], list[str]], ttl: float = 30.0) -> None:
        self._load = load
        self._ttl = ttl
        self._known: dict[str, tuple[tuple[str, ...], float]] = {}
        self._lock = threading.Lock()

    def get(self, workspace_id: str) -> tuple[str, ...]:
        now = time.monotonic()
        with self._lock:
            hit = self._known.get(workspace_id)
        if hit is not None and hit[1] > now:
            return hit[0]
        found = tuple(self._load(workspace_id))
        with self._lock:
            if len(self._known) > 10_000:
                self._known.clear()
            self._known[workspace_id] = (found, now + self._ttl)
        return found

    def forget(self, workspace_id: str) -> None:
        with self._lock:
            self._known.pop(workspace_id, None)


def check_origin(origin: str | None, allowed: tuple[str, ...]) -> None:
    """Refuse a browser's request from an origin the workspace has not listed.

    No ``Origin`` (a server, a mobile app) or no list (any origin) passes.
    """
    if origin is None or not allowed or origin_allowed(origin, allowed):
        return
    raise IngestError(
        403,
        f"the origin {origin} may not send to this workspace; add it to the workspace's origins",
        field="origin",
    )
