"""The steps of a journey: one model per node ``type``, in a discriminated union.

Every node has an ``id``; the links between nodes (``next``, ``on_event``, ``default``…)
name ids. :meth:`targets` lists a node's links with their place in the node, so that the
graph checks (and the runtime) never need to know each node type's fields.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final, Literal

from pydantic import Field, JsonValue, StrictBool, StrictInt, model_validator

from wayline.journeys.base import (
    FieldPath,
    JourneyId,
    Name,
    NodeId,
    Number,
    SpecModel,
    Url,
    Variant,
    problem,
)
from wayline.journeys.conditions import Condition
from wayline.journeys.durations import Duration, Offset
from wayline.journeys.filters import Where
from wayline.journeys.timing import ClockTime, TimeZone, Weekday

#: A link's place inside its node, like ``("branches", 0, "next")``.
Loc = tuple[str | int, ...]


class BaseNode(SpecModel):
    """What every node has."""

    id: NodeId
    """This node's id, unique in the journey; other nodes name it to lead here."""

    def targets(self) -> list[tuple[Loc, str]]:
        """The node ids this node can lead to, each with the field that names it."""
        return []


class DelayNode(BaseNode):
    """Wait for a time (``duration``), or until a moment (``until``, ± ``offset``)."""

    type: Literal["delay"]
    """The node type, ``delay``."""
    duration: Duration | None = None
    """How long to wait: ``30s``, ``15m``, ``1h``, ``7d``, ``PT1H``."""
    until: datetime | FieldPath | None = Field(None, union_mode="left_to_right")
    """Wait until this moment: an ISO 8601 date and time, or a reference to one:
    ``traits.NAME`` (a profile trait) or ``journey.NAME`` (the instance context). A moment
    already past does not wait."""
    offset: Offset | None = None
    """Added to ``until``: ``-1d`` is the day before, ``+2h`` two hours after."""
    next: NodeId
    """The node that comes after this one."""

    def targets(self) -> list[tuple[Loc, str]]:
        return [(("next",), self.next)]

    @model_validator(mode="after")
    def _one_way_to_wait(self) -> DelayNode:
        if (self.duration is None) == (self.until is None):
            raise problem("delay", "a delay needs either duration or until, not both")
        if self.offset is not None and self.until is None:
            raise problem("delay", "offset only applies to until", at=("offset",))
        if isinstance(self.until, str) and not self.until.startswith(("traits.", "journey.")):
            raise problem(
                "delay",
                f"not a date or a reference: {self.until!r} (use an ISO 8601 date and time, "
                "traits.NAME or journey.NAME)",
                at=("until",),
            )
        return self


class WaitUntilNode(BaseNode):
    """Wait for the next allowed local time window (go on at once when inside one).

    A window with ``from`` later than ``to`` runs past midnight; its days are the days it
    starts on.
    """

    type: Literal["wait_until"]
    """The node type, ``wait_until``."""
    days: list[Weekday] = Field(
        default=["mon", "tue", "wed", "thu", "fri", "sat", "sun"], min_length=1
    )
    """The week days allowed: ``mon`` … ``sun``; every day by default."""
    from_: ClockTime | None = Field(None, alias="from")
    """The window's start, ``"09:00"``; the start of the day by default."""
    to: ClockTime | None = None
    """The window's end (not included), ``"18:00"``; the end of the day by default."""
    timezone: TimeZone = "customer"
    """``customer`` (default: the customer's time zone, else the workspace's),
    ``workspace`` or an IANA name."""
    next: NodeId
    """The node that comes after this one."""

    def targets(self) -> list[tuple[Loc, str]]:
        return [(("next",), self.next)]

    @model_validator(mode="after")
    def _a_real_window(self) -> WaitUntilNode:
        if len(set(self.days)) != len(self.days):
            raise problem("window", "a day is listed twice", at=("days",))
        if "days" not in self.model_fields_set and self.from_ is None and self.to is None:
            raise problem("window", "a wait_until needs days, from or to")
        if self.from_ is not None and self.from_ == self.to:
            raise problem(
                "window", "from and to are the same time: the window is empty", at=("to",)
            )
        return self


class WaitForEventNode(BaseNode):
    """Wait for an event from the customer, up to a timeout."""

    type: Literal["wait_for_event"]
    """The node type, ``wait_for_event``."""
    event: Name
    """The event name."""
    where: Where | None = None
    """Only events that pass this filter (paths into the event)."""
    match_key: FieldPath | None = None
    """Only events whose value at this path equals the instance's key (``entry.key``):
    the order of *this* cart, not any order."""
    timeout: Duration
    """How long to wait for it."""
    on_event: NodeId
    """Where to go when the event comes."""
    on_timeout: NodeId
    """Where to go when it has not come in time."""

    def targets(self) -> list[tuple[Loc, str]]:
        return [(("on_event",), self.on_event), (("on_timeout",), self.on_timeout)]


class Branch(SpecModel):
    """One way out of a branch node."""

    when: Condition
    """The condition."""
    next: NodeId
    """Where to go when it holds."""


class BranchNode(BaseNode):
    """Take the first way whose condition holds, else the default."""

    type: Literal["branch"]
    """The node type, ``branch``."""
    branches: list[Branch] = Field(min_length=1)
    """The ways, tried in order."""
    default: NodeId
    """Where to go when no condition holds."""

    def targets(self) -> list[tuple[Loc, str]]:
        links: list[tuple[Loc, str]] = [
            (("branches", i, "next"), b.next) for i, b in enumerate(self.branches)
        ]
        return [*links, (("default",), self.default)]


#: The variant of a split that is a holdout: the runtime sends it nothing.
CONTROL: Final = "control"


