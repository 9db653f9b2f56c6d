"""Bad input to the tracking API gets a clear 4xx JSON error that names what is wrong.

A request that is refused stores nothing; in a batch with some invalid items the valid ones
land, the answer is 200 with a ``rejected`` list, and the rejected items are readable at
``GET /api/v1/rejections`` (the policy in ``wayline/ingest.py``).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest

from tests.acceptance.harness import WaylineServer, Workspace

OK_TRACK = {"type": "track", "userId": "u1", "event": "Signed Up", "messageId": "m-ok"}
JSON = {"Content-Type": "application/json"}
BIG = {"blob": "x" * 40_000}


@dataclass(frozen=True, kw_only=True)
class Case:
    path: str
    #: A JSON body, or raw bytes as they go on the wire.
    body: Any = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: "write" sends the workspace's write key; "admin" its admin token; "none" nothing;
    #: anything else is sent as the key.
    key: str = "write"
    status: int = 400
    #: The field the answer must name, if it can name one.
    field: str | None = None
    #: Words the error message must contain.
    says: tuple[str, ...] = ()

    def content(self) -> bytes:
        return self.raw if self.raw is not None else orjson.dumps(self.body)


def track(**changes: Any) -> dict[str, Any]:
    return {**OK_TRACK, **changes}


def nested(levels: int) -> bytes:
    """A track call whose properties are ``levels`` objects deep, as JSON text (no JSON
    library writes a thousand levels)."""
    deep = '{"a":' * (levels - 1) + "{}" + "}" * (levels - 1)
    return orjson.dumps(OK_TRACK)[:-1] + b', "properties": ' + deep.encode() + b"}"


CASES: dict[str, Case] = {
    # the body as a whole
    "malformed JSON": Case(path="/v1/track", raw=b'{"userId": "u1", "event": ', says=("JSON",)),
    "not UTF-8": Case(
        path="/v1/track", raw=b'{"userId": "\xff\xfe", "event": "X"}', says=("UTF-8",)
    ),
    "not UTF-8, gzipped": Case(
        path="/v1/batch",
        raw=gzip.compress(b'{"batch": [{"type": "track", "userId": "\xc3\x28"}]}'),
        headers={"Content-Encoding": "gzip"},
        says=("UTF-8",),
    ),
    "empty body": Case(path="/v1/track", raw=b"", says=("empty",)),
    "body not an object": Case(path="/v1/track", body=[OK_TRACK], says=("object",)),
    "claims gzip, is not": Case(
        path="/v1/batch",
        raw=b'{"batch": []}',
        headers={"Content-Encoding": "gzip"},
        says=("gzip",),
    ),
    "unsupported encoding": Case(
        path="/v1/batch",
        raw=b'{"batch": []}',
        headers={"Content-Encoding": "br"},
        status=415,
        says=("br",),
    ),
    # the key
    "no key": Case(path="/v1/track", body=OK_TRACK, key="none", status=401, says=("write key",)),
    "wrong key": Case(path="/v1/track", body=OK_TRACK, key="wk_not-a-key", status=401),
    "admin token as write key": Case(path="/v1/track", body=OK_TRACK, key="admin", status=401),
    "wrong writeKey in the body": Case(
        path="/v1/batch",
        body={"writeKey": "wk_nope", "batch": [OK_TRACK]},
        key="none",
        status=401,
    ),
    # sizes
    "oversize event": Case(
        path="/v1/track",
        body=track(messageId="big", properties={"blob": "x" * 40_000}),
        status=413,
        says=("limit",),
    ),
    "oversize batch": Case(
        path="/v1/batch",
        body={
            "batch": [track(messageId=f"b{i}", properties={"p": "y" * 20_000}) for i in range(30)]
        },
        status=413,
        field="batch",
        says=("limit",),
    ),
    "oversize batch, gzipped small": Case(
        path="/v1/batch",
        raw=gzip.compress(orjson.dumps({"batch": [track(properties={"p": "z" * 600_000})]})),
        headers={"Content-Encoding": "gzip"},
        status=413,
        field="batch",
    ),
    # required fields
    "track without event": Case(
        path="/v1/track", body={"userId": "u1", "messageId": "m2"}, field="event"
    ),
    "no userId or anonymousId": Case(
        path="/v1/track", body={"event": "X", "messageId": "m3"}, field="userId"
    ),
    "alias without previousId": Case(
        path="/v1/alias", body={"userId": "u1", "messageId": "m4"}, field="previousId"
    ),
    "group without groupId": Case(
        path="/v1/group", body={"userId": "u1", "messageId": "m5"}, field="groupId"
    ),
    "batch without batch": Case(path="/v1/batch", body={"items": [OK_TRACK]}, field="batch"),
    # wrong types
    "properties not an object": Case(
        path="/v1/track", body=track(properties=["a", "b"]), field="properties"
    ),
    "traits not an object": Case(
        path="/v1/identify", body={"userId": "u1", "traits": "vip"}, field="traits"
    ),
    "context not an object": Case(path="/v1/page", body=track(context=7), field="context"),
    "userId an object": Case(path="/v1/track", body=track(userId={"id": 1}), field="userId"),
    "event a number": Case(path="/v1/track", body=track(event=42), field="event"),
    "messageId a number": Case(path="/v1/track", body=track(messageId=12), field="messageId"),
    "batch not a list": Case(path="/v1/batch", body={"batch": {"a": 1}}, field="batch"),
    # call types and times
    "unknown call type": Case(
        path="/v1/batch",
        body={"batch": [{"type": "explode", "userId": "u1", "messageId": "m6"}]},
        field="batch[0].type",
        says=("explode",),
    ),
    "unparseable timestamp": Case(
        path="/v1/track", body=track(timestamp="yesterday-ish"), field="timestamp"
    ),
    "unparseable sentAt": Case(path="/v1/track", body=track(sentAt="soon"), field="sentAt"),
    "timestamp of the wrong type": Case(
        path="/v1/track", body=track(originalTimestamp=True), field="originalTimestamp"
    ),
    "unparseable batch sentAt": Case(
        path="/v1/batch", body={"batch": [OK_TRACK], "sentAt": "2025-13-45"}, field="sentAt"
    ),
    "timestamp before 1970": Case(
        path="/v1/track", body=track(timestamp="1969-12-31T23:59:59Z"), field="timestamp"
    ),
    "timestamp after 2100": Case(
        path="/v1/track", body=track(timestamp="2100-01-01T00:00:00Z"), field="timestamp"
    ),
    # lengths and more wrong types
    "messageId too long": Case(
        path="/v1/track", body=track(messageId="m" * 256), field="messageId"
    ),
    "event name too long": Case(path="/v1/track", body=track(event="E" * 256), field="event"),
    "userId too long": Case(path="/v1/track", body=track(userId="u" * 256), field="userId"),
    "blank event name": Case(path="/v1/track", body=track(event="   "), field="event"),
    "anonymousId a list": Case(
        path="/v1/page", body={"anonymousId": ["a"], "messageId": "m7"}, field="anonymousId"
    ),
    "page name a number": Case(
        path="/v1/page", body={"userId": "u1", "name": 3, "messageId": "m8"}, field="name"
    ),
    "integrations not an object": Case(
        path="/v1/track", body=track(integrations="all"), field="integrations"
    ),
    "alias previousId an object": Case(
        path="/v1/alias",
        body={"userId": "u1", "previousId": {"id": 1}, "messageId": "m9"},
        field="previousId",
    ),
    "writeKey in the body not a string": Case(
        path="/v1/batch", body={"writeKey": 7, "batch": [OK_TRACK]}, key="none", status=401
    ),
    # nesting
    "nested 300 levels deep": Case(
        path="/v1/track", raw=nested(300), field="properties", says=("nested",)
    ),
    "nested 1,000 levels deep": Case(
        path="/v1/track", raw=nested(1000), field="properties", says=("nested",)
    ),
    "nested past the JSON parser's depth": Case(
        path="/v1/track", raw=nested(2000), field="body", says=("JSON",)
    ),
    "the only batch item nested too deep": Case(
        path="/v1/batch",
        raw=b'{"batch": [' + nested(300) + b"]}",
        field="batch[0].properties",
    ),
    # the body as it is read
    "gzip cut short": Case(
        path="/v1/batch",
        raw=gzip.compress(orjson.dumps({"batch": [OK_TRACK]}))[:20],
        headers={"Content-Encoding": "gzip"},
        says=("cut short",),
    ),
    "oversize single call, as sent": Case(
        path="/v1/track",
        raw=orjson.dumps(track(properties={"p": "q" * 600_000})),
        status=413,
        field="body",
        says=("limit",),
    ),
    "oversize body without a key": Case(
        path="/v1/batch",
        raw=b'{"batch": ["' + b"w" * 600_000 + b'"]}',
        key="none",
        status=413,
        field="batch",
    ),
}


@pytest.fixture(scope="module")
def ws(server: WaylineServer) -> Workspace:
    return server.create_workspace("bad-input")


def post(server: WaylineServer, ws: Workspace, case: Case) -> httpx.Response:
    headers = {**JSON, **case.headers}
    auth: tuple[str, str] | None = None
    if case.key == "write":
        auth = ws.auth
    elif case.key == "admin":
        auth = (ws.admin_token, "")
    elif case.key != "none":
        auth = (case.key, "")
    if auth is None:
        return server.http.post(case.path, content=case.content(), headers=headers)
    return server.http.post(case.path, content=case.content(), headers=headers, auth=auth)


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gets_a_clear_4xx_json_error_and_stores_nothing(
    server: WaylineServer, ws: Workspace, name: str
) -> None:
    case = CASES[name]
    before = server.stats(ws)

    r = post(server, ws, case)

    assert r.status_code == case.status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["success"] is False
    assert isinstance(body["error"], str)
    assert len(body["error"]) > 5
    if case.field is not None:
        # A batch-level field may be reported on the items it spoils ("batch[0].sentAt").
        assert body["field"] == case.field or body["field"].endswith(f".{case.field}"), body
    for word in case.says:
        assert word.lower() in body["error"].lower(), body
    assert server.stats(ws) == before
    assert server.http.get("/health").status_code == 200


def test_mixed_batch_lands_the_valid_items_and_names_the_rest(
    server: WaylineServer, ws: Workspace
) -> None:
    # The refused requests of the other tests store no event and no rejection.
    before = server.stats(ws)
    items: list[Any] = [
        {"type": "track", "userId": "mix", "event": "Good One", "messageId": "mix-0"},
        {"type": "track", "userId": "mix", "messageId": "mix-1"},
        {"type": "page", "userId": "mix", "name": "Home", "messageId": "mix-2"},
        {"type": "explode", "userId": "mix", "messageId": "mix-3"},
        {"type": "track", "userId": "mix", "event": "E", "timestamp": "soon", "messageId": "mix-4"},
        {"type": "track", "userId": "mix", "event": "E", "messageId": "mix-5", "properties": BIG},
        {"type": "identify", "userId": "mix", "traits": {"plan": "pro"}, "messageId": "mix-6"},
        {"type": "track", "userId": "mix", "event": "E", "properties": [1], "messageId": "mix-7"},
        "not a message",
    ]  # fmt: skip
    rejected = {1: "event", 3: "type", 4: "timestamp", 5: "", 7: "properties", 8: ""}

    r = server.http.post(
        "/v1/batch",
        content=gzip.compress(orjson.dumps({"batch": items})),
        headers={**JSON, "Content-Encoding": "gzip"},
        auth=ws.auth,
    )

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True
    assert body["accepted"] == 3
    assert {e["index"]: e["field"] for e in body["rejected"]} == rejected
    for e in body["rejected"]:
        assert e["error"]
        assert e["messageId"] == (f"mix-{e['index']}" if e["index"] < 8 else None)
    after = server.stats(ws)
    assert after["events"] - before["events"] == 3
    assert after["rejected"] - before["rejected"] == len(rejected)

    kept = server.http.get("/api/v1/rejections", headers=ws.admin)
    assert kept.status_code == 200, kept.text
    assert {(e["position"], e["field"], e["message_id"]) for e in kept.json()["data"]} == {
        (i, f, f"mix-{i}" if i < 8 else None) for i, f in rejected.items()
    }

    # A retry of the same batch (an SDK would not retry a 200, but a proxy might) adds no
    # event twice.
    again = server.http.post("/v1/batch", json={"batch": items}, auth=ws.auth)
    assert again.status_code == 200
    assert server.stats(ws)["events"] == after["events"]

    server.barrier()
    timeline = server.timeline(ws, "mix")
    assert sorted(e["messageId"] for e in timeline) == ["mix-0", "mix-2", "mix-6"]
    profile = server.profile(ws, "mix")
    assert profile is not None
    assert profile["traits"] == {"plan": "pro"}


def test_batch_with_no_valid_item_is_refused_naming_each(
    server: WaylineServer, ws: Workspace
) -> None:
    before = server.stats(ws)
    items = [
        {"type": "track", "userId": "u", "messageId": "a"},
        {"type": "page", "messageId": "b"},
        {"type": 7, "userId": "u", "messageId": "c"},
    ]

    r = server.http.post("/v1/batch", json={"batch": items}, auth=ws.auth)

    assert r.status_code == 400, r.text
    body = r.json()
    assert body["success"] is False
    assert body["field"] == "batch[0].event"
    assert [(e["index"], e["field"], e["messageId"]) for e in body["rejected"]] == [
        (0, "event", "a"),
        (1, "userId", "b"),
        (2, "type", "c"),
    ]
    assert server.stats(ws) == before


def test_rejections_are_not_readable_without_an_admin_token(
    server: WaylineServer, ws: Workspace
) -> None:
    assert server.http.get("/api/v1/rejections").status_code == 401
    r = server.http.get("/api/v1/rejections", headers={"Authorization": f"Bearer {ws.write_key}"})
    assert r.status_code == 403
    assert "error" in r.json()


@dataclass(frozen=True, kw_only=True)
class AdminCase:
    method: str
    #: ``{ws}`` stands for the workspace id.
    path: str
    raw: bytes | None = None
    #: "admin" sends the workspace's admin token; "none" nothing; else the header's value.
    authorization: str = "admin"
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 422
    #: What the error must begin with, or the field the answer names.
    names: str = ""


ADMIN_CASES: dict[str, AdminCase] = {
    "admin body unparseable, no token": AdminCase(
        method="POST", path="/api/v1/journeys/j1/enroll", raw=b"{oops", authorization="none",
        status=401,
    ),
    "admin body unparseable, a write key": AdminCase(
        method="POST", path="/api/v1/journeys/j1/enroll", raw=b"{oops", authorization="write",
        status=403,
    ),
    "funnel window of a million years": AdminCase(
        method="GET", path="/api/v1/analytics/funnel?steps=A&steps=B&window=99999999999999w",
        names="window",
    ),
    "paths session gap of a million years": AdminCase(
        method="GET", path="/api/v1/analytics/paths?session_gap=99999999999999999999w",
        names="session_gap",
    ),
    "breakdown path with a backslash": AdminCase(
        method="GET", path="/api/v1/analytics/funnel?steps=A&steps=B&breakdown=properties.a%5Cb",
        names="breakdown",
    ),
    "provider key not ASCII": AdminCase(
        method="POST", path="/v1/providers/{ws}/email?key=cl%C3%A9", raw=b"{}",
        authorization="none", status=401, names="key",
    ),
    "suppression of a non-address": AdminCase(
        method="POST", path="/api/v1/suppressions",
        raw=b'{"channel": "email", "address": "a@b"}', names="address",
    ),
    "SMS provider over plain http": AdminCase(
        method="PUT", path="/api/v1/channels/sms",
        raw=b'{"account_sid": "AC1", "from": "+15005550006", "base_url": "http://sms.example.com"}',
        names="body.base_url",
    ),
    "admin body over the limit": AdminCase(
        method="POST", path="/api/v1/segments", raw=b'{"name": "' + b"n" * 1_100_000 + b'"}',
        status=413, names="body",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(ADMIN_CASES))
def test_bad_input_to_the_rest_of_the_api_gets_a_clear_4xx(
    server: WaylineServer, ws: Workspace, name: str
) -> None:
    case = ADMIN_CASES[name]
    headers = {**JSON, **case.headers}
    if case.authorization == "admin":
        headers.update(ws.admin)
    elif case.authorization == "write":
        headers["Authorization"] = f"Bearer {ws.write_key}"
    # the provider secret exists once its URLs have been asked for
    assert server.http.get("/api/v1/provider_webhooks", headers=ws.admin).status_code == 200

    r = server.http.request(
        case.method, case.path.format(ws=ws.id), content=case.raw, headers=headers
    )

    assert r.status_code == case.status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert isinstance(body["error"], str)
    if case.names:
        assert body.get("field") == case.names or body["error"].startswith(case.names), body
    assert server.http.get("/health").status_code == 200
