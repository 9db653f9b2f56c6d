"""``/metrics`` (Prometheus text format) and ``/ready``: what operators and load balancers ask.

Each app has its own registry: nothing is process-wide, so two apps in one process (tests)
count apart. Request figures are counted by a plain ASGI middleware and labelled by the
route's template (``/api/v1/profiles/{profile_id}``), never by the raw path, so that the
number of series stays bounded whatever clients send.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wayline.api.deps import Services
from wayline.api.responses import JSON

log = logging.getLogger("wayline.api.operations")

#: Seconds: from a cached single call (well under a millisecond) to a slow report.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

router = APIRouter(tags=["health"])


class RequestMetrics:
    """Counts requests and their latency by method, route and status."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "wayline_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ("method", "route", "status"),
            registry=registry,
        )
        self.latency = Histogram(
            "wayline_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template.",
            ("method", "route"),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"]
            self.requests.labels(method, route, str(status)).inc()
            self.latency.labels(method, route).observe(time.perf_counter() - started)


class StoreCollector(Collector):
    """Figures read from the store (and the warehouse loader) at each scrape."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[Metric]:
        from wayline.store.operations import Operations
        from wayline.store.sql import SqlStore

        up = GaugeMetricFamily("wayline_store_up", "1 when the state store answered this scrape.")
        store = self.services.store
        if not isinstance(store, SqlStore):
            return
        ops = Operations(store)
        try:
            families = list(self._families(ops))
        except Exception:  # a scrape reports the store down rather than failing
            log.exception("metrics: the store did not answer")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self, ops: Any) -> Iterable[Metric]:
        now = self.services.clock.now()
        cursors = dict(ops.cursors())
        loader = self._loader_cursor()
        if loader is not None:
            cursors["loader"] = loader
        events = GaugeMetricFamily(
            "wayline_consumer_lag_events",
            "Inbox events a consumer has still to process.",
            labels=("consumer",),
        )
        seconds = GaugeMetricFamily(
            "wayline_consumer_lag_seconds",
            "Age of the oldest inbox event a consumer has still to process (0 when none).",
            labels=("consumer",),
        )
        for name, cursor in sorted(cursors.items()):
            lag = ops.lag(cursor, now)
            events.add_metric([name], lag.events)
            seconds.add_metric([name], lag.seconds)
        yield events
        yield seconds
        outbox = GaugeMetricFamily(
            "wayline_outbox_messages", "Outbox messages by state.", labels=("state",)
        )
        for state, count in sorted(ops.outbox_depth().items()):
            outbox.add_metric([state], count)
        yield outbox
        instances = GaugeMetricFamily(
            "wayline_journey_instances", "Journey instances by state.", labels=("state",)
        )
        for state, count in sorted(ops.instances().items()):
            instances.add_metric([state], count)
        yield instances
        letters = GaugeMetricFamily(
            "wayline_dead_letters",
            "Inbox rows a consumer parked as dead letters (not yet retried or dropped).",
            labels=("consumer",),
        )
        for consumer, count in sorted(ops.dead_letters().items()):
            letters.add_metric([consumer], count)
        yield letters

    def _loader_cursor(self) -> Any:
        # only where this process loads: elsewhere the warehouse may be another's to hold
        if self.services.eraser is None or self.services.warehouse is None:
            return None
        try:
            return self.services.warehouse.get().cursor()
        except Exception:  # the store's figures are still worth a scrape
            log.exception("metrics: the warehouse did not answer")
            return None


def install(app: FastAPI, services: Services) -> None:
    """Count the app's requests and serve ``/metrics`` and ``/ready`` from it."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(StoreCollector(services))
    app.state.metrics_registry = registry
    app.add_middleware(RequestMetrics, registry=registry)
    app.include_router(router)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus text format: requests, consumer lag, outbox and journey instances."""
    registry: CollectorRegistry = request.app.state.metrics_registry
    body = await run_in_threadpool(generate_latest, registry)
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")


@router.get("/ready")
async def ready(request: Request) -> JSON:
    """Readiness: 200 when the state store and (where this process reports) the warehouse
    answer a query, else 503 naming what failed."""
    services: Services = request.app.state.services
    checks = await run_in_threadpool(_checks, services)
    ok = all(value == "ok" for value in checks.values())
    return JSON(
        {"status": "ready" if ok else "unready", "checks": checks},
        status_code=200 if ok else 503,
    )


def _checks(services: Services) -> dict[str, str]:
    from wayline.store.operations import Operations
    from wayline.store.sql import SqlStore

    checks: dict[str, str] = {}
    try:
        if isinstance(services.store, SqlStore):
            Operations(services.store).ping()
        checks["store"] = "ok"
    except Exception as exc:
        checks["store"] = f"error: {exc}".splitlines()[0][:300]
    if services.warehouse is not None:
        try:
            services.warehouse.get().cursor()
            checks["warehouse"] = "ok"
        except Exception as exc:
            checks["warehouse"] = f"error: {exc}".splitlines()[0][:300]
    return checks
