"""The ``stage`` condition: a customer's current lifecycle stage, and whether they stall.

::

    {stage: consideration}                   # in this stage now
    {stage: [decision, purchase]}            # in one of these stages now
    {stage: consideration, stalled: true}    # in it longer than its stall threshold
    {stage: consideration, stalled: false}   # in it, and not (yet) stalled

The current stage is the one kept as events arrive (the workspace's stage model,
``wayline stages apply``). A customer is stalled from the moment ``entered_at + threshold``
on, where the threshold is the stage's ``stall_after``, or else ``stall_factor`` times the
stage's typical time as worked out when the model was applied; a stage with neither has
nobody stalled in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StrictBool, WithJsonSchema

from wayline.journeys.base import Name, SpecModel, problem


@dataclass(frozen=True, slots=True)
class StagePlace:
    """Where a customer is: their current stage, since when, and when they stall there."""

    stage: str
    entered_at: datetime
    #: How long in the stage makes a customer stalled (``None``: never).
    stall_after: timedelta | None = None

    @property
    def stalls_at(self) -> datetime | None:
        return None if self.stall_after is None else self.entered_at + self.stall_after


def _names(value: Any) -> Any:
    """One name or a list of names; anything else is reported once, as what it should be."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return value
    raise problem("condition", f"a stage's name or a list of names, not {value!r}")


#: ``consideration`` or ``[decision, purchase]``, kept as a list.
StageNames = Annotated[
    list[Name],
    BeforeValidator(_names),
    Field(min_length=1),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "minLength": 1},
                {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
            ]
        }
    ),
]


class StageCondition(SpecModel):
    """True when the customer's current stage is this one (or one of these)."""

    stage: StageNames
    """The stage's name (as in the workspace's stage model), or a list of names."""
    stalled: StrictBool | None = None
    """``true``: only customers in the stage longer than its stall threshold; ``false``:
    only those not stalled (yet)."""

    @property
    def stages(self) -> frozenset[str]:
        return frozenset(self.stage)


def stage_holds(
    condition: StageCondition, place: StagePlace | None, now: datetime
) -> tuple[bool, datetime | None]:
    """``(met, next)``: whether the customer meets the condition at ``now``, and the moment
    the answer changes with no new event (when they become stalled)."""
    if place is None or place.stage not in condition.stages:
        return False, None
    if condition.stalled is None:
        return True, None
    turns = place.stalls_at
    stalled = turns is not None and turns <= now
    return stalled == condition.stalled, (turns if turns is not None and not stalled else None)
