"""The settings documents browser SDKs fetch before they send anything.

analytics.js (Segment) reads ``{cdnURL}/v1/projects/{writeKey}/settings``; RudderStack's
JavaScript SDK reads ``{configUrl}/sourceConfig/?p=…&v=…&writeKey=…``. Wayline answers both,
so either SDK starts with Wayline as its only host: no destination loads in the browser,
and analytics.js is told to send its events back to the host it asked (``apiHost``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from wayline.api.deps import ServicesDep, basic_username
from wayline.api.responses import JSON
from wayline.api.routes.ingest import write_key_workspace

router = APIRouter(tags=["tracking"])

#: Browsers may keep a settings document this long; a changed one is seen within it.
CACHE_CONTROL = "public, max-age=60"


def analytics_js_settings(write_key: str, scheme: str, host: str) -> dict[str, Any]:
    """What analytics.js needs to send every call, and nothing else, to ``host``."""
    return {
        "integrations": {
            "Segment.io": {
                "apiKey": write_key,
                "apiHost": f"{host}/v1",
                "protocol": scheme,
                "addBundledMetadata": False,
            }
        },
        "plan": {},
        "edgeFunction": {},
        "analyticsNextEnabled": True,
        "middlewareSettings": {},
        "enabledMiddleware": {},
        # no client metrics: analytics.js would post them to {apiHost}/m
        "metrics": {"sampleRate": 0},
        "legacyVideoPluginsEnabled": False,
        "remotePlugins": [],
    }


def rudderstack_source_config(write_key: str, workspace_id: str, name: str) -> dict[str, Any]:
    """A RudderStack source config: one enabled source with no destinations to load."""
    return {
        "isHosted": True,
        "source": {
            "id": workspace_id,
            "name": name,
            "writeKey": write_key,
            "workspaceId": workspace_id,
            "enabled": True,
            "config": {
                "statsCollection": {
                    "errorReports": {"enabled": False},
                    "metrics": {"enabled": False},
                }
            },
            "destinations": [],
        },
    }


@router.get("/v1/projects/{write_key}/settings", response_class=JSON)
async def analytics_js(write_key: str, request: Request) -> JSON:
    """analytics.js's settings (set ``cdnURL`` to Wayline's address): events go to Wayline."""
    write_key_workspace(request, write_key)
    body = analytics_js_settings(write_key, request.url.scheme, request.url.netloc)
    return JSON(body, headers={"Cache-Control": CACHE_CONTROL})


@router.get("/sourceConfig", response_class=JSON)
@router.get("/sourceConfig/", response_class=JSON, include_in_schema=False)
async def source_config(request: Request, services: ServicesDep) -> JSON:
    """RudderStack JS's source config (set ``configUrl`` to Wayline's address)."""
    key = basic_username(request) or request.query_params.get("writeKey")
    workspace_id = write_key_workspace(request, key)
    workspace = await run_in_threadpool(services.store.workspace, workspace_id)
    name = workspace.name if workspace is not None else workspace_id
    assert key is not None  # write_key_workspace refuses a missing key
    body = rudderstack_source_config(key, workspace_id, name)
    return JSON(body, headers={"Cache-Control": CACHE_CONTROL})
