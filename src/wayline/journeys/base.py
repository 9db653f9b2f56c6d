"""What every part of a journey spec shares: strict, frozen models and the name types.

Names in a journey file (node ids, field paths) are checked with messages a marketer can
act on, rather than pydantic's "String should match pattern '^…$'".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StrictFloat,
    StrictInt,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError


class SpecModel(BaseModel):
    """A part of a journey file.

    Unknown keys are errors, not ignored: a misspelt ``tiemout`` must not silently mean
    "wait forever". Frozen, because a loaded journey is one immutable version. Attribute
    docstrings become the JSON Schema's descriptions, which editors show as help.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
        serialize_by_alias=True,
    )


def problem(kind: str, message: str, *, at: tuple[str, ...] = ()) -> PydanticCustomError:
    """A validation error whose message is shown as it is (no "Value error, " prefix).

    ``at`` names the field a model-wide check is about, so that the error is reported at
    that field's line rather than at the start of the model.
    """
    return PydanticCustomError(kind, message, {"at": list(at)} if at else None)


class _Matching:
    """Checks a text against a pattern, and says what was expected when it does not match."""

    def __init__(self, pattern: str, what: str, hint: str) -> None:
        self.pattern, self.what, self.hint = re.compile(pattern), what, hint

    def __call__(self, value: str) -> str:
        if not self.pattern.fullmatch(value):
            raise problem("name", f"not {self.what}: {value!r} ({self.hint})")
        return value

    def schema(self) -> WithJsonSchema:
        return WithJsonSchema({"type": "string", "pattern": f"^(?:{self.pattern.pattern})$"})


_NODE_ID = _Matching(
    r"[A-Za-z_][A-Za-z0-9_-]{0,63}",
    "a node id",
    "letters, digits, _ and -, starting with a letter or _, at most 64 characters",
)
_JOURNEY_ID = _Matching(
    r"[a-z0-9][a-z0-9_-]{0,63}",
    "a journey id",
    "lower-case letters, digits, _ and -, at most 64 characters",
)
_SEGMENT_ID = _Matching(
    r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}",
    "a segment id",
    "letters, digits, _, . and -, at most 128 characters",
)
_FIELD_PATH = _Matching(
    r"[^.\s](?:[^.]*[^.\s])?(?:\.[^.\s](?:[^.]*[^.\s])?)*",
    "a field path",
    "names separated by dots, like properties.cart_id",
)
_VARIANT = _Matching(
    r"[A-Za-z_][A-Za-z0-9_-]{0,63}",
    "a variant name",
    "letters, digits, _ and -, starting with a letter or _, at most 64 characters",
)
_URL = _Matching(r"https?://\S.*", "an http(s) URL", "like https://crm.example.com/hooks/cart")
_NAME = _Matching(r"\S(?:.*\S)?", "a name", "it must not be empty or start or end with a space")

#: A node's id: what ``next``, ``default`` and the other links name.
NodeId = Annotated[str, AfterValidator(_NODE_ID), _NODE_ID.schema()]
#: A journey's id, used in URLs (``/api/v1/journeys/{id}``) and in ``goto: {journey: ID}``.
JourneyId = Annotated[str, AfterValidator(_JOURNEY_ID), _JOURNEY_ID.schema()]
#: A segment's id.
SegmentId = Annotated[str, AfterValidator(_SEGMENT_ID), _SEGMENT_ID.schema()]
#: A dotted path into a JSON object: ``properties.cart_id``, ``context.campaign.source``.
#: A part may hold any character but ``.``; a part that is a number indexes a list.
FieldPath = Annotated[str, AfterValidator(_FIELD_PATH), _FIELD_PATH.schema()]
#: A split's variant name.
Variant = Annotated[str, AfterValidator(_VARIANT), _VARIANT.schema()]
#: An ``http://`` or ``https://`` URL (it may hold templates).
Url = Annotated[str, AfterValidator(_URL), _URL.schema()]
#: A name that is not empty and has no space at either end: an event, a template, a trait.
Name = Annotated[str, AfterValidator(_NAME), _NAME.schema()]


def _number(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    raise problem("number", f"must be a number, not {value!r}")


#: An integer or a decimal number (not ``true``, not ``"5"``); an integer stays one.
Number = Annotated[
    StrictInt | StrictFloat, BeforeValidator(_number, json_schema_input_type=int | float)
]

#: Lower-case names of the week's days, Monday first.
WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def by_key(*choices: tuple[str, str]) -> Callable[[Any], str | None]:
    """A discriminator for a union told apart by which key is present, not by a ``type``.

    ``choices`` are (key, tag) pairs tried in order, so a key shared by several members
    (``where``) goes last. Called with raw data when validating and with a model when
    dumping.
    """

    def pick(value: Any) -> str | None:
        keys = type(value).model_fields if isinstance(value, BaseModel) else value
        if not isinstance(keys, Mapping):
            return None
        for key, tag in choices:
            if key in keys:
                return tag
        return None

    return pick
