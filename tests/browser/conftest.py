"""The browser tier: the real Segment and RudderStack browser SDKs, in Debian's Chromium,
sending from a page on one origin to a real ``wayline serve`` on another.

The SDK bundles are vendored (``vendor/``, see its README) so that a run needs no network.
Chromium is the system's (``/usr/bin/chromium``, installed by ``scripts/test``); Playwright
drives it through ``executable_path`` and downloads no browser of its own.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.acceptance.conftest import installation
from tests.acceptance.harness import WaylineServer, Workspace, free_port, wait_until

CHROMIUM = Path(os.environ.get("WAYLINE_TEST_CHROMIUM", "/usr/bin/chromium"))
VENDOR = Path(__file__).parent / "vendor"
SEGMENT_JS = "analytics-next-1.84.3.js"
RUDDERSTACK_JS = "rudderstack-analytics-js-3.34.1.js"
#: How long an SDK may take to deliver what it was given (its own timers and retries).
DELIVERY_TIMEOUT = 60.0


@dataclass
class PageServer:
    """Serves the vendored SDKs and the pages the tests write, on its own origin."""

    port: int = field(default_factory=free_port)
    pages: dict[str, bytes] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        # "localhost", not the server's 127.0.0.1: another host as well as another port
        return f"http://localhost:{self.port}"

    def add(self, html: str) -> str:
        path = f"/pages/{uuid.uuid4().hex}.html"
        self.pages[path] = html.encode()
        return self.origin + path

    def serve(self) -> ThreadingHTTPServer:
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path in pages:
                    body, kind = pages[path], "text/html; charset=utf-8"
                elif path.startswith("/vendor/") and (VENDOR / path[8:]).is_file():
                    body, kind = (VENDOR / path[8:]).read_bytes(), "text/javascript"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        return httpd


@pytest.fixture(scope="session")
def page_server() -> Iterator[PageServer]:
    pages = PageServer()
    httpd = pages.serve()
    yield pages
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        # never a skip: scripts/test installs it (apt-get install chromium)
        pytest.fail(f"the browser tier needs Chromium at {CHROMIUM}: apt-get install chromium")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
    yield launched
    launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no stored anonymous ids or queued events) and its page."""
    context = browser.new_context()
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture(scope="module")
def wayline(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WaylineServer]:
    """A ``wayline serve`` on the embedded store, shared by a module's tests."""
    with installation(request, "sqlite", tmp_path_factory.mktemp("browser-sqlite")) as s:
        s.start()
        yield s


@dataclass(frozen=True, kw_only=True)
class Sent:
    """What a workspace holds for one customer once the SDK's calls have landed."""

    stats: dict[str, int]
    timeline: list[dict[str, Any]]

    @property
    def types(self) -> list[str]:
        return sorted(e["type"] for e in self.timeline)


def landed(server: WaylineServer, ws: Workspace, user: str, count: int) -> Sent:
    """Wait until ``count`` events are stored and resolved, then what the customer has."""
    stats = wait_until(
        lambda: server.stats(ws), lambda s: s["events"] >= count, timeout=DELIVERY_TIMEOUT
    )
    assert stats["events"] >= count, f"only {stats} landed:\n{server.log_tail()}"
    server.barrier()
    return Sent(stats=server.stats(ws), timeline=server.timeline(ws, user))


def assert_exactly_once(sent: Sent, count: int) -> None:
    assert sent.stats["events"] == count, sent.stats
    assert len(sent.timeline) == count, sent.timeline
    ids = [e["messageId"] for e in sent.timeline]
    assert len(set(ids)) == count, ids


def js(value: Any) -> str:
    """A Python value as a JavaScript literal in a page."""
    return json.dumps(value)
