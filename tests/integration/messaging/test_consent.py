"""Subscription groups, double opt-in, the preference page and the suppression list, with
the abandoned-cart journey sending through a real SMTP server, on both stores."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.acceptance.test_email_journey import Shop, _abandon, _links, _path, shop
from wayline.channels.templates import load_template_text
from wayline.cli import app
from wayline.store.templates import TemplateStore

__all__ = ["shop"]

CONFIRM = """\
name: confirm
subject: "Please confirm"
html: '<p>Confirm: <a href="{{ message.confirm_url }}">yes</a></p>'
"""

GROUPS: dict[str, Any] = {
    "subscription_groups": [
        {
            "channel": "email",
            "topic": "*",
            "name": "Shop news",
            "description": "Carts you left, offers",
            "default": "opt_in",
            "double_opt_in": True,
            "confirmation_template": "confirm",
        },
        {"channel": "email", "topic": "weekly", "name": "Weekly digest", "default": "opt_out"},
    ]
}


def _identify(shop: Shop, user: str) -> None:
    shop.send({"type": "identify", "userId": user, "traits": {"email": f"{user}@example.com"}})


def _dropped(shop: Shop, user: str) -> list[str]:
    messages = shop.client.get(f"/api/v1/profiles/{user}/messages", headers=shop.admin).json()
    return [m["last_error"] for m in messages["data"] if m["state"] == "dropped"]


def _apply_groups(shop: Shop, groups: dict[str, Any] = GROUPS) -> None:
    spec = load_template_text(CONFIRM, "confirm.yaml")
    TemplateStore(shop.store).apply(shop.workspace, spec.name, spec.channel, spec.as_spec())
    r = shop.client.put("/api/v1/subscription_groups", json=groups, headers=shop.admin)
    assert r.status_code == 200, r.text


def test_an_opt_in_group_sends_only_after_the_double_opt_in_link(shop: Shop) -> None:
    _apply_groups(shop)
    _identify(shop, "ann")
    shop.send(
        {
            "type": "track",
            "userId": "ann",
            "event": "Product Added",
            "properties": {"cart_id": "c1", "price": 30},
        }
    )
    shop.machine.advance(minutes=61)
    assert shop.mailbox.received() == []
    (reason,) = _dropped(shop, "ann")
    assert reason.startswith("no consent: 'Shop news' is opt-in")

    r = shop.client.put(
        "/api/v1/profiles/ann/subscriptions",
        json={"channel": "email", "status": "subscribed"},
        headers=shop.admin,
    )
    assert r.status_code == 200, r.text
    assert [(s["topic"], s["status"]) for s in r.json()["data"]] == [("*", "pending")]
    shop.machine.settle()
    (confirmation,) = shop.mailbox.received()
    assert confirmation["Subject"] == "Please confirm"
    assert confirmation["List-Unsubscribe"] is None  # transactional
    part = confirmation.get_body(preferencelist=("html",))
    assert part is not None
    (link,) = [u for u in _links(part.get_content()) if "/t/confirm/" in u]

    # while pending, marketing is still held back
    shop.clock.advance(days=8)
    _abandon(shop, "c2")
    assert len(shop.mailbox.received()) == 1
    assert "has not confirmed" in _dropped(shop, "ann")[0]

    page = shop.client.get(_path(link))
    assert page.status_code == 200
    assert "Yes, subscribe me" in page.text
    subs = shop.client.get("/api/v1/profiles/ann/subscriptions", headers=shop.admin).json()
    assert subs["data"][0]["status"] == "pending"  # opening the page changes nothing
    assert shop.client.post(_path(link)).status_code == 200
    subs = shop.client.get("/api/v1/profiles/ann/subscriptions", headers=shop.admin).json()
    assert [(s["status"], s["source"]) for s in subs["data"]] == [("subscribed", "confirmation")]

    shop.clock.advance(days=8)
    _abandon(shop, "c3")
    # (the c2 journey may also have sent its discount since: its split is random)
    subjects = [m["Subject"] for m in shop.mailbox.received()]
    assert [s for s in subjects if s.endswith("your cart is waiting")] == [
        "Hello, your cart is waiting"
    ]
    # a forged confirmation link does nothing
    token = _path(link).rsplit("/", 1)[1]
    assert shop.client.post(f"/t/confirm/{token[:-3]}AAA").status_code == 403


def test_the_preference_page_shows_and_saves_the_groups(shop: Shop) -> None:
    _apply_groups(shop)
    _identify(shop, "bea")
    r = shop.client.get("/api/v1/profiles/bea/preferences_url", headers=shop.admin)
    assert r.status_code == 200
    url = r.json()["url"]
    assert url.startswith("http://testserver/t/preferences/")
    page = shop.client.get(_path(url))
    assert page.status_code == 200
    boxes = re.findall(
        r"<input type='checkbox' name='group' value='([^']+)'( checked)?>", page.text
    )
    assert boxes == [("email:*", ""), ("email:weekly", " checked")]

    # leave the weekly digest, join the news (double opt-in: pending, confirmation sent)
    r = shop.client.post(
        _path(url),
        content=b"save=yes&group=email%3A%2A",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200
    assert "waiting for you to confirm" in r.text
    subs = shop.client.get("/api/v1/profiles/bea/subscriptions", headers=shop.admin).json()
    assert sorted((s["topic"], s["status"], s["source"]) for s in subs["data"]) == [
        ("*", "pending", "preferences"),
        ("weekly", "unsubscribed", "preferences"),
    ]
    shop.machine.settle()
    assert [m["Subject"] for m in shop.mailbox.received()] == ["Please confirm"]
    assert shop.client.get(_path(url)[:-4] + "AAAA").status_code == 403

    r = shop.client.post(
        _path(url),
        content=b"save=yes&group=email%3Aweekly&all=unsubscribe",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200
    assert " checked" not in r.text
    subs = shop.client.get("/api/v1/profiles/bea/subscriptions", headers=shop.admin).json()
    assert sorted((s["topic"], s["status"]) for s in subs["data"]) == [
        ("*", "unsubscribed"),
        ("weekly", "unsubscribed"),
    ]


def test_a_suppressed_address_gets_nothing_not_even_transactional(shop: Shop) -> None:
    _identify(shop, "cai")
    r = shop.client.post(
        "/api/v1/suppressions",
        json={"channel": "email", "address": "CAI@example.com", "detail": "asked by phone"},
        headers=shop.admin,
    )
    assert r.status_code == 201
    assert r.json()["added"] is True
    shop.send(
        {
            "type": "track",
            "userId": "cai",
            "event": "Product Added",
            "properties": {"cart_id": "c1", "price": 30},
        }
    )
    shop.machine.advance(minutes=61)
    assert shop.mailbox.received() == []
    (reason,) = _dropped(shop, "cai")
    assert reason == "suppressed: the address is on the suppression list (manual)"
    found = shop.client.get("/api/v1/suppressions/email/cai@EXAMPLE.com", headers=shop.admin)
    assert found.json()["reason"] == "manual"
    r = shop.client.delete("/api/v1/suppressions/email/cai@example.com", headers=shop.admin)
    assert r.status_code == 200
    assert shop.client.get("/api/v1/suppressions", headers=shop.admin).json()["data"] == []
    missing = shop.client.delete("/api/v1/suppressions/email/cai@example.com", headers=shop.admin)
    assert missing.status_code == 404


def test_bad_groups_answer_422_naming_the_field_and_store_nothing(shop: Shop) -> None:
    bad = {"subscription_groups": [{"channel": "email", "topic": "x", "name": "X"}]}
    r = shop.client.put("/api/v1/subscription_groups", json=bad, headers=shop.admin)
    assert r.status_code == 422
    assert r.json()["field"] == "subscription_groups[0]"
    assert "missing field 'default'" in r.json()["error"]
    no_template = {
        "subscription_groups": [
            {
                "channel": "email",
                "topic": "x",
                "name": "X",
                "default": "opt_in",
                "double_opt_in": True,
                "confirmation_template": "nope",
            }
        ]
    }
    r = shop.client.put("/api/v1/subscription_groups", json=no_template, headers=shop.admin)
    assert r.status_code == 422
    assert r.json()["field"] == "subscription_groups[0].confirmation_template"
    got = shop.client.get("/api/v1/subscription_groups", headers=shop.admin).json()
    assert got == {"subscription_groups": []}


@pytest.fixture
def cli(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("WAYLINE_DATABASE_URL", database_url)
    monkeypatch.setenv("WAYLINE_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    assert runner.invoke(app, ["workspace", "create", "shop"]).exit_code == 0
    return runner


def test_the_groups_file_is_checked_at_its_lines_and_applied_whole(
    cli: CliRunner, tmp_path: Path
) -> None:
    bad = tmp_path / "groups.yaml"
    bad.write_text(
        "subscription_groups:\n"
        "  - {channel: emial, topic: news, name: News, default: opt_in}\n"
        "  - channel: sms\n"
        "    topic: offers\n"
        "    name: Offers\n"
        "    default: opt_out\n"
        "    double_opt_in: true\n"
    )
    result = cli.invoke(app, ["subscription-groups", "apply", str(bad)])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert result.output.splitlines() == [
        f"{bad}:2:6: subscription_groups[0].channel: must be 'email' or 'sms', not 'emial'",
        f"{bad}:7:5: subscription_groups[1].double_opt_in: double opt-in is for email groups",
    ]
    shown = cli.invoke(app, ["subscription-groups", "show", "--json"])
    assert shown.output.strip() == '{"subscription_groups": []}'

    good = tmp_path / "good.yaml"
    good.write_text(
        "subscription_groups:\n"
        "  - {channel: email, topic: news, name: News, default: opt_in}\n"
        "  - {channel: sms, topic: '*', name: Texts, default: opt_in}\n"
    )
    assert cli.invoke(app, ["subscription-groups", "validate", str(good)]).exit_code == 0
    result = cli.invoke(app, ["subscription-groups", "apply", str(good)])
    assert result.exit_code == 0, result.output
    assert "2 group(s)" in result.output
    shown = cli.invoke(app, ["subscription-groups", "show", "--json"])
    assert '"topic": "news"' in shown.output
    assert '"topic": "*"' in shown.output
