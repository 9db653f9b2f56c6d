"""The templates and channels API, on both stores."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.integration.messaging.mailbox import Mailbox
from wayline.runtime import Role
from wayline.server import Process
from wayline.settings import Settings
from wayline.store.base import NewWorkspace
from wayline.testing import drain_profiles

TEMPLATE = {
    "subject": "Hi {{ profile.first_name }}",
    "preheader": "{{ event.total | money }}",
    "mjml": "<mjml><mj-body><mj-section><mj-column><mj-text>Hello {{ profile.first_name }}"
    "</mj-text></mj-column></mj-section></mj-body></mjml>",
}


@pytest.fixture
def api(settings: Settings) -> Iterator[tuple[TestClient, NewWorkspace, Process]]:
    # the test mail server is on loopback, which the network guard refuses unless allowed
    local = settings.model_copy(update={"webhook_allowed_hosts": "127.0.0.1"})
    process = Process(local, {Role.API})
    process.migrate()
    created = process.store.create_workspace("acme")
    with TestClient(process.app()) as client:
        yield client, created, process


def _admin(created: NewWorkspace) -> dict[str, str]:
    return {"Authorization": f"Bearer {created.admin_token}"}


def test_templates_are_applied_versioned_listed_and_previewed(api: Any) -> None:
    client, created, process = api
    r = client.put("/api/v1/templates/welcome", json=TEMPLATE, headers=_admin(created))
    assert (r.status_code, r.json()) == (201, {"name": "welcome", "version": 1, "created": True})
    r = client.put("/api/v1/templates/welcome", json=TEMPLATE, headers=_admin(created))
    assert (r.status_code, r.json()["version"]) == (200, 1)
    changed = {**TEMPLATE, "subject": "Hello {{ profile.first_name }}"}
    r = client.put("/api/v1/templates/welcome", json=changed, headers=_admin(created))
    assert (r.status_code, r.json()["version"]) == (201, 2)
    listed = client.get("/api/v1/templates", headers=_admin(created)).json()["data"]
    assert [(t["name"], t["version"]) for t in listed] == [("welcome", 2)]

    r = client.post(
        "/v1/identify",
        json={"userId": "ann", "traits": {"first_name": "Ann", "locale": "fr-FR"}},
        auth=(created.write_key, ""),
    )
    assert r.status_code == 200
    drain_profiles(process.store)
    r = client.post(
        "/api/v1/templates/welcome/preview",
        json={"profile": "ann", "event": {"total": 12.5}},
        headers=_admin(created),
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["subject"] == "Hello Ann"
    assert out["preheader"] == "12,50\xa0$US"
    assert "Hello Ann" in out["text"]
    assert out["html"].startswith("<!doctype html>")

    r = client.post(
        "/api/v1/templates/welcome/preview", json={"profile": "ann"}, headers=_admin(created)
    )
    assert r.status_code == 422
    assert r.json() == {"error": "preheader: event.total is undefined", "field": "preheader"}
    r = client.post(
        "/api/v1/templates/nope/preview", json={"profile": "ann"}, headers=_admin(created)
    )
    assert r.status_code == 404


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"subject": "x"}, "", "exactly one body"),
        ({"subject": "{{ a | }}", "html": "x"}, "subject", ""),
        ({"subject": "x", "html": "x", "colour": 1}, "colour", "Extra inputs"),
        ({"subject": "x", "html": "x", "name": "other"}, None, "differs"),
    ],
)
def test_a_bad_template_is_refused_naming_the_field(
    api: Any, body: dict[str, Any], field: str | None, message: str
) -> None:
    client, created, _ = api
    r = client.put("/api/v1/templates/t", json=body, headers=_admin(created))
    assert r.status_code == 422
    answer = r.json()
    assert message in answer["error"]
    if field is not None:
        assert (answer.get("field") or "") == field
    assert client.get("/api/v1/templates", headers=_admin(created)).json()["data"] == []


def test_email_settings_keep_secrets_in_and_never_show_them(api: Any) -> None:
    client, created, _ = api
    assert client.get("/api/v1/channels/email", headers=_admin(created)).status_code == 404
    body = {
        "host": "smtp.example.com",
        "port": 465,
        "security": "tls",
        "username": "wl",
        "password": "hunter2-secret",
        "from_email": "shop@example.com",
    }
    r = client.put("/api/v1/channels/email", json=body, headers=_admin(created))
    assert r.status_code == 200
    assert "hunter2-secret" not in r.text
    shown = client.get("/api/v1/channels/email", headers=_admin(created)).json()
    assert shown["password_set"] is True
    assert shown["host"] == "smtp.example.com"
    assert "hunter2" not in str(shown)
    # a later PUT without the password keeps it
    r = client.put(
        "/api/v1/channels/email",
        json={k: v for k, v in body.items() if k != "password"},
        headers=_admin(created),
    )
    assert r.json()["password_set"] is True
    bad = client.put(
        "/api/v1/channels/email",
        json={**body, "from_email": "not an address"},
        headers=_admin(created),
    )
    assert bad.status_code == 422
    assert bad.json()["field"] == "body.from_email"


def test_sms_settings_keep_the_token_in(api: Any) -> None:
    client, created, _ = api
    assert client.get("/api/v1/channels/sms", headers=_admin(created)).status_code == 404
    plain = {"account_sid": "AC1", "from": "+15005550006", "base_url": "http://sms.example.com"}
    refused = client.put("/api/v1/channels/sms", json=plain, headers=_admin(created))
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == "body.base_url"
    assert "https" in refused.json()["error"]
    # plain http to an allow-listed host (here 127.0.0.1, as in development) is taken
    local = {**plain, "base_url": "http://127.0.0.1:9"}
    assert (
        client.put("/api/v1/channels/sms", json=local, headers=_admin(created)).status_code == 200
    )
    client.put(
        "/api/v1/channels/sms",
        json={**plain, "base_url": "https://api.twilio.com"},
        headers=_admin(created),
    )
    body = {"account_sid": "AC1", "auth_token": "tok-secret-1", "from": "+15005550006"}
    r = client.put("/api/v1/channels/sms", json=body, headers=_admin(created))
    assert r.status_code == 200
    assert r.json() == {
        "base_url": "https://api.twilio.com",
        "account_sid": "AC1",
        "from": "+15005550006",
        "auth_token_set": True,
    }
    shown = client.get("/api/v1/channels/sms", headers=_admin(created))
    assert "tok-secret" not in shown.text
    no_sender = client.put(
        "/api/v1/channels/sms", json={"account_sid": "AC1"}, headers=_admin(created)
    )
    assert no_sender.status_code == 422
    bad_from = client.put(
        "/api/v1/channels/sms", json={**body, "from": "+1 555"}, headers=_admin(created)
    )
    assert bad_from.status_code == 422
    assert bad_from.json()["field"] == "body.from"


def test_a_test_send_reaches_the_given_address(api: Any) -> None:
    client, created, process = api
    box = Mailbox()
    box.start()
    try:
        r = client.post(
            "/api/v1/templates/welcome/test",
            json={"to": "qa@example.com", "profile": "ann"},
            headers=_admin(created),
        )
        assert r.status_code == 404
        client.put("/api/v1/templates/welcome", json=TEMPLATE, headers=_admin(created))
        client.post(
            "/v1/identify",
            json={"userId": "ann", "traits": {"first_name": "Ann"}},
            auth=(created.write_key, ""),
        )
        drain_profiles(process.store)
        send = {"to": "qa@example.com", "profile": "ann"}
        r = client.post("/api/v1/templates/welcome/test", json=send, headers=_admin(created))
        assert r.status_code == 409
        email = {
            "host": "127.0.0.1",
            "port": box.port,
            "security": "none",
            "from_email": "shop@example.com",
        }
        client.put("/api/v1/channels/email", json=email, headers=_admin(created))
        # strict: the event total the preheader needs is missing
        r = client.post("/api/v1/templates/welcome/test", json=send, headers=_admin(created))
        assert (r.status_code, r.json()["field"]) == (422, "preheader")
        lenient = {**TEMPLATE, "preheader": "{{ event.total | default: 0 | money }}"}
        client.put("/api/v1/templates/welcome", json=lenient, headers=_admin(created))
        r = client.post("/api/v1/templates/welcome/test", json=send, headers=_admin(created))
        assert r.status_code == 200, r.text
        assert r.json()["subject"] == "[Test] Hi Ann"
        (mail,) = box.received()
        assert (mail["To"], mail["Subject"]) == ("qa@example.com", "[Test] Hi Ann")
        assert mail["List-Unsubscribe"] is None
        html = mail.get_body(preferencelist=("html",))
        assert html is not None
        assert "/t/" not in html.get_content()
        box.stop()
        r = client.post("/api/v1/templates/welcome/test", json=send, headers=_admin(created))
        assert r.status_code == 502
        # no more than that: a closed port answers as a filtered one would
        assert (
            r.json()["error"] == f"not sent: cannot connect to the SMTP server 127.0.0.1:{box.port}"
        )
    finally:
        box.stop()


def test_subscriptions_are_listed_and_changed(api: Any) -> None:
    client, created, process = api
    client.post("/v1/identify", json={"userId": "ann"}, auth=(created.write_key, ""))
    drain_profiles(process.store)
    url = "/api/v1/profiles/ann/subscriptions"
    assert client.get(url, headers=_admin(created)).json() == {"data": []}
    r = client.put(
        url,
        json={"channel": "email", "topic": "tips", "status": "unsubscribed"},
        headers=_admin(created),
    )
    assert r.status_code == 200
    (row,) = r.json()["data"]
    assert (row["channel"], row["topic"], row["status"], row["source"]) == (
        "email",
        "tips",
        "unsubscribed",
        "api",
    )
    client.put(
        url,
        json={"channel": "email", "topic": "tips", "status": "subscribed"},
        headers=_admin(created),
    )
    (row,) = client.get(url, headers=_admin(created)).json()["data"]
    assert row["status"] == "subscribed"
    bad = client.put(url, json={"channel": "fax", "status": "subscribed"}, headers=_admin(created))
    assert bad.status_code == 422
    assert bad.json()["field"] == "body.channel"


def test_workspace_variables_are_replaced_and_read(api: Any) -> None:
    client, created, _ = api
    url = "/api/v1/variables"
    assert client.get(url, headers=_admin(created)).json() == {"variables": {}}
    r = client.put(url, json={"variables": {"brand": "Acme", "n": 3}}, headers=_admin(created))
    assert r.status_code == 200
    r = client.put(url, json={"variables": {"brand": "Acme2"}}, headers=_admin(created))
    assert client.get(url, headers=_admin(created)).json() == {"variables": {"brand": "Acme2"}}
    bad = client.put(url, json={"variables": {"9lives": 1}}, headers=_admin(created))
    assert bad.status_code == 422
    assert bad.json()["field"] == "variables.9lives"
    assert client.put(url, json={"brand": 1}, headers=_admin(created)).status_code == 422


def test_a_preview_over_a_limit_answers_422_naming_the_field(api: Any) -> None:
    client, created, process = api
    loop = "{% for i in (1..1000) %}{% for j in (1..1000) %}x{% endfor %}{% endfor %}"
    template = {"subject": "Hi", "html": f"<p>{loop}</p>"}
    r = client.put("/api/v1/templates/big", json=template, headers=_admin(created))
    assert r.status_code == 201, r.text
    client.post("/v1/identify", json={"userId": "ann"}, auth=(created.write_key, ""))
    drain_profiles(process.store)
    r = client.post(
        "/api/v1/templates/big/preview", json={"profile": "ann"}, headers=_admin(created)
    )
    assert r.status_code == 422
    assert r.json() == {
        "error": "html: the template is over a limit: more than 10000 loop iterations",
        "field": "html",
    }
