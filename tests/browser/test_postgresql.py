"""Both SDKs against ``wayline serve`` on PostgreSQL (the other tests use the embedded store)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from tests.acceptance.conftest import installation
from tests.acceptance.harness import WaylineServer
from tests.browser import test_rudderstack, test_segment
from tests.browser.conftest import PageServer, Sent, assert_exactly_once, landed


@pytest.fixture(scope="module")
def wayline_pg(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WaylineServer]:
    with installation(request, "postgresql", tmp_path_factory.mktemp("browser-pg")) as s:
        s.start()
        yield s


def test_both_sdks_land_each_call_once(
    page: Page, page_server: PageServer, wayline_pg: WaylineServer
) -> None:
    ws = wayline_pg.create_workspace("pg")
    test_segment.open_page(page, page_server, wayline_pg, ws)
    page.evaluate(
        """async () => {
        await analytics.page("Shop", "Home");
        await analytics.identify("pg-seg", {plan: "pro"});
        await analytics.track("Order Completed", {revenue: 9});
      }"""
    )
    test_rudderstack.open_page(page, page_server, wayline_pg, ws)
    page.evaluate(
        """() => {
        ra.identify("pg-rud");
        ra.track("Order Completed", {revenue: 7});
      }"""
    )
    sent = landed(wayline_pg, ws, "pg-seg", 5)
    assert sent.stats["events"] == 5
    assert sorted(e["type"] for e in sent.timeline) == ["identify", "page", "track"]
    rudder = landed(wayline_pg, ws, "pg-rud", 5)
    assert sorted(e["type"] for e in rudder.timeline) == ["identify", "track"]
    assert_exactly_once(Sent(stats=sent.stats, timeline=sent.timeline + rudder.timeline), 5)
