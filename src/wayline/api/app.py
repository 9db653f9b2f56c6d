"""``create_app(settings)``: the ASGI application, with everything passed in."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from wayline import __version__
from wayline.api import operations
from wayline.api.cors import AllowedOrigins, TrackingCors
from wayline.api.deps import CredentialCache, Services
from wayline.api.gate import BodyTooLarge, NulCharacter, RequestGate
from wayline.api.responses import JSON
from wayline.api.routes import (
    admin,
    analytics,
    channels,
    consent,
    content,
    controls,
    credentials,
    deadletters,
    inapp,
    ingest,
    insights,
    journeys,
    origins,
    placements,
    preferences,
    profiles,
    providers,
    sdk_settings,
    segments,
    stages,
    templates,
    tracking,
    warehouse,
)
from wayline.ingest import IngestError
from wayline.store.origins import OriginsStore
from wayline.store.sql import SqlStore

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def _origins_loader(services: Services) -> Callable[[str], list[str]]:
    """Reads a workspace's allowed origins (none on a store without them: any origin)."""
    if not isinstance(services.store, SqlStore):
        return lambda _workspace_id: []
    return OriginsStore(services.store).allowed


def create_app(services: Services, lifespan: Lifespan | None = None) -> FastAPI:
    @asynccontextmanager
    async def no_lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield

    app = FastAPI(
        title="Wayline",
        version=__version__,
        description="Segment-compatible tracking and the Wayline admin API.",
        default_response_class=JSON,
        lifespan=lifespan or no_lifespan,
    )
    app.state.services = services
    app.state.credentials = CredentialCache(services.store)
    app.state.origins = AllowedOrigins(_origins_loader(services))
    # the gate inside CORS, so that a browser can read its 401s and 413s
    app.add_middleware(RequestGate, settings=services.settings)
    app.add_middleware(TrackingCors)

    @app.exception_handler(IngestError)
    async def ingest_error(_request: Request, exc: IngestError) -> JSON:
        return JSON(exc.body, status_code=exc.status)

    @app.exception_handler(BodyTooLarge)
    async def body_too_large(_request: Request, exc: BodyTooLarge) -> JSON:
        return JSON(exc.as_json(), status_code=413)

    @app.exception_handler(NulCharacter)
    async def nul_character(_request: Request, exc: NulCharacter) -> JSON:
        return JSON(exc.as_json(), status_code=400)

    @app.exception_handler(orjson.JSONEncodeError)
    async def unwritable(_request: Request, exc: orjson.JSONEncodeError) -> JSON:
        # JSON that parses (up to 1,024 levels) but is nested past what orjson writes
        # (255): the caller's doing, not the server's; anything else stays a 500
        if "recursion limit" not in str(exc).lower():
            raise exc
        return JSON(
            {"error": "body: nested too deeply to be stored", "field": "body"}, status_code=400
        )

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSON:
        return JSON({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSON:
        errors = exc.errors()
        first = errors[0] if errors else {}
        field = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path"))
        return JSON(
            {"error": f"{field}: {first.get('msg', 'invalid')}", "field": field},
            status_code=422,
        )

    app.include_router(ingest.router)
    app.include_router(sdk_settings.router)
    app.include_router(origins.router)
    app.include_router(credentials.router)
    app.include_router(profiles.router)
    app.include_router(journeys.router)
    app.include_router(controls.router)
    app.include_router(segments.router)
    app.include_router(stages.router)
    app.include_router(admin.router)
    app.include_router(insights.router)
    app.include_router(templates.router)
    app.include_router(templates.variables_router)
    app.include_router(channels.router)
    app.include_router(tracking.router)
    app.include_router(analytics.router)
    app.include_router(content.router)
    app.include_router(placements.router)
    app.include_router(inapp.router)
    app.include_router(preferences.router)
    app.include_router(consent.groups_router)
    app.include_router(consent.suppressions_router)
    app.include_router(providers.router)
    app.include_router(providers.admin_router)
    app.include_router(warehouse.router)
    app.include_router(deadletters.router)
    operations.install(app, services)
    return app
