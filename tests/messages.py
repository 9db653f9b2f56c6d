"""Generated Segment calls for property tests: any JSON value, timestamps of every shape,
and valid calls with some fields replaced by anything."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from hypothesis import strategies as st

from wayline.events import EARLIEST, LATEST, MAX_DEPTH

TIME_FIELDS = ("timestamp", "sentAt", "originalTimestamp")
#: Naive (read as UTC), UTC, or any zone with its offset.
ZONES: st.SearchStrategy[tzinfo | None] = st.none() | st.just(UTC) | st.timezones()

# What orjson reads from a request: 64-bit integers (bigger ones come back as floats), finite
# floats, and text without lone surrogates (the JSON of one is refused).
TEXT = st.text(st.characters(codec="utf-8"), max_size=20)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
    | st.sampled_from(
        ["", " ", "\x00", "\u202e", "\ufeff", "🙂", "ǅ", "٣", "\uff12\uff10\uff12\uff16"]
    )
)


def _nested(leaf: Any, levels: int, as_list: bool) -> Any:
    for n in range(levels):
        leaf = [leaf] if as_list or n % 3 == 0 else {"a": leaf}
    return leaf


#: Any JSON value, now and then nested around the depth limit.
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
) | st.builds(
    _nested,
    SCALARS,
    st.integers(MAX_DEPTH - 3, MAX_DEPTH + 3) | st.integers(1, 300),
    st.booleans(),
)


@st.composite
def times(draw: st.DrawFn) -> Any:
    """Timestamps of every shape, most near the edges of the range."""
    zone = draw(ZONES)
    moment = draw(
        st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).map(
            lambda m: m.replace(tzinfo=zone)
        )
        | st.sampled_from(
            [EARLIEST, LATEST, EARLIEST - timedelta(microseconds=1), LATEST - timedelta(seconds=1)]
        )
    )
    shape = draw(st.sampled_from(["iso", "z", "millis", "json"]))
    if shape == "iso":
        return moment.isoformat()
    if shape == "z":
        return moment.replace(tzinfo=None).isoformat() + draw(st.sampled_from(["Z", "z", " "]))
    if shape == "millis":
        try:
            return draw(st.sampled_from([int, float]))(moment.timestamp() * 1000)
        except (OverflowError, ValueError):
            return 0
    return draw(JSON)


BASES: dict[str, dict[str, Any]] = {
    "track": {"type": "track", "userId": "u1", "event": "Order Completed"},
    "identify": {"type": "identify", "anonymousId": "a1", "traits": {"plan": "pro"}},
    "page": {"type": "page", "userId": "u1", "name": "Home"},
    "group": {"type": "group", "userId": "u1", "groupId": "g1"},
    "alias": {"type": "alias", "userId": "u1", "previousId": "a1"},
}
FIELDS = [
    "type",
    "userId",
    "anonymousId",
    "previousId",
    "groupId",
    "event",
    "name",
    "messageId",
    "properties",
    "traits",
    "context",
    "integrations",
    *TIME_FIELDS,
    "writeKey",
    "anything",
]


@st.composite
def messages(draw: st.DrawFn) -> tuple[dict[str, Any], set[str]]:
    """A valid call with some of its fields replaced by anything, and the fields replaced."""
    message = dict(BASES[draw(st.sampled_from(sorted(BASES)))])
    changed = set(draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3)))
    for field in changed:
        message[field] = draw(times() if field in TIME_FIELDS else JSON)
    return message, changed
