"""Placing a customer from their history: when they entered each stage of a stage model.

Pure: it reads the customer's events (by name, oldest first) and identify calls, and
follows the same rules as the warehouse analyses (:mod:`wayline.analytics.stages`): a
stage is entered at the first event (or ``identify`` carrying the traits) that matches one
of its rules, and a customer is *in* the furthest stage they have entered.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from statistics import median
from typing import Any

from wayline.analytics.stage_model import Comparison, Condition, EventRule, StageModel
from wayline.journeys.filters import lookup
from wayline.segments.evaluate import Happening


@dataclass(frozen=True, slots=True)
class Entry:
    """A customer entered stage ``index`` at ``at``."""

    index: int
    at: datetime


@dataclass(frozen=True, slots=True)
class Move:
    """A change of current stage: into ``index`` at ``at``, from ``previous`` (entered at
    ``since``)."""

    index: int
    at: datetime
    previous: int | None
    since: datetime | None


@dataclass(frozen=True, slots=True)
class Said:
    """An ``identify`` call: its moment and the traits it carried."""

    at: datetime
    seq: int
    traits: Mapping[str, Any]


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _holds(condition: Condition, value: Any) -> bool:
    """One ``where`` or ``traits`` condition of a stage model on one value."""
    if isinstance(condition, Comparison):
        number = _number(value)
        for bound, test in (
            (condition.gt, operator.gt),
            (condition.gte, operator.ge),
            (condition.lt, operator.lt),
            (condition.lte, operator.le),
        ):
            if bound is not None and (number is None or not test(number, bound)):
                return False
        if condition.ne is not None:
            text = _text(value)
            return text is None or text != _text(condition.ne)
        return True
    if isinstance(condition, bool):
        return _text(value) == _text(condition)
    if isinstance(condition, int | float):
        return _number(value) == float(condition)
    return _text(value) == condition


def matches(conditions: Mapping[str, Condition], data: Mapping[str, Any]) -> bool:
    return all(_holds(c, lookup(data, key)) for key, c in conditions.items())


def _rule_hit(rule: EventRule, events: Sequence[Happening]) -> datetime | None:
    if not rule.where and rule.distinct is None:
        # the N-th event, whatever it carries (its message is not even parsed)
        return events[rule.occurrence - 1].at if len(events) >= rule.occurrence else None
    seen: set[str] = set()
    count = 0
    for e in events:
        properties = e.data.get("properties") or {}
        if rule.where and not matches(rule.where, properties):
            continue
        if rule.distinct is not None:
            value = _text(lookup(properties, rule.distinct))
            if value is None or value in seen:
                continue
            seen.add(value)
        count += 1
        if count == rule.occurrence:
            return e.at
    return None


@dataclass(frozen=True, slots=True)
class Plan:
    """A stage model's rules, built once for many customers: per stage, in order, its event
    rules and its traits."""

    stages: tuple[tuple[tuple[EventRule, ...], Mapping[str, Condition]], ...]

    @classmethod
    def of(cls, model: StageModel) -> Plan:
        return cls(tuple((tuple(s.rules()), s.traits) for s in model.stages))


def entries(
    plan: Plan, events: Mapping[str, Sequence[Happening]], said: Sequence[Said]
) -> list[Entry]:
    """Every stage the customer has entered, with when: in time order (then stage order)."""
    found: list[Entry] = []
    for index, (rules, traits) in enumerate(plan.stages):
        hits = [_rule_hit(rule, events.get(rule.event, [])) for rule in rules]
        if traits:
            hits.append(next((s.at for s in said if matches(traits, s.traits)), None))
        times = [t for t in hits if t is not None]
        if times:
            found.append(Entry(index, min(times)))
    return sorted(found, key=lambda e: (e.at, e.index))


def moves(found: Sequence[Entry], index: int | None, since: datetime | None) -> list[Move]:
    """The changes of current stage ``found`` makes, starting from stage ``index`` (entered
    at ``since``): each entry of a stage further than the current one at that moment."""
    out: list[Move] = []
    for entry in found:
        if index is None or entry.index > index:
            out.append(Move(entry.index, entry.at, index, since))
            index, since = entry.index, entry.at
    return out


def typical_seconds(histories: Sequence[Sequence[Entry]], stages: int) -> dict[int, float]:
    """Per stage, the median time from entering it to entering any later stage, over the
    customers who did (as :func:`wayline.analytics.stages.stage_summary` reports)."""
    gaps: dict[int, list[float]] = {}
    for found in histories:
        for entry in found:
            later = [e.at for e in found if e.index > entry.index and e.at >= entry.at]
            if later:
                gaps.setdefault(entry.index, []).append((min(later) - entry.at).total_seconds())
    return {i: float(median(v)) for i, v in gaps.items() if i < stages}
