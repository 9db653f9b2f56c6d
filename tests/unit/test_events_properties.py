"""Properties over generated messages: whatever JSON lands in any field of a Segment call, the
validator either takes it or raises ``InvalidMessage`` naming that field, never anything
else; what it takes writes back out as the same JSON, with its times in range."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.messages import BASES, FIELDS, SCALARS, TEXT, TIME_FIELDS, messages, times
from wayline.errors import InvalidMessage, MessageTooLarge
from wayline.events import EARLIEST, LATEST, EventRow, parse_message, parse_time

EXAMPLES = settings(max_examples=200, deadline=None)
RECEIVED = datetime(2026, 6, 1, 12, tzinfo=UTC)
#: The fields the validator writes itself or drops (the rest are kept as sent).
WRITTEN = frozenset(
    {"type", "messageId", "timestamp", "originalTimestamp", "receivedAt", "writeKey"}
)


def _parse(message: dict[str, Any], sent_at: Any = None) -> EventRow | InvalidMessage:
    """The row, or the refusal (any other exception fails the test)."""
    try:
        return parse_message(message, received_at=RECEIVED, sent_at=sent_at, max_bytes=1 << 20)
    except InvalidMessage as exc:
        return exc


def _check(message: dict[str, Any], changed: set[str], sent_at: Any = None) -> None:
    row = _parse(message, sent_at)
    if isinstance(row, MessageTooLarge):
        return
    if isinstance(row, InvalidMessage):
        named = set(changed)
        if named & {"userId", "anonymousId"}:
            named |= {"userId", "anonymousId"}  # one of the two is needed: userId is named
        if named & set(TIME_FIELDS) or sent_at is not None:
            named |= {"timestamp", "originalTimestamp", "sentAt"}  # corrected by another
        assert row.field in named, (row.field, changed)
        return
    stored = orjson.loads(row.payload)
    assert orjson.loads(orjson.dumps(stored)) == stored
    for key, value in message.items():
        if key not in WRITTEN:
            assert stored[key] == value, key
    assert "writeKey" not in stored
    assert stored["type"] == message["type"] == row.type
    assert stored["messageId"] == row.message_id
    assert EARLIEST <= row.timestamp < LATEST
    assert parse_time(stored["timestamp"], "timestamp") == row.timestamp.replace(
        microsecond=row.timestamp.microsecond // 1000 * 1000
    )
    for field in ("timestamp", "originalTimestamp", "sentAt"):
        if message.get(field) is not None:
            assert EARLIEST <= parse_time(message[field], field) < LATEST


@EXAMPLES
@given(found=messages())
def test_any_json_in_any_field_is_taken_or_named(found: tuple[dict[str, Any], set[str]]) -> None:
    _check(*found)


@EXAMPLES
@given(found=messages(), sent_at=times())
def test_a_batch_sent_at_of_any_kind_is_taken_or_named(
    found: tuple[dict[str, Any], set[str]], sent_at: Any
) -> None:
    _check(*found, sent_at=sent_at)


# What Python can hold and JSON cannot: integers past 64 bits, NaN and infinities, lone
# surrogates. Code that builds calls itself (delivery feedback, announcements) must get a
# named refusal for these too, never a crash.
_PYTHON_ONLY = st.recursive(
    st.integers(min_value=2**64) | st.integers(max_value=-(2**63) - 1)
    | st.sampled_from([math.nan, math.inf, -math.inf, 10**400, "\ud800", "a\udfffb"])
    | SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)  # fmt: skip


@EXAMPLES
@given(
    base=st.sampled_from(sorted(BASES)),
    changed=st.lists(st.sampled_from(FIELDS), min_size=1, max_size=2, unique=True),
    data=st.data(),
)
def test_values_json_cannot_hold_are_refused_by_name(
    base: str, changed: list[str], data: st.DataObject
) -> None:
    message = dict(BASES[base])
    for field in changed:
        message[field] = data.draw(_PYTHON_ONLY)
    row = _parse(message)
    if isinstance(row, InvalidMessage):
        assert row.field in {*changed, "userId", "timestamp", "originalTimestamp", "sentAt"}
        return
    # NaN and the infinities are written as null, as JSON has no other way to hold them
    stored = orjson.loads(row.payload)
    for key, value in message.items():
        if key not in WRITTEN:
            assert stored[key] == _finite(value), key


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value
