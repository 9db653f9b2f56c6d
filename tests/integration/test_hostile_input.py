"""Hostile input to the HTTP API in-process, on both stores: every answer is a 4xx JSON body
naming what is wrong, never a 5xx (which SDKs retry for ever), and a batch keeps its valid
items."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from tests.messages import JSON, messages, times
from wayline.events import MAX_DEPTH
from wayline.runtime import Role
from wayline.server import Process
from wayline.settings import Settings


@pytest.fixture
def wl(settings: Settings) -> Iterator[tuple[TestClient, Any]]:
    process = Process(settings, {Role.API, Role.PROFILES})
    process.migrate()
    created = process.store.create_workspace("acme")
    with TestClient(process.app(), raise_server_exceptions=False) as client:
        yield client, created


def nested(levels: int) -> dict[str, Any]:
    """An object ``levels`` objects deep: ``{"a": {"a": … {}}}``."""
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def nested_text(levels: int) -> str:
    """The JSON text of :func:`nested` (no JSON library writes 1,000 levels)."""
    return '{"a":' * (levels - 1) + "{}" + "}" * (levels - 1)


def _stats(client: TestClient, created: Any) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {created.admin_token}"}
    stats: dict[str, Any] = client.get("/api/v1/stats", headers=headers).json()
    return stats


@pytest.mark.parametrize("levels", [MAX_DEPTH, 300, 1000])
def test_json_nested_past_the_limit_is_a_400_naming_the_field(wl: Any, levels: int) -> None:
    client, created = wl
    body = '{"userId": "u", "event": "E", "properties": ' + nested_text(levels) + "}"

    r = client.post("/v1/track", content=body.encode(), auth=(created.write_key, ""))

    assert r.status_code == 400, r.text
    assert r.json()["field"] == "properties"
    assert str(MAX_DEPTH) in r.json()["error"]


def test_json_nested_to_the_limit_is_taken(wl: Any) -> None:
    client, created = wl
    # the message object is one level, so properties may be MAX_DEPTH - 1 deep
    body = {"userId": "u", "event": "E", "properties": nested(MAX_DEPTH - 1)}

    r = client.post("/v1/track", json=body, auth=(created.write_key, ""))

    assert r.status_code == 200, r.text


def test_a_batch_rejects_only_the_item_nested_too_deep(wl: Any) -> None:
    client, created = wl
    items = [
        {"type": "track", "userId": "u", "event": "Kept", "messageId": "ok-0"},
        {"type": "track", "userId": "u", "event": "E", "messageId": "deep",
         "context": nested(300)},
        {"type": "identify", "userId": "u", "traits": {"plan": "pro"}, "messageId": "ok-2"},
    ]  # fmt: skip

    r = client.post("/v1/batch", json={"batch": items}, auth=(created.write_key, ""))

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 2
    assert [(e["index"], e["field"], e["messageId"]) for e in body["rejected"]] == [
        (1, "context", "deep")
    ]
    assert _stats(client, created)["rejected"] == 1


def test_a_non_ascii_provider_key_is_a_401(wl: Any) -> None:
    client, created = wl
    admin = {"Authorization": f"Bearer {created.admin_token}"}
    assert client.get("/api/v1/provider_webhooks", headers=admin).status_code == 200
    base = f"/v1/providers/{created.workspace.id}"

    for r in (
        client.post(f"{base}/email", params={"key": "clé"}, content=b"{}"),
        client.post(f"{base}/sms", params={"key": "ключ"}, content=b""),
        client.post(
            f"{base}/email", headers={"Authorization": "Bearer ключ".encode()}, content=b"{}"
        ),
    ):
        assert r.status_code == 401, r.text
        assert "key" in r.json()["error"]


@pytest.mark.parametrize("address", ["a@b", "@example.com", "a@b@example.com", "x @ y.com"])
def test_a_suppression_needs_a_real_email_address(wl: Any, address: str) -> None:
    client, created = wl
    admin = {"Authorization": f"Bearer {created.admin_token}"}

    r = client.post(
        "/api/v1/suppressions", json={"channel": "email", "address": address}, headers=admin
    )

    assert r.status_code == 422, r.text
    assert r.json()["error"].startswith("address:")


def test_an_admin_body_nested_past_what_json_writes_is_a_400(wl: Any) -> None:
    client, created = wl
    headers = {"Authorization": f"Bearer {created.admin_token}"}
    body = '{"channel": "email", "subject": "S", "html": "H", "x": ' + nested_text(300) + "}"

    r = client.put("/api/v1/templates/t", content=body.encode(), headers=headers)

    assert r.status_code == 400, r.text
    assert r.json()["field"] == "body"
    assert "nested" in r.json()["error"]


@st.composite
def batch_bodies(draw: st.DrawFn) -> Any:
    """A batch of generated calls, the batch's own fields replaced by anything now and then."""
    body: dict[str, Any] = {"batch": [m for m, _ in draw(st.lists(messages(), max_size=4))]}
    if draw(st.booleans()):
        body["sentAt"] = draw(times())
    if draw(st.booleans()):
        body[draw(st.sampled_from(["batch", "context", "writeKey", "x"]))] = draw(JSON)
    return draw(st.just(body) | JSON)


