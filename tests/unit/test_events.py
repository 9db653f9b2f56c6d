from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from wayline.errors import InvalidMessage, MessageTooLarge
from wayline.events import parse_message, parse_time

NOW = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


def test_track_keeps_everything_as_sent() -> None:
    raw = {
        "type": "track",
        "userId": "u1",
        "event": "Order Completed",
        "messageId": "m1",
        "properties": {"total": 30.5, "items": [1, 2]},
        "context": {"ip": "1.2.3.4"},
        "integrations": {"All": False},
        "custom": "kept",
    }
    row = parse_message(raw, received_at=NOW)
    payload = orjson.loads(row.payload)
    assert (row.type, row.event, row.user_id, row.message_id) == (
        "track",
        "Order Completed",
        "u1",
        "m1",
    )
    for key in ("properties", "context", "integrations", "custom"):
        assert payload[key] == raw[key]
    assert payload["receivedAt"] == "2026-05-01T12:00:00.000Z"


def test_timestamp_corrected_for_client_clock_skew() -> None:
    # the client's clock is an hour fast; the event happened 10 s before it was sent
    raw = {
        "type": "track",
        "userId": "u",
        "event": "E",
        "timestamp": "2026-05-01T12:59:50Z",
        "sentAt": "2026-05-01T13:00:00Z",
    }
    row = parse_message(raw, received_at=NOW)
    assert row.timestamp == NOW - timedelta(seconds=10)
    assert orjson.loads(row.payload)["originalTimestamp"] == "2026-05-01T12:59:50.000Z"


def test_batch_sent_at_applies_to_items_without_their_own() -> None:
    raw = {"type": "track", "userId": "u", "event": "E", "timestamp": "2026-05-01T12:59:00Z"}
    row = parse_message(raw, received_at=NOW, sent_at="2026-05-01T13:00:00Z")
    assert row.timestamp == NOW - timedelta(minutes=1)


def test_no_timestamp_means_received_time() -> None:
    row = parse_message({"type": "identify", "anonymousId": "a"}, received_at=NOW)
    assert row.timestamp == NOW


def test_missing_message_id_gets_a_stable_one() -> None:
    raw = {"type": "track", "userId": "u", "event": "E", "timestamp": "2026-05-01T10:00:00Z"}
    first = parse_message(raw, received_at=NOW)
    again = parse_message(dict(raw), received_at=NOW + timedelta(hours=1))
    assert first.message_id == again.message_id
    assert first.message_id.startswith("wl-")


def test_numeric_user_id_becomes_a_string() -> None:
    assert (
        parse_message({"type": "track", "userId": 42, "event": "E"}, received_at=NOW).user_id
        == "42"
    )


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"type": "track", "userId": "u"}, "event"),
        ({"type": "track", "userId": "u", "event": "  "}, "event"),
        ({"type": "track", "event": "E"}, "userId"),
        ({"type": "explode", "userId": "u"}, "type"),
        ({"type": "track", "userId": "u", "event": "E", "properties": ["a"]}, "properties"),
        ({"type": "identify", "userId": "u", "traits": "x"}, "traits"),
        ({"type": "track", "userId": "u", "event": "E", "timestamp": "yesterday"}, "timestamp"),
        ({"type": "track", "userId": "u", "event": "E", "sentAt": True}, "sentAt"),
        ({"type": "track", "userId": ["u"], "event": "E"}, "userId"),
        ({"type": "alias", "userId": "u"}, "previousId"),
        ({"type": "alias", "previousId": "p"}, "userId"),
        ({"type": "group", "userId": "u"}, "groupId"),
        ({"type": "track", "userId": "u", "event": "E", "messageId": 7}, "messageId"),
        ({"type": "page", "userId": "u", "name": 3}, "name"),
    ],
)
def test_invalid_messages_name_the_field(raw: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidMessage) as err:
        parse_message(raw, received_at=NOW)
    assert err.value.field == field


