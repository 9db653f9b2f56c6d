"""Turning a row of an imported file into a Segment message.

* ``--map TARGET=COLUMN[:CAST]`` puts a column's value at ``TARGET``: a top-level field
  (``userId``, ``event``, ``timestamp``, …) or a path into an object
  (``properties.price``, ``traits.email``, ``context.ip``). For nested NDJSON or Parquet
  records, ``COLUMN`` may be a dotted path too (``user.id``). ``CAST`` is one of
  ``str``, ``int``, ``float``, ``bool``, ``json``: ``userId=CustomerID:int`` reads the
  CSV text ``17850.0`` as the id ``"17850"``.
* ``--set TARGET=VALUE`` puts the same value in every message (``event=Order Completed``).
* A column named like a Segment field (``userId``, ``anonymousId``, ``timestamp``,
  ``messageId``, ``type``, ``context``, ``integrations``, and ``event``, ``properties``
  for events or ``traits`` for profiles) fills that field; every other column goes into
  ``properties`` (events) or ``traits`` (profiles) under its own name. A column that a
  ``--map`` uses is not also placed by its name.
* CSV cells are text. In ``properties``, ``traits`` and ``context``, a cell that is a plain
  decimal number becomes a number and ``true``/``false`` a boolean (``007`` and ``1e5``
  stay text; a cast says otherwise); top-level fields stay text. Empty cells and nulls are
  left out.
* An NDJSON line with a ``type`` naming a Segment call is a message already: it is taken
  as it is, with ``--map`` and ``--set`` applied on top.
* A naive timestamp (no offset) in ``timestamp`` or ``originalTimestamp`` is read in
  ``--timezone`` (UTC by default). ``sentAt`` is dropped: it dates a delivery that
  happened long ago, and the API's clock-skew correction would move the event to now.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from wayline.errors import InvalidMessage, WaylineError
from wayline.events import CALL_TYPES

Kind = Literal["events", "profiles"]

_COMMON: Final = (
    "type",
    "messageId",
    "userId",
    "anonymousId",
    "timestamp",
    "originalTimestamp",
    "context",
    "integrations",
)
#: Columns of these names fill the top-level field; the others go to BUCKET.
TOP_LEVEL: Final[dict[Kind, frozenset[str]]] = {
    "events": frozenset((*_COMMON, "event", "properties", "groupId", "previousId")),
    "profiles": frozenset((*_COMMON, "traits")),
}
BUCKET: Final[dict[Kind, str]] = {"events": "properties", "profiles": "traits"}
#: The top-level fields a ``--map`` or ``--set`` may name.
TARGETS: Final = frozenset(
    (*_COMMON, "event", "name", "properties", "traits", "groupId", "previousId")
)
#: Fields that hold text: a number put there becomes its text.
_TEXT_FIELDS: Final = frozenset(
    ("type", "messageId", "userId", "anonymousId", "event", "name", "groupId", "previousId")
)
_TIME_FIELDS: Final = ("timestamp", "originalTimestamp")
#: Up to 18 digits, so that every such integer fits in 64 bits.
_NUMBER: Final = re.compile(r"-?(?:0|[1-9][0-9]{0,17})(\.[0-9]+)?")
_NUMERIC_START: Final = frozenset("-0123456789")
_INT64: Final = range(-(2**63), 2**64)


class MappingError(WaylineError):
    """The column mapping is not valid."""


def cell(text: Any) -> Any:
    """A CSV cell placed in an object: numbers and booleans become themselves."""
    if type(text) is not str or not text:
        return text
    if text[0] in _NUMERIC_START:
        match = _NUMBER.fullmatch(text)
        if match is not None:
            return float(text) if match.group(1) else int(text)
    elif text == "true":
        return True
    if text == "false":
        return False
    return text


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int):
        number = value
    else:
        text = value.strip() if isinstance(value, str) else value
        if isinstance(text, str) and "." not in text and "e" not in text.lower():
            number = int(text)
        else:
            as_float = float(text)
            if not as_float.is_integer():
                raise ValueError
            number = int(as_float)
    if number not in _INT64:
        raise ValueError
    return number


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError
    number = float(value.strip() if isinstance(value, str) else value)
    if not math.isfinite(number):
        raise ValueError
    return number


_TRUE: Final = frozenset(("true", "t", "yes", "y", "1"))
_FALSE: Final = frozenset(("false", "f", "no", "n", "0"))


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError


def _to_str(value: Any) -> str:
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def _to_json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str) else value


CASTS: Final[dict[str, Callable[[Any], Any]]] = {
    "str": _to_str,
    "int": _to_int,
    "float": _to_float,
    "bool": _to_bool,
    "json": _to_json,
}


def _target(spec: str, option: str, text: str) -> tuple[str, ...]:
    path = tuple(text.strip().split("."))
    if not all(path):
        raise MappingError(f"{option} {spec}: {text!r} is not a field path")
    if path[0] not in TARGETS:
        raise MappingError(
            f"{option} {spec}: unknown target {path[0]!r}; expected one of "
            + ", ".join(sorted(TARGETS - {"properties", "traits", "context", "integrations"}))
            + ", or properties.NAME, traits.NAME, context.NAME"
        )
    return path


def _split(spec: str, option: str, example: str) -> tuple[str, str]:
    target, sep, value = spec.partition("=")
    if not sep or not target.strip():
        raise MappingError(f"{option} {spec!r}: expected {example}")
    return target, value


@dataclass(frozen=True, slots=True)
class FieldMap:
    """One ``--map``: where a column's value goes."""

    spec: str
    target: tuple[str, ...]
    source: str
    cast: str | None = None

    @property
    def nested(self) -> bool:
        return len(self.target) > 1

    @classmethod
    def parse(cls, spec: str) -> FieldMap:
        target, source = _split(spec, "--map", "TARGET=COLUMN, e.g. userId=CustomerID")
        cast = None
        name, colon, suffix = source.rpartition(":")
        if colon and suffix.strip() in CASTS:
            source, cast = name, suffix.strip()
        source = source.strip()
        if not source:
            raise MappingError(f"--map {spec}: no column named after '='")
        return cls(spec=spec, target=_target(spec, "--map", target), source=source, cast=cast)


