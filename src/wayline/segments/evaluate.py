"""Whether a customer meets a segment's condition now, and when that could next change.

Evaluation is pure: it reads :class:`Facts` (traits, the events a segment looks at,
memberships of the segments evaluated before) and a moment ``now``. Besides the answer it
gives the earliest moment at which the answer may change with no new event (an event
leaving a window, a date trait growing older than ``older_than``), so that the customer is
re-checked then, and only then.

Semantics, shared by real-time and batch evaluation:

* an event counts only once its timestamp is reached (``at <= now``);
* ``within: W`` counts events with ``now - W < at``: an event leaves the window exactly
  ``W`` after it happened;
* ``older_than: D`` holds from ``D`` after the moment on; ``within: D`` from the moment
  until ``D`` after it;
* a sequence needs each step strictly later than the one before, and the last at most
  ``within`` after the first.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import orjson

from wayline.journeys.filters import lookup, matches
from wayline.segments.spec import (
    AllCondition,
    AnyCondition,
    EventCondition,
    JourneyCondition,
    NotCondition,
    SegmentCondition,
    SequenceCondition,
    SubscriptionCondition,
    TraitCondition,
    _Dates,
)
from wayline.segments.stages import StageCondition, StagePlace, stage_holds


class Happening:
    """One event of a customer's history. The message is parsed only when a filter
    reads it: most conditions need only the name and the time."""

    __slots__ = ("_data", "_raw", "at", "name", "seq")

    def __init__(
        self,
        *,
        name: str,
        at: datetime,
        seq: int,
        data: Mapping[str, Any] | None = None,
        raw: bytes = b"{}",
    ) -> None:
        self.name = name
        self.at = at
        #: The order it arrived in, to keep events of the same moment in a stable order.
        self.seq = seq
        self._data = data
        self._raw = raw

    @property
    def data(self) -> Mapping[str, Any]:
        """The message (``properties``, ``context``…), what ``where`` filters read."""
        if self._data is None:
            self._data = orjson.loads(self._raw)
        return self._data


@dataclass(slots=True)
class Facts:
    """What is known of one customer when a segment is evaluated."""

    traits: Mapping[str, Any]
    #: Events by name, oldest first; only the names some segment looks at.
    events: dict[str, list[Happening]] = field(default_factory=dict)
    #: The segments the customer is in (those evaluated earlier in this pass included).
    members: set[str] = field(default_factory=set)
    #: The journeys the customer is in now: journey id -> the nodes they are at.
    journeys: dict[str, set[str]] = field(default_factory=dict)
    #: The customer's current lifecycle stage (``None``: none, or not asked about).
    stage: StagePlace | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    met: bool
    #: The earliest moment after now at which ``met`` may change without a new event.
    next: datetime | None = None


def _soonest(*times: datetime | None) -> datetime | None:
    found = [t for t in times if t is not None]
    return min(found) if found else None


def as_moment(value: Any) -> datetime | None:
    """A trait's value as a moment: ISO 8601 text (a date alone is midnight UTC)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            try:
                day = date.fromisoformat(text)
            except ValueError:
                return None
            moment = datetime(day.year, day.month, day.day)
    else:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def dates_hold(bounds: _Dates, moment: datetime, now: datetime) -> Outcome:
    """Whether ``moment`` passes the date bounds now, and when that may change."""
    met = True
    changes: list[datetime | None] = []
    if bounds.before is not None and not moment < bounds.before:
        met = False
    if bounds.after is not None and not moment > bounds.after:
        met = False
    if bounds.older_than is not None:
        turns = moment + bounds.older_than
        if not turns <= now:
            met = False
            changes.append(turns)
    if bounds.within is not None:
        ends = moment + bounds.within
        if moment > now:
            met = False
            changes.append(moment)
        elif ends <= now:
            met = False
        else:
            changes.append(ends)
    return Outcome(met, _soonest(*changes))


def _trait(c: TraitCondition, facts: Facts, now: datetime) -> Outcome:
    value = lookup(facts.traits, c.trait)
    check = c.check
    if check is not None and not check.holds(value):
        return Outcome(False)
    if not c.dated:
        return Outcome(True)
    moment = as_moment(value)
    if moment is None:
        return Outcome(False)
    return dates_hold(c, moment, now)


def _matching(facts: Facts, name: str, where: Any) -> list[Happening]:
    every = facts.events.get(name, [])
    return [e for e in every if matches(where, e.data)] if where else list(every)


def _split(events: list[Happening], now: datetime) -> tuple[list[Happening], datetime | None]:
    """The events that happened by now, and when the next future one does."""
    cut = bisect_right([e.at for e in events], now)
    return events[:cut], (events[cut].at if cut < len(events) else None)


def _event(c: EventCondition, facts: Facts, now: datetime) -> Outcome:
    past, upcoming = _split(_matching(facts, c.event, c.where), now)
    occurrence = c.first or c.last
    if occurrence is not None:
        if not past:
            return Outcome(False, upcoming)
        chosen = past[0] if c.first is not None else past[-1]
        result = dates_hold(occurrence, chosen.at, now)
        return Outcome(result.met, _soonest(result.next, upcoming))
    if c.within is not None:
        past = [e for e in past if e.at > now - c.within]
    count, low, high = len(past), c.minimum, c.at_most
    met = count >= low and (high is None or count <= high)
    changes: list[datetime | None] = [upcoming]
    if c.within is not None:
        times = [e.at for e in past]
        if low >= 1 and count >= low:
            changes.append(times[count - low] + c.within)
        if high is not None and count > high:
            changes.append(times[count - high - 1] + c.within)
    return Outcome(met, _soonest(*changes))


