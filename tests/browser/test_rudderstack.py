"""RudderStack's JavaScript SDK (``@rudderstack/analytics-js`` v3), unchanged, with Wayline as
its data plane and its config host."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, Request

from tests.acceptance.harness import WaylineServer, Workspace
from tests.browser.conftest import (
    RUDDERSTACK_JS,
    PageServer,
    assert_exactly_once,
    js,
    landed,
)


def open_page(
    page: Page, pages: PageServer, server: WaylineServer, ws: Workspace, **options: Any
) -> list[Request]:
    """Load the SDK on a page of another origin; answers the requests it makes to Wayline."""
    load_options = {"configUrl": server.url, "logLevel": "ERROR", **options}
    html = f"""<!doctype html><html><head><title>Shop</title>
<script src="/vendor/{RUDDERSTACK_JS}"></script>
<script>
  const ra = new rudderanalytics.RudderAnalytics();
  window.ra = ra;
  window.ready = new Promise((resolve) => ra.ready(() => resolve(true)));
  ra.load({js(ws.write_key)}, {js(server.url)}, {js(load_options)});
</script></head><body><h1>Shop</h1></body></html>"""
    sent: list[Request] = []
    page.context.on("request", lambda r: sent.append(r) if r.url.startswith(server.url) else None)
    page.goto(pages.add(html))
    assert page.evaluate("window.ready") is True
    return sent


def posts(page: Page, requests: list[Request]) -> list[tuple[str, Request]]:
    """The POSTs made so far, by path (a round trip first: Playwright reports requests while
    it waits on the browser, not while the test polls the server)."""
    page.evaluate("0")
    return [(r.url.split("?")[0].split(":", 2)[2].partition("/")[2], r) for r in requests]


def post_paths(page: Page, requests: list[Request]) -> list[str]:
    return sorted("/" + path for path, r in posts(page, requests) if r.method == "POST")


def test_page_track_identify_alias_group_land_once_each(
    page: Page, page_server: PageServer, wayline: WaylineServer
) -> None:
    ws = wayline.create_workspace("rudder")
    requests = open_page(page, page_server, wayline, ws)
    page.evaluate(
        """() => {
        ra.page("Shop", "Home", {path: "/"});
        ra.track("Product Viewed", {sku: "A-1"});
        ra.alias("ann-r");
        ra.identify("ann-r", {email: "ann@example.com"});
        ra.group("acme", {plan: "pro"});
      }"""
    )
    sent = landed(wayline, ws, "ann-r", 5)
    assert_exactly_once(sent, 5)
    assert sent.types == ["alias", "group", "identify", "page", "track"]
    by_type = {e["type"]: e for e in sent.timeline}
    assert by_type["track"]["properties"] == {"sku": "A-1"}
    assert by_type["identify"]["context"]["traits"]["email"] == "ann@example.com"
    assert by_type["group"]["groupId"] == "acme"
    assert by_type["alias"]["previousId"] == by_type["page"]["anonymousId"]
    assert by_type["track"]["context"]["library"]["name"] == "RudderLabs JavaScript SDK"
    assert post_paths(page, requests) == [
        "/v1/alias",
        "/v1/group",
        "/v1/identify",
        "/v1/page",
        "/v1/track",
    ]


def test_batching_sends_one_batch(
    page: Page, page_server: PageServer, wayline: WaylineServer
) -> None:
    ws = wayline.create_workspace("rudder-batch")
    batch = {"enabled": True, "maxItems": 3, "flushInterval": 600_000}
    requests = open_page(page, page_server, wayline, ws, queueOptions={"batch": batch})
    page.evaluate(
        """() => {
        ra.identify("bea-r");
        ra.track("Cart Viewed");
        ra.track("Checkout Started");
      }"""
    )
    sent = landed(wayline, ws, "bea-r", 3)
    assert_exactly_once(sent, 3)
    assert post_paths(page, requests) == ["/v1/batch"]


def test_the_beacon_queue_sends_text_plain_beacons_and_flushes_on_unload(
    page: Page, page_server: PageServer, wayline: WaylineServer
) -> None:
    ws = wayline.create_workspace("rudder-beacon")
    beacon = {"maxItems": 3, "flushQueueInterval": 600_000}
    requests = open_page(page, page_server, wayline, ws, useBeacon=True, beaconQueueOptions=beacon)
    page.evaluate(
        """() => {
        ra.identify("cy-r");
        ra.track("Cart Viewed");
        ra.track("Checkout Started");
      }"""
    )
    landed(wayline, ws, "cy-r", 3)  # a full queue goes at once, as one beacon
    beacons = [r for path, r in posts(page, requests) if path == "beacon/v1/batch"]
    assert len(beacons) == 1
    assert beacons[0].headers["content-type"].startswith("text/plain")
    assert "writeKey=" in beacons[0].url
    page.evaluate("""ra.track("Order Completed", {revenue: 12.5})""")
    assert wayline.stats(ws)["events"] == 3  # held until the queue is full or the page goes
    # pagehide: the rest goes with navigator.sendBeacon, which outlives the page (so the
    # browser reports it to no one: Wayline's count tells)
    page.goto("about:blank")
    sent = landed(wayline, ws, "cy-r", 4)
    assert_exactly_once(sent, 4)


def test_a_call_made_while_the_server_is_down_lands_once_it_is_back(
    page: Page, page_server: PageServer, wayline: WaylineServer
) -> None:
    ws = wayline.create_workspace("rudder-retry")
    # retry every two seconds at most, and for long enough to outlast a restart (the
    # defaults back off to minutes and give up after ten attempts)
    retries = {"minRetryDelay": 500, "maxRetryDelay": 2000, "maxAttempts": 200}
    open_page(page, page_server, wayline, ws, queueOptions=retries)
    page.evaluate("""ra.identify("dee-r")""")
    landed(wayline, ws, "dee-r", 1)
    wayline.stop()
    try:
        with page.expect_event(
            "requestfailed", lambda r: r.url.endswith("/v1/track"), timeout=30_000
        ):
            page.evaluate("""ra.track("Offline Purchase", {amount: 3})""")
    finally:
        wayline.start()
    sent = landed(wayline, ws, "dee-r", 2)
    assert_exactly_once(sent, 2)
    assert sent.types == ["identify", "track"]
