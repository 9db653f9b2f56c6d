"""The segment language: a segment is an id, a name and one condition (``where``).

A *static* segment (``static: true``, no ``where``) is a fixed list instead: its members are
added and removed by hand or saved from a report, never evaluated.

Each kind of condition is told apart by its key, so a condition reads like what it asks::

    {trait: lifetime_revenue, gt: 200}                      # a trait of the customer
    {trait: created_at, older_than: 30d}                    # a date trait, relative to now
    {event: Order Completed, at_least: 2, within: 30d}      # event history in a window
    {event: Order Completed, last: {older_than: 60d}}       # the last (or first) occurrence
    {sequence: {steps: [{event: A}, {event: B}], within: 1h}}   # A, then B within 1h
    {segment: vip}                                          # membership in another segment
    {subscription: email, status: unsubscribed}             # subscription status
    {journey: welcome, node: wait_a_day}                    # in a journey (at a node) now
    {stage: consideration, stalled: true}                   # lifecycle stage (stages.py)
    {all: [...]}, {any: [...]}, {not: {...}}                # combinations

The models are frozen pydantic models shared with journey files (:class:`SpecModel`), so a
misspelt key is an error and every problem is reported at its line.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    Discriminator,
    Field,
    JsonValue,
    PrivateAttr,
    StrictBool,
    StrictInt,
    Tag,
    field_validator,
    model_validator,
)

from wayline.journeys.base import (
    FieldPath,
    JourneyId,
    Name,
    NodeId,
    SegmentId,
    SpecModel,
    by_key,
    problem,
)
from wayline.journeys.durations import Duration
from wayline.journeys.filters import Check, Orderable, Where
from wayline.segments.stages import StageCondition

#: The ordinary filter operators a trait condition takes (as in ``where`` filters).
VALUE_OPERATORS: Final = (
    "eq",
    "ne",
    "gt",
    "gte",
    "lt",
    "lte",
    "in",
    "not_in",
    "contains",
    "exists",
)
#: Operators on dates: absolute (``before``, ``after``) and relative to now.
DATE_OPERATORS: Final = ("before", "after", "older_than", "within")


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class _Dates(SpecModel):
    """Bounds on a moment: absolute (``before``/``after``) or relative to now."""

    before: datetime | None = None
    """Strictly before this moment (ISO 8601; without an offset, UTC)."""
    after: datetime | None = None
    """Strictly after this moment."""
    older_than: Duration | None = None
    """More than this long ago: ``older_than: 30d`` is "more than 30 days ago"."""
    within: Duration | None = None
    """In the last such period, and not in the future: ``within: 7d``."""

    @field_validator("before", "after")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _aware(value)


class TraitCondition(_Dates):
    """True when a trait of the customer passes every operator given."""

    trait: FieldPath
    """The trait's name, or a dotted path into it (``address.country``)."""
    eq: JsonValue = None
    """Equal to this value."""
    ne: JsonValue = None
    """Not equal to this value."""
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
    """``true``: the trait is present and not null; ``false``: it is missing or null."""

    _check: Check | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _some_operator(self) -> TraitCondition:
        written = self.model_fields_set - {"trait"}
        if not written:
            every = ", ".join(VALUE_OPERATORS + DATE_OPERATORS)
            raise problem("condition", f"a trait condition needs an operator: one of {every}")
        return self

    def model_post_init(self, context: Any, /) -> None:
        fields = type(self).model_fields
        ops = {
            fields[name].alias or name: getattr(self, name)
            for name in self.model_fields_set
            if (fields[name].alias or name) in VALUE_OPERATORS
        }
        self._check = Check.model_validate(ops) if ops else None

    @property
    def check(self) -> Check | None:
        """The value operators, as a filter check (``None`` when only dates are asked)."""
        return self._check

    @property
    def dated(self) -> bool:
        return any(getattr(self, name) is not None for name in DATE_OPERATORS)


class Occurrence(_Dates):
    """When the first (or last) occurrence of an event must have happened."""

    @model_validator(mode="after")
    def _some_bound(self) -> Occurrence:
        if not self.model_fields_set:
            raise problem("condition", "say when: one of before, after, older_than, within")
        return self


