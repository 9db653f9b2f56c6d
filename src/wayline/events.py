"""The Segment spec: validating incoming calls and turning them into stored events.

The hot path of ingestion runs through :func:`parse_message`, so it is written by hand
rather than through a model library: one pass over a dict, precise field names in errors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from wayline.errors import InvalidMessage, MessageTooLarge

#: The call types of the Segment spec.
CALL_TYPES: Final = frozenset({"track", "identify", "page", "screen", "group", "alias"})

_OBJECT_FIELDS: Final = ("properties", "traits", "context", "integrations")
_TIME_FIELDS: Final = ("timestamp", "sentAt", "originalTimestamp")

#: The earliest and (exclusive) latest time an event may carry. Values outside are refused at
#: the door: every store, warehouse and language the events reach can represent these.
EARLIEST: Final = datetime(1970, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(2100, 1, 1, tzinfo=UTC)
_RANGE: Final = "between 1970-01-01T00:00:00Z and 2100-01-01T00:00:00Z"


def within_event_range(value: datetime) -> datetime:
    """A time bound of a query over events, in UTC and inside [EARLIEST, LATEST]: a bound
    past either end selects what the end selects, since no event lies beyond it."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # an offset that moves year 1 or 9999 past the calendar
        return EARLIEST if value.year < 1970 else LATEST
    return min(max(value, EARLIEST), LATEST)


#: How many objects and arrays deep a message may nest, counting the message itself
#: (docs/api.md). Deeper JSON parses but cannot be written back out by orjson past 255 levels.
MAX_DEPTH: Final = 64
#: The integers JSON carries here: what orjson reads and writes (signed and unsigned 64-bit).
JSON_INTEGERS: Final = range(-(2**63), 2**64)


@dataclass(frozen=True, kw_only=True, slots=True)
class EventRow:
    """One validated message, ready for the inbox."""

    message_id: str
    type: str
    #: The track event name, or the page/screen name; empty for other calls.
    event: str | None
    user_id: str | None
    anonymous_id: str | None
    #: When it happened, corrected for the sender's clock skew.
    timestamp: datetime
    received_at: datetime
    #: The message as sent (``context``, ``properties``, ``traits``, ``integrations``
    #: untouched) with ``timestamp``, ``originalTimestamp`` and ``receivedAt`` filled in.
    payload: bytes


def parse_time(value: Any, field: str) -> datetime:
    """An ISO 8601 timestamp (or epoch milliseconds), as an aware UTC datetime."""
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidMessage(field, f"not an ISO 8601 timestamp: {value[:64]!r}") from None
    elif isinstance(value, int) and not isinstance(value, bool) and value not in JSON_INTEGERS:
        raise InvalidMessage(field, f"must be {_RANGE}")  # (and too long to quote)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            parsed = datetime.fromtimestamp(value / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            raise InvalidMessage(field, f"not a timestamp: {value!r}") from None
    else:
        raise InvalidMessage(field, "must be an ISO 8601 string")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:  # an offset that moves year 1 or 9999 past the calendar
        raise InvalidMessage(field, f"must be {_RANGE}") from None
    if not EARLIEST <= parsed < LATEST:
        raise InvalidMessage(field, f"must be {_RANGE}; got {_format_time(parsed)}")
    return parsed