class SplitNode(BaseNode):
    """Send customers down variants at random, by weight; a customer keeps their variant.

    A variant named ``control`` is a holdout that receives nothing.
    """

    type: Literal["split"]
    """The node type, ``split``."""
    variants: dict[Variant, StrictInt]
    """Variant name → weight in percent; the weights add up to 100."""
    next: dict[Variant, NodeId]
    """Variant name → the node it leads to, for every variant."""

    @model_validator(mode="after")
    def _weights_in_range(self) -> SplitNode:
        for name, weight in self.variants.items():
            if not 0 <= weight <= 100:
                raise problem("split", f"a weight is 0 to 100, not {weight}", at=("variants", name))
        return self

    def targets(self) -> list[tuple[Loc, str]]:
        return [(("next", variant), node) for variant, node in self.next.items()]


class SendNode(BaseNode):
    """Send a message from a template through a channel."""

    type: Literal["send"]
    """The node type, ``send``."""
    channel: Name
    """``log``, ``email``, ``sms``, ``webhook`` or ``inapp`` (or a channel the workspace adds)."""
    template: Name
    """The template's name."""
    transactional: StrictBool = False
    """``true``: a message the customer asked for (a receipt, a password reset), exempt
    from frequency caps and marketing opt-outs."""
    topic: Name | None = None
    """The subscription topic, for customers who opted out of some topics only."""
    next: NodeId
    """The node that comes after this one."""

    def targets(self) -> list[tuple[Loc, str]]:
        return [(("next",), self.next)]


class UpdateProfileNode(BaseNode):
    """Set or remove traits on the customer's profile."""

    type: Literal["update_profile"]
    """The node type, ``update_profile``."""
    set: dict[Name, JsonValue] = Field(default_factory=dict)
    """Trait → value; text may be a template, like ``"{{ journey.key }}"``."""
    unset: list[Name] = Field(default_factory=list)
    """Traits to remove."""
    next: NodeId
    """The node that comes after this one."""

    def targets(self) -> list[tuple[Loc, str]]:
        return [(("next",), self.next)]

    @model_validator(mode="after")
    def _changes_something(self) -> UpdateProfileNode:
        if not self.set and not self.unset:
            raise problem("update_profile", "an update_profile needs set or unset")
        both = sorted(set(self.set) & set(self.unset))
        if both:
            raise problem("update_profile", f"{both[0]!r} is both set and unset", at=("unset",))
        return self


class ScoreNode(BaseNode):
    """Add to a numeric trait (a lead score); a missing trait counts as 0."""

    type: Literal["score"]
    """The node type, ``score``."""
    trait: Name
    """The trait."""
    add: Number
    """How much to add; negative to subtract."""
    next: NodeId
    """The node that comes after this one."""

    def targets(self) -> list[tuple[Loc, str]]:
        return [(("next",), self.next)]


#: Names that ``capture_as`` cannot take: the instance context already uses them.
RESERVED_CONTEXT: Final = frozenset({"key"})


class WebhookNode(BaseNode):
    """Call a URL, signed; optionally keep the response in the instance context."""

    type: Literal["webhook"]
    """The node type, ``webhook``."""
    url: Url
    """``http://`` or ``https://`` URL; may hold templates."""
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    """The HTTP method (default POST)."""
    headers: dict[Name, str] = Field(default_factory=dict)
    """Extra request headers; values may be templates."""
    body: JsonValue = None
    """The JSON body; text in it may be a template, like ``"{{ profile.user_id }}"``."""
    capture_as: NodeId | None = None
    """Keep the JSON response as ``journey.<capture_as>`` for later nodes."""
    next: NodeId
    """The node that comes after this one."""

    def targets(self) -> list[tuple[Loc, str]]:
        return [(("next",), self.next)]

    @model_validator(mode="after")
    def _consistent(self) -> WebhookNode:
        if self.method == "GET" and "body" in self.model_fields_set:
            raise problem("webhook", "a GET request has no body", at=("body",))
        if self.capture_as in RESERVED_CONTEXT:
            raise problem(
                "webhook", f"{self.capture_as!r} is taken by the journey", at=("capture_as",)
            )
        return self


class GotoNode(BaseNode):
    """Jump to another node of this journey, or enrol into another journey and leave this one."""

    type: Literal["goto"]
    """The node type, ``goto``."""
    node: NodeId | None = None
    """A node of this journey."""
    journey: JourneyId | None = None
    """Another journey's id: the customer is enrolled there and exits here."""

    @model_validator(mode="after")
    def _one_target(self) -> GotoNode:
        if (self.node is None) == (self.journey is None):
            raise problem("goto", "a goto needs either node or journey, not both")
        return self

    def targets(self) -> list[tuple[Loc, str]]:
        return [(("node",), self.node)] if self.node is not None else []


class ExitNode(BaseNode):
    """Leave the journey."""

    type: Literal["exit"]
    """The node type, ``exit``."""


Node = Annotated[
    DelayNode
    | WaitUntilNode
    | WaitForEventNode
    | BranchNode
    | SplitNode
    | SendNode
    | UpdateProfileNode
    | ScoreNode
    | WebhookNode
    | GotoNode
    | ExitNode,
    Field(discriminator="type"),
]

#: Every node model, by its ``type``.
NODE_MODELS: Final[dict[str, type[BaseNode]]] = {
    "delay": DelayNode,
    "wait_until": WaitUntilNode,
    "wait_for_event": WaitForEventNode,
    "branch": BranchNode,
    "split": SplitNode,
    "send": SendNode,
    "update_profile": UpdateProfileNode,
    "score": ScoreNode,
    "webhook": WebhookNode,
    "goto": GotoNode,
    "exit": ExitNode,
}

#: Node types that hold a customer until time passes or an event comes.
WAITING_TYPES: Final = frozenset({"delay", "wait_until", "wait_for_event"})
