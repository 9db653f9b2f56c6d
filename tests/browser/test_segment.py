"""analytics.js (``@segment/analytics-next``), unchanged, with Wayline as its CDN and API."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, Request

from tests.acceptance.harness import WaylineServer, Workspace
from tests.browser.conftest import (
    SEGMENT_JS,
    PageServer,
    assert_exactly_once,
    js,
    landed,
)


def open_page(
    page: Page, pages: PageServer, server: WaylineServer, ws: Workspace, **options: Any
) -> list[Request]:
    """Load analytics.js on a page of another origin; answers the requests it makes."""
    html = f"""<!doctype html><html><head><title>Shop</title>
<script src="/vendor/{SEGMENT_JS}"></script>
<script>
  window.ready = AnalyticsNext.AnalyticsBrowser.load(
    {{writeKey: {js(ws.write_key)}, cdnURL: {js(server.url)}}}, {js(options)}
  ).then(([analytics]) => {{ window.analytics = analytics; return true; }});
</script></head><body><h1>Shop</h1></body></html>"""
    sent: list[Request] = []
    page.context.on("request", lambda r: sent.append(r) if r.url.startswith(server.url) else None)
    page.goto(pages.add(html))
    assert page.evaluate("window.ready") is True
    return sent


def paths(requests: list[Request]) -> list[str]:
    return [r.url.split("?")[0].removeprefix(r.url.split("/v1/")[0]) for r in requests]


def posts(page: Page, requests: list[Request]) -> list[Request]:
    """The POSTs the page made so far (a round trip first: Playwright reports requests
    while it waits on the browser, not while the test polls the server)."""
    page.evaluate("0")
    return [r for r in requests if r.method == "POST"]


def test_page_track_identify_alias_group_land_once_each(
    page: Page, page_server: PageServer, wayline: WaylineServer
) -> None:
    ws = wayline.create_workspace("segment")
    requests = open_page(page, page_server, wayline, ws)
    failed = page.evaluate(
        """async () => {
        const calls = [
          await analytics.page("Shop", "Home", {path: "/"}),
          await analytics.track("Product Viewed", {sku: "A-1"}),
          await analytics.alias("ann-1"),
          await analytics.identify("ann-1", {email: "ann@example.com"}),
          await analytics.group("acme", {plan: "pro"}),
        ];
        return calls.filter((ctx) => ctx.failedDelivery()).length;
      }"""
    )
    assert failed == 0
    sent = landed(wayline, ws, "ann-1", 5)
    assert_exactly_once(sent, 5)
    assert sent.types == ["alias", "group", "identify", "page", "track"]
    by_type = {e["type"]: e for e in sent.timeline}
    assert by_type["track"]["properties"] == {"sku": "A-1"}
    assert by_type["identify"]["traits"]["email"] == "ann@example.com"
    assert by_type["group"]["groupId"] == "acme"
    assert by_type["page"]["context"]["page"]["path"] == "/"
    assert by_type["alias"]["previousId"] == by_type["page"]["anonymousId"]
    assert by_type["track"]["context"]["userAgent"].startswith("Mozilla/5.0")
    # the settings came from Wayline; each call went to its short path, preflighted
    assert sorted(paths(posts(page, requests))) == ["/v1/a", "/v1/g", "/v1/i", "/v1/p", "/v1/t"]
    assert f"/v1/projects/{ws.write_key}/settings" in paths(requests)


def test_batching_sends_one_batch_to_v1_b(
    page: Page, page_server: PageServer, wayline: WaylineServer
) -> None:
    ws = wayline.create_workspace("segment-batch")
    batching = {"strategy": "batching", "config": {"size": 3, "timeout": 60_000}}
    requests = open_page(
        page,
        page_server,
        wayline,
        ws,
        integrations={"Segment.io": {"deliveryStrategy": batching}},
    )
    page.evaluate(
        """() => {
        analytics.identify("bea-1");
        analytics.track("Cart Viewed");
        analytics.track("Checkout Started");
      }"""
    )
    sent = landed(wayline, ws, "bea-1", 3)
    assert_exactly_once(sent, 3)
    (post,) = posts(page, requests)
    assert paths([post]) == ["/v1/b"]
    assert post.headers["content-type"] == "text/plain"


def test_what_is_queued_is_sent_as_the_page_unloads(
    page: Page, page_server: PageServer, wayline: WaylineServer
) -> None:
    ws = wayline.create_workspace("segment-unload")
    batching = {"strategy": "batching", "config": {"size": 100, "timeout": 600_000}}
    open_page(
        page,
        page_server,
        wayline,
        ws,
        integrations={"Segment.io": {"deliveryStrategy": batching}},
    )
    page.evaluate(
        """() => {
        analytics.identify("cy-1");
        analytics.track("Order Completed", {revenue: 12.5});
      }"""
    )
    assert wayline.stats(ws)["events"] == 0  # held: neither full nor timed out
    # pagehide: analytics.js flushes with a keepalive request (text/plain, as every batch),
    # which outlives the page, so the browser reports it to no one: Wayline's count tells
    page.goto("about:blank")
    sent = landed(wayline, ws, "cy-1", 2)
    assert_exactly_once(sent, 2)


def test_a_call_made_while_the_server_is_down_lands_once_it_is_back(
    page: Page, page_server: PageServer, wayline: WaylineServer
) -> None:
    ws = wayline.create_workspace("segment-retry")
    requests = open_page(page, page_server, wayline, ws)
    page.evaluate("""analytics.identify("dee-1")""")
    landed(wayline, ws, "dee-1", 1)
    wayline.stop()
    try:
        # resolves once analytics.js has failed to send and queued the call for a retry
        page.evaluate("""analytics.track("Offline Purchase", {amount: 3})""")
        assert any(r.failure for r in requests if r.url.endswith("/v1/t"))
    finally:
        wayline.start()
    sent = landed(wayline, ws, "dee-1", 2)
    assert_exactly_once(sent, 2)
    assert sent.types == ["identify", "track"]


def test_an_origin_the_workspace_does_not_list_is_refused(
    page: Page, page_server: PageServer, wayline: WaylineServer
) -> None:
    ws = wayline.create_workspace("segment-origins")
    r = wayline.http.put(
        "/api/v1/workspace/origins", headers=ws.admin, json={"origins": ["https://elsewhere.test"]}
    )
    assert r.status_code == 200, r.text
    # the settings document carries the key too: it is refused, and analytics.js does not start
    html = f"""<!doctype html><script src="/vendor/{SEGMENT_JS}"></script><script>
      window.ready = AnalyticsNext.AnalyticsBrowser.load(
        {{writeKey: {js(ws.write_key)}, cdnURL: {js(wayline.url)}}}
      ).then(() => "started", (e) => "refused");
    </script>"""
    page.goto(page_server.add(html))
    assert page.evaluate("window.ready") == "refused"
    r = wayline.http.put(
        "/api/v1/workspace/origins", headers=ws.admin, json={"origins": [page_server.origin]}
    )
    assert r.status_code == 200, r.text
    open_page(page, page_server, wayline, ws)
    assert page.evaluate("""analytics.track("Allowed").then((ctx) => !ctx.failedDelivery())""")
    sent = landed(wayline, ws, anonymous_id(page), 1)
    assert_exactly_once(sent, 1)


def anonymous_id(page: Page) -> str:
    anonymous: str = page.evaluate("analytics.user().anonymousId()")
    return anonymous
