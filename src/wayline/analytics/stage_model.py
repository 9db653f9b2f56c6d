"""The stage model: which events and traits place a customer in which lifecycle stage.

Written in YAML, checked with a message that points at the file, line and column::

    stages:
      - name: awareness
        events: [Page Viewed]
      - name: consideration
        events:
          - Product Viewed
          - event: Product Added
            where: {category: shoes}
      - name: purchase
        events: [Order Completed]
      - name: retention
        events:
          - event: Order Completed
            occurrence: 2          # the second order
            distinct: order_id     # (count orders, not events)
        stall_after: 60d
      - name: advocacy
        events: [Product Reviewed]
        traits: {nps_group: promoter}
    stall_factor: 3

Stages are listed in order. A customer enters a stage at the first event (or ``identify``
carrying the traits) that matches any of its rules, and is *in* the furthest stage they
have entered. ``where`` compares properties: a value means equal (numbers compare as
numbers), ``{gt|gte|lt|lte: N}`` compares numbers, ``{ne: V}`` means different.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, Final

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from wayline.errors import WaylineError

Scalar = str | int | float | bool


class StageModelError(WaylineError):
    """The stage model is not valid."""


class Comparison(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None
    ne: Scalar | None = None


Condition = Scalar | Comparison


class EventRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event: Annotated[str, Field(min_length=1)]
    where: dict[str, Condition] = {}
    #: The N-th matching event enters the stage (2: the second order).
    occurrence: Annotated[int, Field(ge=1)] = 1
    #: Count only events with a new value of this property (``order_id``: the N-th order,
    #: when each line item is an event).
    distinct: Annotated[str, Field(min_length=1)] | None = None


class Stage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=64)]
    events: list[Annotated[str, Field(min_length=1)] | EventRule] = []
    traits: dict[str, Condition] = {}
    #: A customer in this stage longer than this is stalled; default: ``stall_factor``
    #: times the stage's median time (of customers who moved on).
    stall_after: str | None = None

    @field_validator("stall_after")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    def rules(self) -> list[EventRule]:
        return [EventRule(event=r) if isinstance(r, str) else r for r in self.events]

    def stall_seconds(self) -> float | None:
        return None if self.stall_after is None else parse_duration(self.stall_after)


class StageModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stages: Annotated[list[Stage], Field(min_length=1)]
    stall_factor: Annotated[float, Field(gt=1)] = 3.0

    @field_validator("stages")
    @classmethod
    def _distinct(cls, stages: list[Stage]) -> list[Stage]:
        seen: set[str] = set()
        for stage in stages:
            if stage.name in seen:
                raise ValueError(f"stage {stage.name!r} is listed twice")
            if not stage.events and not stage.traits:
                raise ValueError(f"stage {stage.name!r} needs events or traits")
            seen.add(stage.name)
        return stages

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.stages]


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
#: The longest duration accepted (100 years): longer ones overflow dates and intervals.
MAX_DURATION_DAYS: Final = 36525


def parse_duration(text: str) -> float:
    """``30m``, ``12h``, ``14d``, ``2w`` -> seconds."""
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a duration such as 30m, 12h, 14d or 2w")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds > MAX_DURATION_DAYS * 86400:
        raise ValueError(f"{text.strip()!r} is longer than the limit of {MAX_DURATION_DAYS}d")
    return seconds


def as_timedelta(text: str) -> timedelta:
    return timedelta(seconds=parse_duration(text))


def load_stage_model(text: str, source: str = "<stages>") -> StageModel:
    """Parse and check a stage model; errors read ``source:line:col: where: what``."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise StageModelError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise StageModelError(f"{source}:1:1: expected a mapping with 'stages'")
    try:
        return StageModel.model_validate(data)
    except ValidationError as exc:
        # A union reports one error per member it tried: the deepest is the one meant.
        errors = exc.errors()
        first = max(errors, key=lambda e: len(e["loc"]))
        loc = [p for p in first["loc"] if not (isinstance(p, str) and _is_union_tag(p))]
        line, col = _position(root, loc)
        path = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")
        raise StageModelError(f"{source}:{line}:{col}: {path}: {first['msg']}") from None


_UNION_TAGS: Final = frozenset(
    {"str", "int", "float", "bool", "constrained-str", "EventRule", "Comparison"}
)


def _is_union_tag(part: str) -> bool:
    """Pydantic names the member of a union it tried in the error location; YAML has no such
    level."""
    return part in _UNION_TAGS or "[" in part


def _position(node: Any, loc: list[Any]) -> tuple[int, int]:
    """The line and column of the deepest YAML node the error location reaches."""
    found = node
    for part in loc:
        child = None
        if isinstance(found, yaml.MappingNode):
            child = next((v for k, v in found.value if k.value == part), None)
        elif isinstance(found, yaml.SequenceNode) and isinstance(part, int):
            child = found.value[part] if part < len(found.value) else None
        if child is None:
            break
        found = child
    if found is None:
        return 1, 1
    return found.start_mark.line + 1, found.start_mark.column + 1


@dataclass(frozen=True)
class Preset:
    name: str
    text: str


ECOMMERCE: Final = Preset(
    "ecommerce",
    """\
# Stages for a shop, on the Segment e-commerce events.
stages:
  - name: awareness
    events: [Page Viewed, Products Searched, Product List Viewed]
  - name: consideration
    events: [Product Viewed, Product Clicked, Product Added, Cart Viewed]
  - name: decision
    events: [Checkout Started, Checkout Step Completed, Payment Info Entered]
  - name: purchase
    events: [Order Completed]
  - name: retention
    events:
      - event: Order Completed
        occurrence: 2
  - name: advocacy
    events: [Product Reviewed, Product Shared, Cart Shared]
stall_factor: 3
""",
)

SAAS: Final = Preset(
    "saas",
    """\
# Stages for a subscription product, on the Segment B2B SaaS events.
stages:
  - name: awareness
    events: [Page Viewed]
  - name: consideration
    events: [Signed Up, Account Created]
  - name: decision
    events: [Trial Started]
  - name: purchase
    events: [Subscription Started, Order Completed]
    traits: {plan: paid}
  - name: retention
    events: [Subscription Renewed]
  - name: advocacy
    events: [Invite Sent, Product Reviewed]
stall_factor: 3
""",
)

PRESETS: Final = {p.name: p for p in (ECOMMERCE, SAAS)}


def preset(name: str) -> StageModel:
    """A built-in stage model: ``ecommerce`` or ``saas``."""
    if name not in PRESETS:
        raise StageModelError(f"no preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return load_stage_model(PRESETS[name].text, f"<preset {name}>")
