"""Conditions: what a ``branch`` tests, and what ends a journey early (``exit_when``).

Each kind is told apart by its key, so a condition reads like what it asks::

    {where: {traits.plan: pro}}                     # the customer's traits and context
    {event: Order Completed, within: 30d}           # event history in a window
    {segment: vip}                                  # segment membership
    {message: reminder, opened: true}               # engagement with a message sent here
    {all: [...]}, {any: [...]}                      # combinations
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from pydantic import (
    BeforeValidator,
    Discriminator,
    Field,
    StrictBool,
    StrictInt,
    Tag,
    model_validator,
)

from wayline.journeys.base import FieldPath, Name, NodeId, SegmentId, SpecModel, by_key, problem
from wayline.journeys.durations import Duration
from wayline.journeys.filters import Where


class WhereCondition(SpecModel):
    """True when the customer's data passes a filter."""

    where: Where
    """Paths into the customer: ``traits.*`` (profile traits) and ``journey.*`` (the
    instance context: ``journey.key``, webhook responses under their ``capture_as``)."""


class EventCondition(SpecModel):
    """True when the customer did an event (at least ``at_least`` times) in a window."""

    event: Name
    """The event name, as in ``track``."""
    where: Where | None = None
    """Only events that pass this filter count (paths into the event)."""
    within: Duration | None = None
    """Only events in this window before now count; without it, all of history."""
    at_least: StrictInt = Field(1, ge=1)
    """How many such events are needed."""
    not_: StrictBool = Field(False, alias="not")
    """``true``: the condition holds when the customer did NOT do it (that often)."""


class SegmentCondition(SpecModel):
    """True when the customer is in a segment (or, with ``not: true``, is not)."""

    segment: SegmentId
    """The segment's id."""
    not_: StrictBool = Field(False, alias="not")
    """``true``: holds when the customer is not in the segment."""


class MessageCondition(SpecModel):
    """True when the message sent by a ``send`` node of this journey was opened or clicked.

    Refers to this instance's own message: a customer who entered twice is asked about
    the message of the current entry.
    """

    message: NodeId
    """The id of the ``send`` node."""
    opened: StrictBool | None = None
    """``true``: the message was opened; ``false``: it was not (yet)."""
    clicked: StrictBool | None = None
    """``true``: a link in the message was clicked; ``false``: none was (yet)."""

    @model_validator(mode="after")
    def _asks_something(self) -> MessageCondition:
        if self.opened is None and self.clicked is None:
            raise problem(
                "condition",
                "say what to ask of the message: opened: true/false, clicked: true/false, or both",
            )
        return self


class AllCondition(SpecModel):
    """True when every condition in the list is."""

    all: list[Condition] = Field(min_length=1)
    """The conditions, all of which must hold."""


class AnyCondition(SpecModel):
    """True when at least one condition in the list is."""

    any: list[Condition] = Field(min_length=1)
    """The conditions, one of which must hold."""


#: Discriminator tags. They contain a space so that they never collide with a key of the
#: file, which keeps error locations unambiguous.
CONDITION_TAGS: Final = {
    "event": "event condition",
    "segment": "segment condition",
    "message": "message condition",
    "all": "all condition",
    "any": "any condition",
    "where": "where condition",
}
_CONDITION_KEYS = ", ".join(CONDITION_TAGS)

Condition = Annotated[
    Annotated[EventCondition, Tag("event condition")]
    | Annotated[SegmentCondition, Tag("segment condition")]
    | Annotated[MessageCondition, Tag("message condition")]
    | Annotated[AllCondition, Tag("all condition")]
    | Annotated[AnyCondition, Tag("any condition")]
    | Annotated[WhereCondition, Tag("where condition")],
    Discriminator(
        by_key(*CONDITION_TAGS.items()),
        custom_error_type="condition",
        custom_error_message=f"not a condition: it needs one of the keys {_CONDITION_KEYS}",
    ),
]


class EventExit(SpecModel):
    """Leave the journey when the customer does this event."""

    event: Name
    """The event name."""
    where: Where | None = None
    """Only events that pass this filter (paths into the event)."""
    match_key: FieldPath | None = None
    """Only events whose value at this path equals the instance's key (``entry.key``)."""


EXIT_TAGS: Final = {"event": "event exit", "segment": "segment exit"}

ExitCondition = Annotated[
    Annotated[EventExit, Tag("event exit")] | Annotated[SegmentCondition, Tag("segment exit")],
    Discriminator(
        by_key(*EXIT_TAGS.items()),
        custom_error_type="condition",
        custom_error_message="not an exit condition: it needs the key event or segment",
    ),
]


def _one_or_many(value: Any) -> Any:
    """``exit_when: {event: Unsubscribed}`` is read as a list of one."""
    return [value] if isinstance(value, dict) else value


#: Exit conditions: one, or a list of which any one ends the journey.
ExitWhen = Annotated[
    list[ExitCondition],
    BeforeValidator(_one_or_many, json_schema_input_type=ExitCondition | list[ExitCondition]),
]


def leaves(condition: Any) -> list[tuple[tuple[str | int, ...], Any]]:
    """Every condition inside ``all`` and ``any`` (or ``condition`` itself), with its path."""
    if isinstance(condition, AllCondition):
        key, inner = "all", condition.all
    elif isinstance(condition, AnyCondition):
        key, inner = "any", condition.any
    else:
        return [((), condition)]
    return [
        ((key, index, *path), leaf)
        for index, item in enumerate(inner)
        for path, leaf in leaves(item)
    ]
