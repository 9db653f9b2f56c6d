"""In-app content through a real ``wayline serve``: files applied with the CLI, events sent
over HTTP, the content read as a browser on the shop's site reads it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.conftest import installation
from tests.acceptance.harness import SETTLE_TIMEOUT, wait_until

SITE = "https://shop.example.com"

JOURNEY = """\
id: configured
name: Show the configured bike
entry: {event: Product Configured, where: {properties.saved: true}}
re_entry: {policy: always}
nodes:
  - id: show
    type: send
    channel: inapp
    template: saved-bike
    next: done
  - id: done
    type: exit
"""

TEMPLATE = """\
channel: inapp
placement: home-hero
content:
  title: "Your saved {{ event.properties.product }} is ready to order"
"""

PLACEMENT = """\
rules:
  - when: {event: Product Configured}
    content:
      title: "Welcome back! Still thinking about the {{ event.properties.product }}?"
  - content: {title: Build your own bike}
"""


def test_a_site_greets_visitors_with_what_journeys_and_rules_say(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path
) -> None:
    with installation(request, backend, tmp_path / "data") as server:
        server.env["WAYLINE_CONTENT_ALLOWED_ORIGINS"] = SITE
        ws = server.create_workspace("bikes")
        files = tmp_path / "files"
        files.mkdir()
        (files / "configured.yaml").write_text(JOURNEY)
        (files / "saved-bike.yaml").write_text(TEMPLATE)
        (files / "home-hero.yaml").write_text(PLACEMENT)
        server.cli("journeys", "apply", str(files / "configured.yaml"), "--workspace", ws.name)
        server.cli("templates", "apply", str(files / "saved-bike.yaml"), "--workspace", ws.name)
        server.cli("placements", "apply", str(files / "home-hero.yaml"), "--workspace", ws.name)
        server.start()
        http = server.http

        def configured(who: dict[str, str], product: str, saved: bool) -> None:
            properties = {"product": product, "saved": saved}
            body = {"event": "Product Configured", "properties": properties, **who}
            assert http.post("/v1/track", json=body, auth=ws.auth).status_code == 200

        def content(**who: str) -> dict[str, Any]:
            r = http.get(
                "/v1/content/home-hero",
                params={**who, "writeKey": ws.write_key},
                headers={"Origin": SITE},
            )
            assert r.status_code == 200, r.text
            assert r.headers["access-control-allow-origin"] == SITE
            found: dict[str, Any] = r.json()
            return found

        # a visitor who saved their configuration gets the journey's content
        configured({"anonymousId": "v-1"}, "Domane SL 6", True)
        seen = wait_until(
            lambda: content(anonymousId="v-1"),
            lambda c: c["source"] == "journey",
            timeout=SETTLE_TIMEOUT,
        )
        assert seen["content"] == {"title": "Your saved Domane SL 6 is ready to order"}
        # one who only played with the configurator is greeted by the placement's rule
        configured({"anonymousId": "v-2"}, "Fuel EX 8", False)
        greeted = wait_until(
            lambda: content(anonymousId="v-2"),
            lambda c: c["rule"] == 0,
            timeout=SETTLE_TIMEOUT,
        )
        assert greeted["content"] == {"title": "Welcome back! Still thinking about the Fuel EX 8?"}
        assert content(anonymousId="never-seen")["content"] == {"title": "Build your own bike"}
        # the first visitor closes the banner; next time they get the greeting instead
        r = http.post(
            "/v1/content/home-hero/events",
            json={"anonymousId": "v-1", "event": "dismissed", "contentId": seen["contentId"]},
            auth=ws.auth,
        )
        assert r.status_code == 200
        again = content(anonymousId="v-1")
        assert (again["source"], again["rule"]) == ("default", 0)