def _id(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        if len(value) > 255:
            raise InvalidMessage(field, "longer than 255 characters")
        return value or None
    if isinstance(value, int) and not isinstance(value, bool) and value in JSON_INTEGERS:
        return str(value)
    raise InvalidMessage(field, "must be a string")


def _too_deep(value: Any, limit: int) -> bool:
    """Whether ``value`` nests more than ``limit`` objects and arrays deep (iteratively, so
    that no depth of input can exhaust the stack)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item if isinstance(v, dict | list))
    return False


def check_depth(message: Mapping[str, Any], limit: int = MAX_DEPTH) -> None:
    """Refuse a message nested more than ``limit`` levels deep, naming its top-level field."""
    for key, value in message.items():
        if isinstance(value, dict | list) and _too_deep(value, limit - 1):
            raise InvalidMessage(str(key), f"nested more than {limit} levels deep")


def _format_time(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _dumps(message: Mapping[str, Any], option: int | None = None) -> bytes:
    """The JSON of a message; what JSON cannot hold (an integer past 64 bits, a lone
    surrogate: Python values built by code, never read from JSON) is refused by field."""
    try:
        return orjson.dumps(message, option=option)
    except TypeError as exc:  # orjson.JSONEncodeError
        for key, value in message.items():
            try:
                orjson.dumps(value)
            except TypeError:
                raise InvalidMessage(str(key), f"cannot be written as JSON: {exc}") from None
        raise InvalidMessage("", f"cannot be written as JSON: {exc}") from None


def _holds_nul(value: Any) -> bool:
    """Whether a string, key or nested value of ``value`` holds the NUL character."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def check_nul(message: Mapping[str, Any], payload: bytes) -> None:
    """Refuse a message with the NUL character in any key or string, naming its top-level
    field: PostgreSQL cannot store it in text, so one store would take what the other
    refuses (``payload`` is its JSON, where orjson writes NUL as ``\\u0000``)."""
    if b"\\u0000" not in payload:
        return
    for key, value in message.items():
        if _holds_nul(key) or _holds_nul(value):
            raise InvalidMessage(
                str(key), "holds the NUL character (\\u0000), which text may not contain"
            )


def content_message_id(message: Mapping[str, Any]) -> str:
    """A stable id for a message sent without one, so that a retried delivery dedupes."""
    digest = hashlib.blake2b(_dumps(message, orjson.OPT_SORT_KEYS), digest_size=16)
    return "wl-" + digest.hexdigest()


def parse_message(
    raw: Any,
    *,
    received_at: datetime,
    call_type: str | None = None,
    max_bytes: int = 32 * 1024,
    sent_at: Any = None,
) -> EventRow:
    """Validate one Segment call and compute its stored form.

    ``call_type`` is given by single-call endpoints (``/v1/track``); in a batch each item
    names its own ``type``. ``sent_at`` is the batch's ``sentAt`` when the item has none.
    Raises :class:`InvalidMessage` naming the offending field.
    """
    if not isinstance(raw, dict):
        raise InvalidMessage("", "a message must be a JSON object")
    kind = call_type or raw.get("type")
    if not isinstance(kind, str) or kind not in CALL_TYPES:
        raise InvalidMessage(
            "type", f"unknown call type {kind!r}; expected one of " + ", ".join(sorted(CALL_TYPES))
        )
    check_depth(raw)
    message = dict(raw)
    message["type"] = kind
    message.pop("writeKey", None)

    user_id = _id(message.get("userId"), "userId")
    anonymous_id = _id(message.get("anonymousId"), "anonymousId")
    if kind == "alias":
        if user_id is None:
            raise InvalidMessage("userId", "alias needs the new userId")
        if _id(message.get("previousId"), "previousId") is None:
            raise InvalidMessage("previousId", "alias needs the previousId")
    elif user_id is None and anonymous_id is None:
        raise InvalidMessage("userId", "either userId or anonymousId is required")
    if kind == "group" and _id(message.get("groupId"), "groupId") is None:
        raise InvalidMessage("groupId", "group needs a groupId")

    name: str | None = None
    if kind == "track":
        name = message.get("event")
        if not isinstance(name, str) or not name.strip():
            raise InvalidMessage("event", "track needs an event name")
        if len(name) > 255:
            raise InvalidMessage("event", "longer than 255 characters")
    elif kind in ("page", "screen"):
        page_name = message.get("name")
        if page_name is not None and not isinstance(page_name, str):
            raise InvalidMessage("name", "must be a string")
        name = page_name or None

    for field in _OBJECT_FIELDS:
        value = message.get(field)
        if value is not None and not isinstance(value, dict):
            raise InvalidMessage(field, "must be an object")

    times = {}
    for field in _TIME_FIELDS:
        value = message.get(field)
        if value is not None:
            times[field] = parse_time(value, field)
    if "sentAt" not in times and sent_at is not None:
        times["sentAt"] = parse_time(sent_at, "sentAt")
    original = times.get("originalTimestamp") or times.get("timestamp")
    if original is None:
        timestamp = received_at
    elif "sentAt" in times:
        # The sender's clock may be wrong; the gap between event and send is not.
        timestamp = received_at - (times["sentAt"] - original)
        if not EARLIEST <= timestamp < LATEST:
            field = "originalTimestamp" if "originalTimestamp" in times else "timestamp"
            raise InvalidMessage(
                field,
                f"corrected by sentAt, it falls at {_format_time(timestamp)}; it must be {_RANGE}",
            )
    else:
        timestamp = original

    message_id = message.get("messageId")
    if message_id is None:
        message_id = content_message_id(message)
    elif not isinstance(message_id, str) or not message_id:
        raise InvalidMessage("messageId", "must be a non-empty string")
    elif len(message_id) > 255:
        raise InvalidMessage("messageId", "longer than 255 characters")
    message["messageId"] = message_id
    if original is not None:
        message["originalTimestamp"] = _format_time(original)
    message["timestamp"] = _format_time(timestamp)
    message["receivedAt"] = _format_time(received_at)

    payload = _dumps(message)
    check_nul(message, payload)
    if len(payload) > max_bytes:
        raise MessageTooLarge("", f"event is {len(payload)} bytes; the limit is {max_bytes}")
    return EventRow(
        message_id=message_id,
        type=kind,
        event=name,
        user_id=user_id,
        anonymous_id=anonymous_id,
        timestamp=timestamp,
        received_at=received_at,
        payload=payload,
    )
