"""``/v1/providers/{workspace}/email`` and ``…/sms``: what providers report about messages
(deliveries, bounces, complaints), and ``/api/v1/provider_webhooks``: their URLs.

A provider authenticates with the workspace's provider secret, given as the ``key`` query
parameter, as a bearer token, or as the password of HTTP basic auth (whichever the provider
can send: Postmark takes ``https://user:secret@host/…``, Twilio and SNS a URL).
"""

from __future__ import annotations

import base64
import hmac
from typing import Any
from urllib.parse import parse_qs, quote

import orjson
from fastapi import APIRouter, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from wayline.api.deps import AdminWorkspace, ServicesDep, services
from wayline.api.responses import JSON
from wayline.channels import provider_events
from wayline.channels.secrets import generated_secret, stored_secret
from wayline.store.sql import SqlStore

#: The name of the secret in ``workspace_secrets``.
PROVIDER_WEBHOOK = "provider_webhook"

router = APIRouter(prefix="/v1/providers", tags=["providers"])
admin_router = APIRouter(prefix="/api/v1/provider_webhooks", tags=["providers"])


def _given_secret(request: Request) -> str | None:
    if key := request.query_params.get("key"):
        return key
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip()).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None


def _authenticate(request: Request, workspace_id: str) -> SqlStore:
    store = services(request).store
    assert isinstance(store, SqlStore)
    given = _given_secret(request)
    expected = stored_secret(store, workspace_id, PROVIDER_WEBHOOK) if given else None
    # compared as bytes: compare_digest refuses str with non-ASCII characters
    if (
        given is None
        or expected is None
        or not hmac.compare_digest(given.encode(), expected.encode())
    ):
        raise HTTPException(401, "key: not this workspace's provider secret")
    return store


def _invalid(exc: provider_events.ReportInvalid) -> JSON:
    return JSON({"error": str(exc), "field": exc.field}, status_code=422)


@router.post("/{workspace_id}/email", response_model=None)
async def email_reports(workspace_id: str, request: Request) -> dict[str, Any] | JSON:
    """Bounces, complaints and deliveries of email: the generic shape or Postmark's.
    Hard bounces and complaints suppress the address."""
    store = await run_in_threadpool(_authenticate, request, workspace_id)
    raw = await request.body()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return JSON({"error": "body: not JSON", "field": "body"}, status_code=400)
    try:
        reports = provider_events.email_reports(body)
    except provider_events.ReportInvalid as exc:
        return _invalid(exc)

    def run() -> list[dict[str, Any]]:
        return [provider_events.apply(store, workspace_id, r) for r in reports]

    return {"data": await run_in_threadpool(run)}


@router.post("/{workspace_id}/sms", response_model=None)
async def sms_status(workspace_id: str, request: Request) -> dict[str, Any] | JSON:
    """Twilio's status callback (form-encoded): ``delivered`` records ``SMS Delivered``;
    ``failed``/``undelivered`` with a permanent error code suppress the number."""
    store = await run_in_threadpool(_authenticate, request, workspace_id)
    raw = (await request.body())[:65536].decode("utf-8", errors="replace")
    form = {k: v[0] for k, v in parse_qs(raw).items()}
    try:
        report = provider_events.twilio_report(form)
    except provider_events.ReportInvalid as exc:
        return _invalid(exc)
    if report is None:
        return {"data": []}
    done = await run_in_threadpool(provider_events.apply, store, workspace_id, report)
    return {"data": [done]}


@admin_router.get("")
async def provider_webhooks(workspace_id: AdminWorkspace, svc: ServicesDep) -> dict[str, Any]:
    """The URLs to give the email and SMS providers, each with the workspace's secret (made
    the first time it is asked for). Treat them as secrets."""
    store = svc.store

    def secret() -> str:
        return generated_secret(store, workspace_id, PROVIDER_WEBHOOK)

    key = quote(await run_in_threadpool(secret), safe="")
    base = f"{svc.settings.public_url.rstrip('/')}/v1/providers/{workspace_id}"
    return {"email_url": f"{base}/email?key={key}", "sms_url": f"{base}/sms?key={key}"}
