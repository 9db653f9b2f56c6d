"""``/t/…``: the links inside messages — open pixel, click redirect, unsubscribe.

Public (customers' browsers and mail providers call them); each link's signed token is
its only credential. A bad, altered or expired token gets a 4xx and records nothing.
"""

from __future__ import annotations

import html
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response

from wayline.api.deps import services
from wayline.channels.tracking import TokenRejected, Tracker
from wayline.consent import Source
from wayline.store.sql import SqlStore

router = APIRouter(prefix="/t", tags=["tracking"], include_in_schema=True)

#: A transparent 1x1 GIF.
PIXEL = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
_NO_CACHE = {"Cache-Control": "no-store, max-age=0"}


def tracker(request: Request) -> Tracker:
    found: Tracker | None = getattr(request.app.state, "tracker", None)
    if found is None:
        svc = services(request)
        assert isinstance(svc.store, SqlStore)
        found = Tracker(
            svc.store,
            svc.settings.public_url,
            timedelta(days=svc.settings.tracking_token_days),
        )
        request.app.state.tracker = found
    return found


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(title)}</title></head>"
        "<body style='font-family:sans-serif;max-width:32em;margin:4em auto;padding:0 1em'>"
        f"<h1>{html.escape(title)}</h1>{body}</body></html>",
        status_code=status,
        headers=_NO_CACHE,
    )


def _refused(exc: TokenRejected) -> HTMLResponse:
    return _page("This link does not work", f"<p>{html.escape(str(exc))}.</p>", exc.status)


@router.get("/open/{token}")
async def opened(token: str, request: Request) -> Response:
    """The open pixel: records ``Email Opened`` once per message."""
    try:
        await run_in_threadpool(tracker(request).opened, token)
    except TokenRejected as exc:
        return Response(status_code=exc.status, headers=_NO_CACHE)
    return Response(PIXEL, media_type="image/gif", headers=_NO_CACHE)


@router.get("/click/{token}")
async def clicked(token: str, request: Request) -> Response:
    """A tracked link: records ``Email Link Clicked`` and redirects to the link's target."""
    try:
        target = await run_in_threadpool(tracker(request).clicked, token)
    except TokenRejected as exc:
        return _refused(exc)
    return RedirectResponse(target, status_code=302, headers=_NO_CACHE)


@router.get("/unsubscribe/{token}")
async def unsubscribe_page(token: str, request: Request) -> Response:
    """The visible unsubscribe link: a page that confirms with one button.

    Opening the page changes nothing, so that mail scanners that follow every link do not
    unsubscribe anyone.
    """
    try:
        await run_in_threadpool(tracker(request).check_unsubscribe, token)
    except TokenRejected as exc:
        return _refused(exc)
    action = html.escape(str(request.url.path))
    return _page(
        "Unsubscribe",
        "<p>You will no longer receive these emails.</p>"
        f"<form method='post' action='{action}'>"
        "<input type='hidden' name='confirm' value='yes'>"
        "<button type='submit'>Unsubscribe</button></form>",
    )


def _one_click(content_type: str, body: bytes) -> bool:
    """Whether a POST carries RFC 8058's ``List-Unsubscribe=One-Click``, URL-encoded or as
    ``multipart/form-data`` (the RFC allows both)."""
    if content_type.lower().startswith("multipart/form-data"):
        head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", errors="replace")
        parts = BytesParser(policy=policy.default).parsebytes(head + body)
        if not parts.is_multipart():
            return False
        for part in parts.iter_parts():
            if not isinstance(part, EmailMessage):
                continue
            name = part.get_param("name", header="content-disposition")
            value = part.get_payload(decode=True)
            if name == "List-Unsubscribe" and isinstance(value, bytes):
                return value.strip() == b"One-Click"
        return False
    form = parse_qs(body.decode("utf-8", errors="replace"))
    return form.get("List-Unsubscribe") == ["One-Click"]


@router.post("/unsubscribe/{token}")
async def unsubscribe(token: str, request: Request) -> Response:
    """Unsubscribe: the RFC 8058 one-click POST (``List-Unsubscribe=One-Click``) or the
    page's button. Records ``Unsubscribed``; doing it again changes nothing."""
    body = (await request.body())[:4096]
    one_click = _one_click(request.headers.get("content-type", ""), body)
    source = Source.ONE_CLICK if one_click else Source.LINK
    try:
        await run_in_threadpool(tracker(request).unsubscribe, token, source)
    except TokenRejected as exc:
        return _refused(exc)
    return _page("You are unsubscribed", "<p>You will no longer receive these emails.</p>")