def parse_set(spec: str) -> tuple[tuple[str, ...], Any]:
    """One ``--set TARGET=VALUE``: text, typed like a CSV cell when it goes in an object."""
    target, value = _split(spec, "--set", 'TARGET=VALUE, e.g. event="Order Completed"')
    path = _target(spec, "--set", target)
    if path == ("type",) and value not in CALL_TYPES:
        raise MappingError(
            f"--set {spec}: unknown call type; expected one of " + ", ".join(sorted(CALL_TYPES))
        )
    return path, cell(value) if len(path) > 1 else value


def parse_timezone(name: str | None) -> tzinfo | None:
    """``None`` for UTC, which needs no conversion."""
    if name is None or name.strip().upper() in ("UTC", "Z", "ETC/UTC"):
        return None
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise MappingError(f"--timezone {name}: unknown time zone") from None


def normalise_time(value: Any, tz: tzinfo | None) -> Any:
    """A naive ISO timestamp read in ``tz``, as UTC; anything else as it is."""
    if tz is None or not isinstance(value, str):
        return value
    text = value.strip()
    if text.endswith(("Z", "z")):
        return value
    return _local_to_utc(text, tz) or value


@lru_cache(maxsize=4096)  # files often hold runs of equal timestamps
def _local_to_utc(text: str, tz: tzinfo) -> str | None:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None  # the validation names the field and the problem
    if parsed.tzinfo is not None:
        return None
    utc = parsed.replace(tzinfo=tz).astimezone(UTC)
    return utc.isoformat().replace("+00:00", "Z")


_MISSING: Final = object()