class EventCondition(SpecModel):
    """True when the customer did an event (a number of times, in a window, or at a time)."""

    event: Name
    """The event name, as in ``track``."""
    where: Where | None = None
    """Only events that pass this filter count (paths into the event: ``properties.total``)."""
    within: Duration | None = None
    """Only events in this window before now count; without it, all of history."""
    at_least: StrictInt | None = Field(None, ge=1)
    """At least this many such events (default 1, unless ``at_most`` is given)."""
    at_most: StrictInt | None = Field(None, ge=0)
    """At most this many (``at_most: 0``: did not do it)."""
    first: Occurrence | None = None
    """The customer's first such event happened at this time (``{before: 2026-01-01}``)."""
    last: Occurrence | None = None
    """The customer's last such event happened at this time (``{older_than: 30d}``)."""

    @model_validator(mode="after")
    def _one_question(self) -> EventCondition:
        occurrence = [name for name in ("first", "last") if getattr(self, name) is not None]
        if len(occurrence) == 2:
            raise problem("condition", "ask about first or last, not both", at=("last",))
        if occurrence:
            for name in ("within", "at_least", "at_most"):
                if getattr(self, name) is not None:
                    raise problem(
                        "condition",
                        f"{name} does not combine with {occurrence[0]}: "
                        f"{occurrence[0]} asks when one occurrence happened",
                        at=(name,),
                    )
        if self.at_least is not None and self.at_most is not None and self.at_least > self.at_most:
            raise problem(
                "condition",
                f"at_least {self.at_least} is more than at_most {self.at_most}: never true",
                at=("at_least",),
            )
        return self

    @property
    def minimum(self) -> int:
        if self.at_least is not None:
            return self.at_least
        return 0 if self.at_most is not None else 1


class SequenceStep(SpecModel):
    """One step of a sequence: an event, optionally filtered."""

    event: Name
    """The event name."""
    where: Where | None = None
    """Only events that pass this filter."""


class Sequence(SpecModel):
    """Events in this order, each strictly later than the one before."""

    steps: list[SequenceStep] = Field(min_length=2)
    """The events, in order (two or more)."""
    within: Duration | None = None
    """The last step at most this long after the first; without it, any time."""


class SequenceCondition(SpecModel):
    """True when the customer did the steps in order (A, then B within T)."""

    sequence: Sequence
    """The steps and the time they must fit in."""


class SegmentCondition(SpecModel):
    """True when the customer is a member of another segment."""

    segment: SegmentId
    """The other segment's id."""


class SubscriptionCondition(SpecModel):
    """True when the customer's subscription to a channel has this status.

    Read from the customer's traits, with the conventions of Braze and Customer.io:
    ``{channel}_subscribe`` (``opted_in``, ``subscribed`` or ``unsubscribed``), and for
    email also ``unsubscribed: true``. Without either, a customer is ``subscribed``.
    """

    subscription: Literal["email", "sms", "push"]
    """The channel: ``email``, ``sms`` or ``push``."""
    status: Literal["subscribed", "opted_in", "unsubscribed"] = "subscribed"
    """``subscribed`` (default; opted-in customers are subscribed too), ``opted_in`` (asked
    explicitly), or ``unsubscribed``."""


class JourneyCondition(SpecModel):
    """True when the customer is in a journey now (optionally: at a node of it)."""

    journey: JourneyId
    """The journey's id."""
    node: NodeId | None = None
    """Only while the customer is at this node (waiting there, or about to move on)."""


class AllCondition(SpecModel):
    """True when every condition in the list is."""

    all: list[Condition] = Field(min_length=1)
    """The conditions, all of which must hold."""


class AnyCondition(SpecModel):
    """True when at least one condition in the list is."""

    any: list[Condition] = Field(min_length=1)
    """The conditions, one of which must hold."""


class NotCondition(SpecModel):
    """True when the condition inside is not."""

    not_: Condition = Field(alias="not")
    """The condition that must not hold."""


def _by_written_key(value: Any) -> str | None:
    """The tag of a condition by the key it is written with (a model's aliases when dumping:
    ``not``, not ``not_``)."""
    if isinstance(value, BaseModel):
        fields = type(value).model_fields
        return _pick({info.alias or name: None for name, info in fields.items()})
    return _pick(value)