def test_oversize_event_is_its_own_error() -> None:
    raw = {"type": "track", "userId": "u", "event": "E", "properties": {"x": "y" * 40_000}}
    with pytest.raises(MessageTooLarge):
        parse_message(raw, received_at=NOW, max_bytes=32 * 1024)


def test_call_type_of_the_endpoint_wins() -> None:
    row = parse_message(
        {"type": "identify", "userId": "u", "event": "E"}, received_at=NOW, call_type="track"
    )
    assert row.type == "track"


@pytest.mark.parametrize(
    "text",
    [
        "2026-05-01T12:00:00Z",
        "2026-05-01T14:00:00+02:00",
        "2026-05-01T12:00:00.000Z",
        "2026-05-01 12:00:00",
    ],
)
def test_parse_time_accepts_iso_forms(text: str) -> None:
    assert parse_time(text, "timestamp") == NOW


def test_parse_time_accepts_epoch_milliseconds() -> None:
    assert parse_time(NOW.timestamp() * 1000, "timestamp") == NOW


@pytest.mark.parametrize(
    ("times", "field"),
    [
        ({"timestamp": "0001-01-01T00:00:00Z"}, "timestamp"),
        ({"timestamp": "1969-12-31T23:59:59Z"}, "timestamp"),
        ({"timestamp": "2100-01-01T00:00:00Z"}, "timestamp"),
        ({"timestamp": "9999-12-31T23:59:59-05:00"}, "timestamp"),
        ({"timestamp": "0001-01-01T00:00:00+05:00"}, "timestamp"),
        ({"originalTimestamp": "0001-01-01T00:00:00Z"}, "originalTimestamp"),
        ({"sentAt": "3000-01-01T00:00:00Z"}, "sentAt"),
        ({"timestamp": -1}, "timestamp"),
        # each in range, but the skew correction moves the event before 1970
        ({"timestamp": "1971-01-01T00:00:00Z", "sentAt": "2099-01-01T00:00:00Z"}, "timestamp"),
    ],
)
def test_times_outside_1970_to_2100_are_refused(times: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidMessage) as err:
        parse_message({"type": "track", "userId": "u", "event": "E", **times}, received_at=NOW)
    assert err.value.field == field
    assert "between 1970-01-01T00:00:00Z and 2100-01-01T00:00:00Z" in str(err.value)


@pytest.mark.parametrize("text", ["1970-01-01T00:00:00Z", "2099-12-31T23:59:59.999Z"])
def test_the_edges_of_the_range_are_kept(text: str) -> None:
    row = parse_message(
        {"type": "track", "userId": "u", "event": "E", "timestamp": text}, received_at=NOW
    )
    assert row.timestamp == parse_time(text, "timestamp")


# Values JSON cannot hold, which code building a call itself could pass: each was a TypeError
# or ValueError out of the validator rather than a refusal naming the field.
@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"type": "track", "userId": 2**64, "event": "E"}, "userId"),
        ({"type": "track", "userId": 10**5000, "event": "E"}, "userId"),
        ({"type": "track", "userId": "u", "event": "E", "properties": {"n": 2**64}}, "properties"),
        ({"type": "track", "userId": "u", "event": "E\ud800"}, "event"),
        ({"type": "identify", "userId": "u", "traits": {"\udfff": 1}}, "traits"),
        ({"type": "track", "userId": "u", "event": "E", "timestamp": 10**5000}, "timestamp"),
        ({"type": "track", "userId": "u", "event": "E", "messageId": "m", "n": -(2**63) - 1}, "n"),
    ],
    ids=[
        "id-past-64-bits",
        "id-too-long-to-print",
        "property-past-64-bits",
        "lone-surrogate",
        "surrogate-key",
        "timestamp-too-long-to-print",
        "given-message-id",
    ],
)
def test_values_json_cannot_hold_are_refused_naming_the_field(
    raw: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidMessage) as caught:
        parse_message(raw, received_at=NOW)
    assert caught.value.field == field


def test_a_numeric_id_is_one_json_carries() -> None:
    row = parse_message({"type": "identify", "userId": 2**64 - 1}, received_at=NOW)
    assert row.user_id == "18446744073709551615"