def _lookup(record: dict[str, Any], source: str) -> Any:
    value = record.get(source, _MISSING)
    if value is not _MISSING or "." not in source:
        return None if value is _MISSING else value
    node: Any = record
    for part in source.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _put(message: dict[str, Any], path: tuple[str, ...], value: Any, *, copy: bool) -> None:
    """Set ``value`` at ``path``; ``copy``: the objects on the way belong to the record."""
    if len(path) == 1:
        name = path[0]
        if name in _TEXT_FIELDS and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        elif type(value) is dict and type(message.get(name)) is dict:
            value = {**message[name], **value}  # a whole object joins the columns put there
        message[name] = value
        return
    if len(path) == 2 and not copy:
        node = message.get(path[0])
        if node is None:
            message[path[0]] = {path[1]: value}
        elif type(node) is dict:
            node[path[1]] = value
        else:
            raise InvalidMessage(path[0], "must be an object")
        return
    node = message
    for depth, part in enumerate(path[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            raise InvalidMessage(".".join(path[: depth + 1]), "must be an object")
        elif copy:
            child = node[part] = dict(child)
        node = child
    node[path[-1]] = value


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """How rows become messages: the ``--map``, ``--set`` and ``--timezone`` of an import."""

    kind: Kind
    maps: tuple[FieldMap, ...] = ()
    sets: tuple[tuple[tuple[str, ...], Any], ...] = ()
    timezone: tzinfo | None = None
    _sources: frozenset[str] = field(default=frozenset(), init=False)
    #: The maps as (source, dotted?, target, cast function, cast name), for the hot loop.
    _plan: tuple[
        tuple[str, bool, tuple[str, ...], Callable[[Any], Any] | None, str | None], ...
    ] = field(default=(), init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_sources", frozenset(m.source for m in self.maps))
        plan = tuple(
            (m.source, "." in m.source, m.target, CASTS[m.cast] if m.cast else None, m.cast)
            for m in self.maps
        )
        object.__setattr__(self, "_plan", plan)
        for path, value in self.sets:
            if self.kind == "profiles" and path == ("type",) and value != "identify":
                raise MappingError(f"--set type={value}: a profile import makes identify calls")

    @classmethod
    def parse(
        cls,
        kind: Kind,
        maps: Iterable[str] = (),
        sets: Iterable[str] = (),
        timezone: str | None = None,
    ) -> ColumnMap:
        return cls(
            kind=kind,
            maps=tuple(FieldMap.parse(m) for m in maps),
            sets=tuple(parse_set(s) for s in sets),
            timezone=parse_timezone(timezone),
        )

    def check_columns(self, columns: Sequence[str], file_name: str) -> None:
        """Every mapped column must exist, when the file declares its columns."""
        known = set(columns)
        for m in self.maps:
            if m.source in known or m.source.split(".", 1)[0] in known:
                continue
            hint = ""
            if ":" in m.source:
                hint = "; a cast after ':' is one of " + ", ".join(CASTS)
            raise MappingError(
                f"--map {m.spec}: no column {m.source!r} in {file_name} "
                f"(columns: {', '.join(columns)}){hint}"
            )

    def message(
        self, record: dict[str, Any], *, cells: bool = False, passthrough: bool = False
    ) -> dict[str, Any]:
        """The Segment message for one record; raises InvalidMessage naming the field.

        ``cells``: the values are CSV text. ``passthrough``: a record with a Segment call
        ``type`` is a message already (NDJSON).
        """
        if passthrough and record.get("type") in CALL_TYPES:
            message = dict(record)
        else:
            message = self._flat(record, cells)
        copy = not cells  # objects in the message may be the record's own: change copies
        for source, dotted, path, cast, name in self._plan:
            value = record.get(source)
            if value is None and dotted:
                value = _lookup(record, source)
            if value is None or (cells and value == ""):
                continue
            if cast is not None:
                try:
                    value = cast(value)
                except (TypeError, ValueError):
                    raise InvalidMessage(
                        ".".join(path), f"cannot read {str(value)[:64]!r} as {name}"
                    ) from None
            elif cells and len(path) > 1:
                value = cell(value)
            _put(message, path, value, copy=copy)
        for path, constant in self.sets:
            _put(message, path, constant, copy=copy)
        self._finish(message)
        return message

    def _flat(self, record: dict[str, Any], cells: bool) -> dict[str, Any]:
        message: dict[str, Any] = {}
        bucket: dict[str, Any] = {}
        top, used = TOP_LEVEL[self.kind], self._sources
        for name, value in record.items():
            if value is None or name in used or (cells and value == ""):
                continue
            if name in top:
                message[name] = value
            else:
                bucket[name] = cell(value) if cells else value
        if bucket:
            into = BUCKET[self.kind]
            given = message.get(into)
            message[into] = {**bucket, **given} if isinstance(given, dict) else bucket
        return message

    def _finish(self, message: dict[str, Any]) -> None:
        if self.kind == "events":
            message.setdefault("type", "track")
        else:
            kind = message.setdefault("type", "identify")
            if kind != "identify":
                raise InvalidMessage("type", f"a profile import takes identify calls, not {kind!r}")
            if message.get("userId") in (None, ""):
                raise InvalidMessage(
                    "userId", "a profile needs a userId; map a column to it: --map userId=COLUMN"
                )
        message.pop("sentAt", None)
        if self.timezone is not None:
            for name in _TIME_FIELDS:
                if name in message:
                    message[name] = normalise_time(message[name], self.timezone)