def _sequence(c: SequenceCondition, facts: Facts, now: datetime) -> Outcome:
    spec = c.sequence
    lists: list[list[datetime]] = []
    upcoming: list[datetime | None] = []
    for step in spec.steps:
        past, later = _split(_matching(facts, step.event, step.where), now)
        lists.append([e.at for e in past])
        upcoming.append(later)
    soon = _soonest(*upcoming)
    for start in lists[0]:
        current = start
        for times in lists[1:]:
            i = bisect_right(times, current)
            if i == len(times):
                break
            current = times[i]
        else:
            if spec.within is None or current - start <= spec.within:
                return Outcome(True, soon)
    return Outcome(False, soon)


def subscription_status(traits: Mapping[str, Any], channel: str) -> str:
    """``opted_in``, ``subscribed`` or ``unsubscribed``, from the customer's traits."""
    stated = traits.get(f"{channel}_subscribe")
    if stated in ("opted_in", "subscribed", "unsubscribed"):
        return str(stated)
    if channel == "email" and traits.get("unsubscribed") is True:
        return "unsubscribed"
    return "subscribed"


def _subscription(c: SubscriptionCondition, facts: Facts) -> Outcome:
    status = subscription_status(facts.traits, c.subscription)
    if c.status == "subscribed":
        return Outcome(status in ("subscribed", "opted_in"))
    return Outcome(status == c.status)


def evaluate(condition: Any, facts: Facts, now: datetime) -> Outcome:
    """Whether ``facts`` meet ``condition`` at ``now``, and when that may next change."""
    if isinstance(condition, AllCondition | AnyCondition):
        results = [evaluate(c, facts, now) for c in _items(condition)]
        values = [r.met for r in results]
        met = all(values) if isinstance(condition, AllCondition) else any(values)
        return Outcome(met, _soonest(*(r.next for r in results)))
    if isinstance(condition, NotCondition):
        inner = evaluate(condition.not_, facts, now)
        return Outcome(not inner.met, inner.next)
    if isinstance(condition, TraitCondition):
        return _trait(condition, facts, now)
    if isinstance(condition, EventCondition):
        return _event(condition, facts, now)
    if isinstance(condition, SequenceCondition):
        return _sequence(condition, facts, now)
    if isinstance(condition, SegmentCondition):
        return Outcome(condition.segment in facts.members)
    if isinstance(condition, SubscriptionCondition):
        return _subscription(condition, facts)
    if isinstance(condition, JourneyCondition):
        nodes = facts.journeys.get(condition.journey)
        return Outcome(nodes is not None and (condition.node is None or condition.node in nodes))
    if isinstance(condition, StageCondition):
        return Outcome(*stage_holds(condition, facts.stage, now))
    raise TypeError(f"not a segment condition: {condition!r}")


def _items(condition: AllCondition | AnyCondition) -> list[Any]:
    return list(condition.all if isinstance(condition, AllCondition) else condition.any)


def explain(condition: Any, facts: Facts, now: datetime) -> dict[str, Any]:
    """The condition tree with, at each condition, whether it holds for this customer."""
    met = evaluate(condition, facts, now).met
    if isinstance(condition, AllCondition | AnyCondition):
        key = "all" if isinstance(condition, AllCondition) else "any"
        return {
            "condition": key,
            "met": met,
            "conditions": [explain(c, facts, now) for c in _items(condition)],
        }
    if isinstance(condition, NotCondition):
        return {"condition": "not", "met": met, "conditions": [explain(condition.not_, facts, now)]}
    out: dict[str, Any] = {
        "condition": condition.model_dump(mode="json", by_alias=True, exclude_none=True),
        "met": met,
    }
    if isinstance(condition, TraitCondition):
        out["value"] = lookup(facts.traits, condition.trait)
    elif isinstance(condition, EventCondition):
        past, _ = _split(_matching(facts, condition.event, condition.where), now)
        if condition.within is not None:
            past = [e for e in past if e.at > now - condition.within]
        out["count"] = len(past)
        if past:
            out["first_at" if condition.first else "last_at"] = (
                past[0] if condition.first else past[-1]
            ).at.isoformat()
    elif isinstance(condition, SubscriptionCondition):
        out["status"] = subscription_status(facts.traits, condition.subscription)
    elif isinstance(condition, StageCondition) and facts.stage is not None:
        out["stage"] = facts.stage.stage
        out["entered_at"] = facts.stage.entered_at.isoformat()
    return out


def failed(tree: dict[str, Any]) -> list[dict[str, Any]]:
    """The innermost conditions that made the answer what it is not (for "why not")."""
    if "conditions" not in tree:
        return [tree]
    found: list[dict[str, Any]] = []
    for child in tree["conditions"]:
        if child["met"] == (tree["condition"] == "not"):
            found += failed(child) if tree["condition"] != "not" else [child]
    return found or [tree]
