"""``/t/preferences/…`` and ``/t/confirm/…``: the customer's preference page and the double
opt-in confirmation link. Public; each link's signed token is its only credential.

Opening either page changes nothing (mail scanners follow links): a form posts the change.
"""

from __future__ import annotations

import html
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from wayline.api.routes.tracking import _page, _refused, tracker
from wayline.channels.tracking import TokenRejected
from wayline.preferences import GroupState, Preferences

router = APIRouter(prefix="/t", tags=["tracking"])

_STATE = {
    "subscribed": "",
    "unsubscribed": "",
    "pending": " <small>(waiting for you to confirm by the link we emailed)</small>",
}


def preferences(request: Request) -> Preferences:
    found: Preferences | None = getattr(request.app.state, "preferences", None)
    if found is None:
        own = tracker(request)
        found = Preferences(own.store, own)
        request.app.state.preferences = found
    return found


def _form(action: str, states: list[GroupState], saved: bool) -> str:
    if not states:
        return "<p>There is nothing to choose here.</p>"
    rows = []
    for item in states:
        g = item.group
        checked = " checked" if item.state != "unsubscribed" else ""
        description = f"<br><small>{html.escape(g.description)}</small>" if g.description else ""
        rows.append(
            "<p><label>"
            f"<input type='checkbox' name='group' value='{html.escape(item.key)}'{checked}> "
            f"<strong>{html.escape(g.name)}</strong> ({html.escape(g.channel)})"
            f"{_STATE.get(item.state, '')}{description}</label></p>"
        )
    note = "<p><em>Your choices are saved.</em></p>" if saved else ""
    return (
        f"{note}<form method='post' action='{html.escape(action)}'>"
        "<input type='hidden' name='save' value='yes'>"
        f"{''.join(rows)}<button type='submit'>Save</button> "
        "<button type='submit' name='all' value='unsubscribe'>Unsubscribe from all</button>"
        "</form>"
    )


@router.get("/preferences/{token}")
async def preference_page(token: str, request: Request) -> Response:
    """The customer's subscription groups, each with a box to tick, and a Save button."""
    prefs = preferences(request)

    def load() -> list[GroupState]:
        workspace_id, profile_id = prefs.customer(token)
        return prefs.states(workspace_id, profile_id)

    try:
        states = await run_in_threadpool(load)
    except TokenRejected as exc:
        return _refused(exc)
    return _page("Your email and text preferences", _form(request.url.path, states, False))


@router.post("/preferences/{token}")
async def save_preferences(token: str, request: Request) -> Response:
    """Save the page: ticked groups subscribed (double opt-in ones once confirmed), the
    others unsubscribed; or, with ``all=unsubscribe``, unsubscribe from everything."""
    body = (await request.body())[:16384].decode("utf-8", errors="replace")
    form = parse_qs(body)
    chosen = set(form.get("group", []))
    everything = form.get("all") == ["unsubscribe"]
    prefs = preferences(request)
    try:
        states = await run_in_threadpool(lambda: prefs.save(token, chosen, everything=everything))
    except TokenRejected as exc:
        return _refused(exc)
    return _page("Your email and text preferences", _form(request.url.path, states, True))


@router.get("/confirm/{token}")
async def confirmation_page(token: str, request: Request) -> Response:
    """The double opt-in link: a page that confirms with one button."""
    try:
        await run_in_threadpool(preferences(request).check_confirmation, token)
    except TokenRejected as exc:
        return _refused(exc)
    action = html.escape(str(request.url.path))
    return _page(
        "Confirm your subscription",
        f"<form method='post' action='{action}'>"
        "<input type='hidden' name='confirm' value='yes'>"
        "<button type='submit'>Yes, subscribe me</button></form>",
    )


@router.post("/confirm/{token}")
async def confirm(token: str, request: Request) -> Response:
    """Confirm the subscription; doing it again changes nothing."""
    try:
        name = await run_in_threadpool(preferences(request).confirm, token)
    except TokenRejected as exc:
        return _refused(exc)
    return _page("You are subscribed", f"<p>You are subscribed to {html.escape(name)}.</p>")
