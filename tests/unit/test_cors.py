"""Which paths get CORS headers, and what the middleware adds to an answer."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from wayline.api.cors import TrackingCors, is_tracking_path


@pytest.mark.parametrize(
    ("path", "tracking"),
    [
        ("/v1/track", True),
        ("/v1/t", True),
        ("/v1/b", True),
        ("/v1/projects/wk_1/settings", True),
        ("/beacon/v1/batch", True),
        ("/sourceConfig", True),
        ("/sourceConfig/", True),
        ("/api/v1/stats", False),
        ("/api/v1/workspace/origins", False),
        ("/v1/content/banner", False),
        ("/v1/providers/ws/email", False),
        ("/health", False),
        ("/t/open/x", False),
    ],
)
def test_tracking_paths(path: str, tracking: bool) -> None:
    assert is_tracking_path(path) is tracking


def _app() -> TrackingCors:
    def answer(_request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok", headers={"Vary": "Accept-Encoding"})

    routes = [Route("/v1/track", answer, methods=["POST"]), Route("/api/v1/x", answer)]
    return TrackingCors(Starlette(routes=routes))


def test_the_origin_joins_the_answers_vary_and_other_paths_are_untouched() -> None:
    client = TestClient(_app())
    r = client.post("/v1/track", headers={"Origin": "https://a.example"})
    assert r.headers["access-control-allow-origin"] == "https://a.example"
    assert r.headers["vary"] == "Origin, Accept-Encoding"
    other = client.get("/api/v1/x", headers={"Origin": "https://a.example"})
    assert "access-control-allow-origin" not in other.headers
    assert other.headers["vary"] == "Accept-Encoding"
    # no Origin, no CORS headers: a server's request
    assert "access-control-allow-origin" not in client.post("/v1/track").headers


def test_preflight_allows_the_asked_headers_but_not_malformed_ones() -> None:
    r = TestClient(_app()).options(
        "/v1/track",
        headers={
            "Origin": "https://a.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "AnonymousId, SentAt, bad header, content-type",
        },
    )
    assert r.status_code == 204
    assert r.headers["access-control-allow-headers"] == (
        "Authorization, Content-Type, Content-Encoding, AnonymousId, SentAt"
    )