@hypothesis.settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=batch_bodies())
def test_generated_batches_are_never_a_5xx(wl: Any, body: Any) -> None:
    client, created = wl

    text = json.dumps(body, allow_nan=False)  # orjson writes no more than 254 levels
    r = client.post("/v1/batch", content=text.encode(), auth=(created.write_key, ""))

    assert r.status_code in (200, 400, 413), r.text
    answer = r.json()
    if r.status_code == 200:
        assert answer["success"] is True
        for rejected in answer.get("rejected", []):
            assert isinstance(rejected["field"], str)
    else:
        assert answer["success"] is False
        assert answer["field"]


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("POST", "/api/v1/deadletters/409846348531782254592/retry", "letter_id"),
        ("DELETE", "/api/v1/deadletters/409846348531782254592", "letter_id"),
        ("GET", "/api/v1/journeys/j/versions/409846348531782254592", "version"),
    ],
)
def test_an_id_past_what_the_store_keeps_is_a_422(
    wl: Any, method: str, path: str, field: str
) -> None:
    client, created = wl
    headers = {"Authorization": f"Bearer {created.admin_token}"}

    r = client.request(method, path, headers=headers)

    assert r.status_code == 422, r.text
    assert r.json()["field"] == field


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/track", {"userId": "u\u0000", "event": "E"}, "userId"),
        ("/v1/track", {"userId": "u", "event": "E\u0000"}, "event"),
        ("/v1/track", {"userId": "u", "event": "E", "messageId": "m\u0000"}, "messageId"),
        (
            "/v1/track",
            {"userId": "u", "event": "E", "properties": {"k": ["a\u0000"]}},
            "properties",
        ),
        ("/v1/identify", {"userId": "u", "traits": {"n\u0000": "v"}}, "traits"),
        ("/v1/group", {"userId": "u", "groupId": "g\u0000"}, "groupId"),
        ("/v1/alias", {"userId": "u", "previousId": "p\u0000"}, "previousId"),
    ],
)
def test_nul_in_a_call_is_a_400_naming_the_field(
    wl: Any, path: str, body: dict[str, Any], field: str
) -> None:
    client, created = wl

    r = client.post(path, json=body, auth=(created.write_key, ""))

    assert r.status_code == 400, r.text
    assert r.json()["field"] == field
    assert "NUL" in r.json()["error"]


def test_a_batch_rejects_only_the_item_with_nul(wl: Any) -> None:
    client, created = wl
    batch = [
        {"type": "track", "userId": "u", "event": "Kept"},
        {"type": "track", "userId": "u", "event": "E", "context": {"ip": "\u0000"}},
    ]

    r = client.post("/v1/batch", json={"batch": batch}, auth=(created.write_key, ""))

    assert r.status_code == 200, r.text
    assert [(x["index"], x["field"]) for x in r.json()["rejected"]] == [(1, "context")]
    assert _stats(client, created)["events"] == 1


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("GET", "/api/v1/profiles/a%00b", None, "path"),
        ("GET", "/api/v1/rejections?cursor=%00", None, "cursor"),
        ("POST", "/api/v1/suppressions", {"channel": "sms", "address": "+1555\u0000"}, "address"),
        ("PUT", "/api/v1/workspace/origins", {"origins": ["https://a\u0000.example"]}, "origins.0"),
    ],
)
def test_nul_in_an_admin_request_is_a_400_naming_where(
    wl: Any, method: str, path: str, body: Any, field: str
) -> None:
    client, created = wl
    headers = {"Authorization": f"Bearer {created.admin_token}"}

    r = client.request(method, path, json=body, headers=headers)

    assert r.status_code == 400, r.text
    assert r.json()["field"] == field


def test_nul_in_a_form_body_is_a_400(wl: Any) -> None:
    client, _ = wl

    r = client.post("/t/unsubscribe/token", content=b"List-Unsubscribe=One%00-Click")

    assert r.status_code == 400, r.text
    assert r.json()["field"] == "List-Unsubscribe"


@pytest.mark.parametrize(
    "item",
    [
        {"type": "track", "userId": "u", "event": "E", "messageId": "m\u0000"},
        {"type": "track", "userId": "u", "event": "E", "\u0000": 1, "timestamp": "0001-01-01"},
        {"type": "track", "userId": "u" * 300, "event": "E", "messageId": "m" * 300},
        {"type": "identify", "userId": "u\u0000", "traits": {"email": "a\u0000@example.com"}},
    ],
)
def test_a_rejected_item_is_kept_whatever_its_text(wl: Any, item: dict[str, Any]) -> None:
    client, created = wl
    batch = [{"type": "track", "userId": "u", "event": "Kept"}, item]

    r = client.post("/v1/batch", json={"batch": batch}, auth=(created.write_key, ""))

    assert r.status_code == 200, r.text
    assert [x["index"] for x in r.json()["rejected"]] == [1]
    headers = {"Authorization": f"Bearer {created.admin_token}"}
    kept = client.get("/api/v1/rejections", headers=headers)
    assert kept.status_code == 200, kept.text
    assert len(kept.json()["data"]) == 1
