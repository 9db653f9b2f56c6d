"""Filters (``where``): which events or customers a journey step is about.

A filter maps a dotted field path to a plain value (equals) or to an object of operators::

    where: {properties.price: {gte: 10}, context.campaign.source: newsletter}

Every path must match (AND); several operators on one path must all hold. The evaluator
:func:`matches` is pure and small, because the runtime calls it for every incoming event
of every event-triggered journey.

Rules that keep it predictable: a missing field counts as ``null``; there is no type
coercion (``"12"`` is not ``12``, ``true`` is not ``1``); ordering operators compare
numbers with numbers and text with text (ISO 8601 dates compare correctly as text), and
any other pair does not match.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Final

from pydantic import (
    BeforeValidator,
    Field,
    JsonValue,
    PlainSerializer,
    PrivateAttr,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    TypeAdapter,
    model_validator,
)

from wayline.journeys.base import FieldPath, SpecModel, problem

#: The operators, in the order they are written in docs and messages.
OPERATORS: Final = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "exists")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _orderable(value: Any) -> Any:
    if value is None or _number(value) or isinstance(value, str):
        return value
    raise problem("filter", f"must be a number or text to compare with, not {value!r}")


#: What ``gt``, ``gte``, ``lt`` and ``lte`` compare with.
Orderable = Annotated[
    StrictInt | StrictFloat | StrictStr,
    BeforeValidator(_orderable, json_schema_input_type=StrictInt | StrictFloat | StrictStr),
]
Scalar = StrictStr | StrictInt | StrictFloat | StrictBool | None


class Check(SpecModel):
    """Operators applied to one field; all of them must hold."""

    eq: JsonValue = None
    """Equal to this value."""
    ne: JsonValue = None
    """Not equal to this value (a missing field is not equal to anything but null)."""
    gt: Orderable | None = None
    """Greater than (numbers with numbers, text with text)."""
    gte: Orderable | None = None
    """Greater than or equal."""
    lt: Orderable | None = None
    """Less than."""
    lte: Orderable | None = None
    """Less than or equal."""
    in_: list[JsonValue] | None = Field(None, alias="in")
    """One of these values."""
    not_in: list[JsonValue] | None = None
    """None of these values."""
    contains: JsonValue = None
    """Text that contains this text, or a list that has this item."""
    exists: StrictBool | None = None
    """``true``: the field is present and not null; ``false``: it is missing or null."""

    _tests: tuple[tuple[str, Any], ...] = PrivateAttr(default=())

    @model_validator(mode="before")
    @classmethod
    def _known_operators(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = [key for key in data if key not in OPERATORS]
            if unknown:
                raise problem(
                    "filter",
                    f"unknown operator {unknown[0]!r}; use one of " + ", ".join(OPERATORS),
                )
        return data

    @model_validator(mode="after")
    def _not_empty(self) -> Check:
        if not self.model_fields_set:
            raise problem("filter", "no operator; use one of " + ", ".join(OPERATORS))
        return self

    def model_post_init(self, context: Any, /) -> None:
        # The operators that were written, precomputed once: matching runs per event.
        by_name = {name: info.alias or name for name, info in type(self).model_fields.items()}
        self._tests = tuple(
            (by_name[name], getattr(self, name)) for name in sorted(self.model_fields_set)
        )

    def holds(self, value: Any) -> bool:
        """Whether ``value`` (``None`` when the field is missing) passes every operator."""
        return all(_OPS[op](value, operand) for op, operand in self._tests)


def _same(a: Any, b: Any) -> bool:
    """Equality without Python's ``True == 1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    return bool(a == b)


def _comparable(a: Any, b: Any) -> bool:
    return (_number(a) and _number(b)) or (isinstance(a, str) and isinstance(b, str))


def _contains(value: Any, needle: Any) -> bool:
    if isinstance(value, str):
        return isinstance(needle, str) and needle in value
    if isinstance(value, list):
        return any(_same(item, needle) for item in value)
    return False


_OPS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "eq": _same,
    "ne": lambda v, o: not _same(v, o),
    "gt": lambda v, o: _comparable(v, o) and v > o,
    "gte": lambda v, o: _comparable(v, o) and v >= o,
    "lt": lambda v, o: _comparable(v, o) and v < o,
    "lte": lambda v, o: _comparable(v, o) and v <= o,
    "in": lambda v, o: any(_same(v, x) for x in o),
    "not_in": lambda v, o: not any(_same(v, x) for x in o),
    "contains": _contains,
    "exists": lambda v, o: (v is not None) is o,
}


def _plain_is_eq(value: Any) -> Any:
    """A plain value means ``{eq: value}``; a list is refused, because it reads as "one of"."""
    if isinstance(value, list):
        raise problem(
            "filter",
            "a list here is ambiguous: write {in: [...]} for one of these values, "
            "or {eq: [...]} for equal to this list",
        )
    if isinstance(value, Mapping):
        return value
    return {"eq": value}


def _dump_where(where: Mapping[str, Check]) -> dict[str, Any]:
    """Dump equality back to its plain form, so a file round-trips as it was written."""
    out: dict[str, Any] = {}
    for path, check in where.items():
        plain = check.model_fields_set == {"eq"} and not isinstance(check.eq, dict | list)
        out[path] = check.eq if plain else check.model_dump(mode="json", exclude_unset=True)
    return out


#: One field's test: a plain value (equals) or an operator object.
CheckOrValue = Annotated[
    Check, BeforeValidator(_plain_is_eq, json_schema_input_type=Check | Scalar)
]

#: A filter: field path → value or operators, all of which must match.
Where = Annotated[
    dict[FieldPath, CheckOrValue],
    PlainSerializer(_dump_where, return_type=dict[str, Any], when_used="json"),
]


def parse_where(raw: Mapping[str, Any]) -> dict[str, Check]:
    """Validate a filter given as plain data (for callers that did not load a journey)."""
    adapter: TypeAdapter[dict[str, Check]] = TypeAdapter(Where)
    return adapter.validate_python(raw)


_MISSING: Final = object()


def lookup(data: Any, path: str) -> Any:
    """The value at a dotted path, or ``None`` when any part of it is missing."""
    current = data
    for part in path.split("."):
        if isinstance(current, Mapping):
            current = current.get(part, _MISSING)
        elif isinstance(current, Sequence) and not isinstance(current, str) and part.isdigit():
            index = int(part)
            current = current[index] if index < len(current) else _MISSING
        else:
            return None
        if current is _MISSING:
            return None
    return current


def _holds(test: Any, value: Any) -> bool:
    if isinstance(test, Check):
        return test.holds(value)
    if isinstance(test, Mapping):
        for op, operand in test.items():
            if op not in _OPS:
                raise ValueError(f"unknown filter operator {op!r}")
            if not _OPS[op](value, operand):
                return False
        return True
    return _same(value, test)


def matches(where: Mapping[str, Any] | None, data: Mapping[str, Any]) -> bool:
    """Whether ``data`` (an event, or a customer's traits and context) passes the filter.

    ``where`` is a loaded filter (a :class:`Check` per path) or the same as plain data
    (``{"properties.price": {"gte": 10}}``, as stored in a journey version's JSON). Plain
    data is trusted to be valid: load it with :func:`parse_where` when it is not, though
    an unknown operator still raises :class:`ValueError` rather than matching.
    ``None`` and an empty filter match everything.
    """
    if not where:
        return True
    return all(_holds(test, lookup(data, path)) for path, test in where.items())