#: Discriminator tags; each contains a space so that it never collides with a key.
CONDITION_TAGS: Final = {
    "all": "all condition",
    "any": "any condition",
    "not": "not condition",
    "sequence": "sequence condition",
    "segment": "segment condition",
    "subscription": "subscription condition",
    "journey": "journey condition",
    "stage": "stage condition",
    "event": "event condition",
    "trait": "trait condition",
}
_KEYS: Final = ", ".join(CONDITION_TAGS)
_pick = by_key(*CONDITION_TAGS.items())

Condition = Annotated[
    Annotated[AllCondition, Tag("all condition")]
    | Annotated[AnyCondition, Tag("any condition")]
    | Annotated[NotCondition, Tag("not condition")]
    | Annotated[SequenceCondition, Tag("sequence condition")]
    | Annotated[SegmentCondition, Tag("segment condition")]
    | Annotated[SubscriptionCondition, Tag("subscription condition")]
    | Annotated[JourneyCondition, Tag("journey condition")]
    | Annotated[StageCondition, Tag("stage condition")]
    | Annotated[EventCondition, Tag("event condition")]
    | Annotated[TraitCondition, Tag("trait condition")],
    Discriminator(
        _by_written_key,
        custom_error_type="condition",
        custom_error_message=f"unknown condition: it needs one of the keys {_KEYS}",
    ),
]


class Segment(SpecModel):
    """A segment file: who is in the audience, kept current as events arrive."""

    id: SegmentId
    """The segment's id: in URLs, in ``{segment: ID}`` conditions and journey entries."""
    name: Name | None = None
    """A name for people; the id when not given."""
    description: str | None = None
    """What the audience is for."""
    static: StrictBool | None = None
    """``true``: the members are a fixed list, added and removed by hand (or saved from a
    funnel's drop-offs), never evaluated; such a segment has no ``where``."""
    where: Condition | None = None
    """The condition a customer must meet to be a member (every segment but a static one)."""

    @model_validator(mode="after")
    def _where_unless_static(self) -> Segment:
        if self.static and self.where is not None:
            raise problem(
                "condition",
                "a static segment has no where: its members are added and removed by hand",
                at=("where",),
            )
        if not self.static and self.where is None:
            raise problem("missing", "missing field 'where'", at=("where",))
        return self

    @property
    def title(self) -> str:
        return self.name or self.id

    @property
    def is_static(self) -> bool:
        return bool(self.static)


def children(condition: Any) -> list[tuple[tuple[str | int, ...], Any]]:
    """The conditions directly inside ``condition``, with their path from it."""
    if isinstance(condition, AllCondition):
        return [(("all", i), c) for i, c in enumerate(condition.all)]
    if isinstance(condition, AnyCondition):
        return [(("any", i), c) for i, c in enumerate(condition.any)]
    if isinstance(condition, NotCondition):
        return [(("not",), condition.not_)]
    return []


def walk(
    condition: Any, at: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Every condition in the tree, with its path from the top, parents first."""
    yield at, condition
    for path, child in children(condition):
        yield from walk(child, (*at, *path))


def references(segment: Segment) -> list[tuple[tuple[str | int, ...], str]]:
    """The segments a segment refers to, with the path of each ``segment`` key."""
    return [
        (("where", *path, "segment"), c.segment)
        for path, c in walk(segment.where)
        if isinstance(c, SegmentCondition)
    ]


def event_names(condition: Any) -> set[str]:
    """Every event name the condition looks at."""
    names: set[str] = set()
    for _, c in walk(condition):
        if isinstance(c, EventCondition):
            names.add(c.event)
        elif isinstance(c, SequenceCondition):
            names.update(step.event for step in c.sequence.steps)
    return names


def filtered_names(condition: Any) -> set[str]:
    """The event names the condition filters with ``where`` (whose messages it reads)."""
    names: set[str] = set()
    for _, c in walk(condition):
        if isinstance(c, EventCondition) and c.where:
            names.add(c.event)
        elif isinstance(c, SequenceCondition):
            names.update(step.event for step in c.sequence.steps if step.where)
    return names


def uses_journeys(condition: Any) -> bool:
    """Whether the condition asks about journeys."""
    return any(isinstance(c, JourneyCondition) for _, c in walk(condition))


def uses_stages(condition: Any) -> bool:
    """Whether the condition asks about lifecycle stages."""
    return any(isinstance(c, StageCondition) for _, c in walk(condition))
