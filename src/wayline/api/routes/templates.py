"""``/api/v1/templates``: message templates — list, apply, preview for a customer."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from wayline.api.deps import AdminWorkspace, ServicesDep
from wayline.api.responses import JSON
from wayline.channels.preview import TemplateNotFound, preview
from wayline.channels.templates import RenderError, TemplateInvalid, load_template_text
from wayline.errors import ProfileNotFound
from wayline.store.sql import SqlStore
from wayline.store.templates import StoredTemplate, TemplateStore

router = APIRouter(prefix="/api/v1/templates", tags=["templates"])


def _store(services: ServicesDep) -> SqlStore:
    assert isinstance(services.store, SqlStore)
    return services.store


def _json(t: StoredTemplate) -> dict[str, Any]:
    return {
        "name": t.name,
        "channel": t.channel,
        "version": t.version,
        "created_at": t.created_at.isoformat(),
        "template": t.spec,
    }


@router.get("")
async def list_templates(workspace_id: AdminWorkspace, services: ServicesDep) -> dict[str, Any]:
    """The latest version of each template."""
    found = await run_in_threadpool(TemplateStore(_store(services)).list, workspace_id)
    return {"data": [_json(t) for t in found]}


@router.put("/{name}")
async def apply_template(
    name: str, request: Request, workspace_id: AdminWorkspace, services: ServicesDep
) -> JSON:
    """Store a template (the fields of a template file, as JSON) as a new version when it
    changed. Problems answer 422, each naming its field."""
    raw = await request.body()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise HTTPException(400, f"malformed JSON: {exc}") from None
    if not isinstance(body, dict):
        raise HTTPException(400, "body must be a JSON object")
    if body.setdefault("name", name) != name:
        raise HTTPException(422, "name: differs from the name in the path")
    try:
        spec = load_template_text(orjson.dumps(body).decode(), "<api>")
    except TemplateInvalid as exc:
        first = exc.problems[0]
        return JSON(
            {
                "error": f"{first.path}: {first.message}" if first.path else first.message,
                "field": first.path or None,
                "problems": [{"field": p.path, "error": p.message} for p in exc.problems],
            },
            status_code=422,
        )
    templates = TemplateStore(_store(services))
    version, created = await run_in_threadpool(
        templates.apply, workspace_id, spec.name, spec.channel, spec.as_spec()
    )
    return JSON(
        {"name": spec.name, "version": version, "created": created},
        status_code=201 if created else 200,
    )


class PreviewRequest(BaseModel):
    profile: str = Field(description="userId, anonymousId, email or profile id")
    event: dict[str, Any] | None = Field(None, description="As `event` in the template")
    journey: dict[str, Any] | None = Field(None, description="As `journey` in the template")


@router.post("/{name}/preview")
async def preview_template(
    name: str, body: PreviewRequest, workspace_id: AdminWorkspace, services: ServicesDep
) -> JSON:
    """The template rendered for a customer. A variable the template uses without a
    ``default`` and the customer lacks answers 422 naming it, as does a field over a
    render limit (loop iterations, output, time)."""

    def run() -> dict[str, Any]:
        return preview(
            _store(services),
            workspace_id,
            name,
            body.profile,
            event=body.event,
            journey=body.journey,
        )

    try:
        return JSON(await run_in_threadpool(run))
    except TemplateNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except ProfileNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except RenderError as exc:
        return JSON({"error": str(exc), "field": exc.field}, status_code=422)


class SendTestRequest(BaseModel):
    to: str = Field(description="The address to send the test to")
    profile: str = Field(description="The customer to render it for: any of their ids")


@router.post("/{name}/test")
async def test_send(
    name: str, body: SendTestRequest, workspace_id: AdminWorkspace, services: ServicesDep
) -> JSON:
    """Send an email template, rendered strictly for a customer, to a given address:
    subject prefixed ``[Test]``, links not tracked, nothing recorded."""
    from wayline.channels.email import EmailChannel, EmailNotSent, EmailNotSetUp
    from wayline.channels.tracking import Tracker

    store = _store(services)
    settings = services.settings
    tracker = Tracker(store, settings.public_url, timedelta(days=settings.tracking_token_days))

    def run() -> dict[str, Any]:
        channel = EmailChannel(
            store,
            tracker,
            timeout=settings.smtp_timeout_seconds,
            allowed_hosts=settings.webhook_allowed_hosts,
        )
        try:
            return channel.send_test(workspace_id, name, body.profile, body.to)
        finally:
            channel.close()

    try:
        return JSON(await run_in_threadpool(run))
    except (TemplateNotFound, ProfileNotFound) as exc:
        raise HTTPException(404, str(exc)) from None
    except EmailNotSetUp as exc:
        raise HTTPException(409, str(exc)) from None
    except EmailNotSent as exc:
        return JSON({"error": f"not sent: {exc}"}, status_code=502)
    except RenderError as exc:
        return JSON({"error": str(exc), "field": exc.field}, status_code=422)


variables_router = APIRouter(prefix="/api/v1/variables", tags=["templates"])


@variables_router.get("")
async def get_variables(workspace_id: AdminWorkspace, services: ServicesDep) -> dict[str, Any]:
    """The workspace variables templates see as ``workspace.NAME``."""
    from wayline.store.templates import VariableStore

    store = VariableStore(_store(services), ttl=0)
    return {"variables": await run_in_threadpool(store.get, workspace_id)}


@variables_router.put("")
async def set_variables(
    request: Request, workspace_id: AdminWorkspace, services: ServicesDep
) -> JSON:
    """Replace the workspace variables: ``{"variables": {"support_email": "…"}}``."""
    from wayline.channels.templates import check_variables
    from wayline.store.templates import VariableStore

    try:
        body = orjson.loads(await request.body())
        variables = check_variables(body, "<api>")
    except orjson.JSONDecodeError as exc:
        raise HTTPException(400, f"malformed JSON: {exc}") from None
    except TemplateInvalid as exc:
        first = exc.problems[0]
        field = first.path or "variables"
        return JSON({"error": f"{field}: {first.message}", "field": field}, status_code=422)
    await run_in_threadpool(VariableStore(_store(services)).replace, workspace_id, variables)
    return JSON({"variables": variables})
