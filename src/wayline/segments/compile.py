"""Segment conditions compiled to Ibis: every customer's membership in one warehouse query.

The same rules as :mod:`wayline.segments.evaluate` (read its docstring), stated over
tables instead of one customer at a time:

* ``events``: the workspace's track events of the names the segments look at, up to
  ``now``; ``owned`` gives rows with ``user_id`` and ``anonymous_id`` the profile they
  belong to (by ``user_id``, else ``anonymous_id``) and leaves out those of no one;
* ``people``: one row per profile, with its traits (JSON);
* ``places``: the journeys (and nodes) each customer is in now;
* ``stages``: each customer's current lifecycle stage and when they stall in it;
* ``static``: the stored members of each static segment (the list is the truth).

Compiling a condition registers what it needs (a count or first/last time of matching
events, a sequence, a journey place) and returns a :data:`Deferred`: a function from the
final per-profile table to a boolean column. :meth:`Compiler.members` then computes every
registered event measure in one aggregation over ``events`` (by the ids the events carry,
then, on the far fewer rows that gives, by profile), each sequence with window
functions, joins them to ``people`` and evaluates every segment's expression in the same
query. A ``{segment: ID}`` condition is the other segment's expression itself, so
dependency order comes for free.

Each condition kind is one function in :data:`COMPILERS`; a kind missing there is refused
with :class:`UnknownCondition`.

Python decides, on the distinct values only (see :mod:`wayline.segments.json_checks`):
filter operands that are lists or objects, ``contains``, paths through list indexes; and
the date operators of trait conditions (``before``, ``after``, ``older_than``,
``within``), because a date trait is text that Python's ISO 8601 reader parses
(:func:`wayline.segments.evaluate.as_moment`) and SQL casts accept other forms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import ibis

from wayline.analytics.warehouse import Warehouse
from wayline.segments.evaluate import as_moment, dates_hold
from wayline.segments.json_checks import JsonField, by_python, check_expr
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
from wayline.segments.stages import StageCondition

#: A compiled condition: the per-profile table -> a boolean column (never null).
Deferred = Callable[[Any], Any]

#: The parts of an event a ``where`` filter can read in the warehouse (its JSON columns).
_EVENT_PARTS: Final = ("properties", "context")


class UnknownCondition(TypeError):
    """This kind of condition cannot be evaluated in the warehouse."""


@dataclass
class Compiler:
    """Compiles the conditions of one evaluation (one workspace, one moment)."""

    warehouse: Warehouse
    #: profile_id, traits (JSON)
    people: Any
    #: user_id, anonymous_id, event, timestamp, properties, context
    events: Any
    #: A table with user_id and anonymous_id -> the same with their profile_id.
    owned: Callable[[Any], Any]
    #: profile_id, journey_id, node
    places: Any
    now: datetime
    #: Segment id -> its condition, for ``{segment: ID}``.
    segments: dict[str, Any]
    #: profile_id, stage, stalls_at (null: never), when a segment asks about stages.
    stages: Any = None
    #: Static segment id -> a table of its members' profile_id.
    static: dict[str, Any] = field(default_factory=dict)
    #: Column name -> an aggregate over ``events`` (counts, first and last times), and how
    #: the aggregates of one profile's several ids combine (``sum``, ``min``, ``max``).
    measures: dict[str, tuple[Any, str]] = field(default_factory=dict)
    #: Column name -> a table of the profile ids for which it holds (sequences, journeys).
    flags: dict[str, Any] = field(default_factory=dict)
    _keys: dict[str, str] = field(default_factory=dict)
    _compiled: dict[str, Deferred] = field(default_factory=dict)

    def compile(self, condition: Any) -> Deferred:
        compiler = COMPILERS.get(type(condition))
        if compiler is None:
            raise UnknownCondition(
                f"batch evaluation does not know the condition {type(condition).__name__}: "
                f"add a function for it to wayline.segments.compile.COMPILERS"
            )
        return compiler(self, condition)

    def segment(self, segment_id: str) -> Deferred:
        if segment_id in self.static:
            listed = self.flag("static", segment_id, lambda: self.static[segment_id])
            return lambda w: w[listed].notnull()
        if segment_id not in self.segments:
            return lambda w: ibis.literal(False)
        if segment_id not in self._compiled:
            self._compiled[segment_id] = self.compile(self.segments[segment_id])
        return self._compiled[segment_id]

    def _name(self, kind: str, key: str) -> str:
        """One column per distinct measure, however many conditions ask for it."""
        full = f"{kind}:{key}"
        if full not in self._keys:
            self._keys[full] = f"{kind}_{len(self._keys)}"
        return self._keys[full]

    def measure(self, kind: str, key: str, aggregate: Callable[[], Any], combine: str) -> str:
        name = self._name(kind, key)
        if name not in self.measures:
            self.measures[name] = (aggregate(), combine)
        return name

    def flag(self, kind: str, key: str, profiles: Callable[[], Any]) -> str:
        name = self._name(kind, key)
        if name not in self.flags:
            self.flags[name] = profiles()
        return name

    def matching(self, event: str, where: Any) -> Any:
        """A predicate over ``events``: this event, passing this filter."""
        e = self.events
        named = e.event == event
        if not where:
            return named
        rows = e.filter(named)
        passes = ibis.literal(True)
        for path, check in where.items():
            head, *rest = path.split(".")
            if head not in _EVENT_PARTS:
                # only properties and context reach the warehouse: anything else is missing
                passes = passes & ibis.literal(check.holds(None))
                continue
            part = JsonField(self.warehouse, e[head], tuple(rest), rows, rows[head])
            passes = passes & check_expr(check, part)
        # JSON is read only for events of this name (a CASE branch runs on its rows only)
        return named & ibis.ifelse(named, passes, False)

    def members(self, wanted: list[str]) -> Any:
        """The expression: profile_id and one boolean column per wanted segment, in order."""
        deferred = [self.segment(sid) for sid in wanted]
        table = self.people
        if self.measures:
            e = self.events
            by_ids = e.group_by("user_id", "anonymous_id").aggregate(
                **{name: aggregate for name, (aggregate, _) in self.measures.items()}
            )
            owned = self.owned(by_ids)
            measured = owned.group_by("profile_id").aggregate(
                **{name: getattr(owned[name], how)() for name, (_, how) in self.measures.items()}
            )
            measured = measured.rename(m_profile_id="profile_id")
            table = table.left_join(measured, table.profile_id == measured.m_profile_id)
            table = table.drop("m_profile_id")
        for name, profiles in self.flags.items():
            marked = profiles.select(f_profile_id="profile_id").distinct()
            marked = marked.mutate(**{name: ibis.literal(True)})
            table = table.left_join(marked, table.profile_id == marked.f_profile_id)
            table = table.drop("f_profile_id")
        return table.select(
            "profile_id",
            **{f"s{i}": d(table).fill_null(False) for i, d in enumerate(deferred)},
        )


def _all(c: Compiler, condition: AllCondition) -> Deferred:
    parts = [c.compile(x) for x in condition.all]

    def both(w: Any) -> Any:
        result = ibis.literal(True)
        for part in parts:
            result = result & part(w)
        return result

    return both


def _any(c: Compiler, condition: AnyCondition) -> Deferred:
    parts = [c.compile(x) for x in condition.any]

    def either(w: Any) -> Any:
        result = ibis.literal(False)
        for part in parts:
            result = result | part(w)
        return result

    return either


def _not(c: Compiler, condition: NotCondition) -> Deferred:
    inner = c.compile(condition.not_)
    return lambda w: ~inner(w)


def _trait(c: Compiler, condition: TraitCondition) -> Deferred:
    people = c.people
    path = tuple(condition.trait.split("."))
    if condition.dated:
        now = c.now

        def holds(value: Any) -> bool:
            check = condition.check
            if check is not None and not check.holds(value):
                return False
            moment = as_moment(value)
            return moment is not None and dates_hold(condition, moment, now).met

        def dated(w: Any) -> Any:
            trait = JsonField(c.warehouse, w.traits, path, people, people.traits)
            return by_python(trait, holds)

        return dated
    check = condition.check
    assert check is not None  # a trait condition has a value operator or a date operator

    def valued(w: Any) -> Any:
        return check_expr(check, JsonField(c.warehouse, w.traits, path, people, people.traits))

    return valued


def _bounds(bounds: _Dates, moment: Any, now: datetime) -> Any:
    """``evaluate.dates_hold`` over a timestamp column (null: no such moment, false)."""
    result = moment.notnull()
    if bounds.before is not None:
        result = result & (moment < bounds.before)
    if bounds.after is not None:
        result = result & (moment > bounds.after)
    if bounds.older_than is not None:
        result = result & (moment <= now - bounds.older_than)
    if bounds.within is not None:
        result = result & (moment <= now) & (moment > now - bounds.within)
    return result


def _key(condition: Any, *names: str) -> str:
    return str(condition.model_dump_json(include=set(names), by_alias=True))


def _event(c: Compiler, condition: EventCondition) -> Deferred:
    e = c.events
    occurrence = condition.first or condition.last
    if occurrence is not None:
        first = condition.first is not None
        kind = "first" if first else "last"
        name = c.measure(
            kind,
            _key(condition, "event", "where"),
            lambda: (
                e.timestamp.min(where=c.matching(condition.event, condition.where))
                if first
                else e.timestamp.max(where=c.matching(condition.event, condition.where))
            ),
            "min" if first else "max",
        )
        return lambda w: _bounds(occurrence, w[name], c.now)

    def count() -> Any:
        found = c.matching(condition.event, condition.where)
        if condition.within is not None:
            found = found & (e.timestamp > c.now - condition.within)
        return e.timestamp.count(where=found)

    name = c.measure("count", _key(condition, "event", "where", "within"), count, "sum")
    low, high = condition.minimum, condition.at_most

    def counted(w: Any) -> Any:
        n = w[name].fill_null(0)
        result = n >= low
        if high is not None:
            result = result & (n <= high)
        return result

    return counted


def _sequence(c: Compiler, condition: SequenceCondition) -> Deferred:
    name = c.flag("sequence", _key(condition, "sequence"), lambda: _in_sequence(c, condition))
    return lambda w: w[name].notnull()


def _in_sequence(c: Compiler, condition: SequenceCondition) -> Any:
    """The profiles that did the steps in order, each strictly later than the one before.

    For every event of step k, ``start`` is the latest first-step time from which a chain
    of steps 1..k ends at it (the latest start gives the shortest chain): the running
    maximum of step k-1's starts over the rows strictly before it. Ordering the union by
    (time, step k-1 after step k) leaves the step k-1 rows of the same moment out of a
    step k row's running maximum, so steps at the same time do not chain.
    """
    e = c.events
    spec = condition.sequence
    steps = [c.owned(e.filter(c.matching(s.event, s.where))) for s in spec.steps]
    chain = steps[0].select("profile_id", at=steps[0].timestamp, start=steps[0].timestamp)
    for step in steps[1:]:
        both = ibis.union(
            chain.mutate(earlier=ibis.literal(1)),
            step.select(
                "profile_id",
                at=step.timestamp,
                start=ibis.null(step.timestamp.type()),
                earlier=ibis.literal(0),
            ),
            distinct=False,
        )
        window = ibis.window(
            group_by=both.profile_id, order_by=[both.at, both.earlier], preceding=None, following=0
        )
        both = both.mutate(best=both.start.max().over(window))
        chain = both.filter((both.earlier == 0) & both.best.notnull()).select(
            "profile_id", "at", start=both.best
        )
    if spec.within is not None:
        chain = chain.filter(chain.at <= chain.start + _interval(spec.within))
    return chain.select("profile_id")


def _interval(span: timedelta) -> Any:
    return ibis.interval(microseconds=span // timedelta(microseconds=1))


def _segment(c: Compiler, condition: SegmentCondition) -> Deferred:
    return c.segment(condition.segment)


def _subscription(c: Compiler, condition: SubscriptionCondition) -> Deferred:
    people = c.people
    channel, status = condition.subscription, condition.status

    # evaluate.subscription_status, restated: an explicit status, else email's
    # ``unsubscribed: true``, else subscribed
    def subscribed(w: Any) -> Any:
        stated = JsonField(c.warehouse, w.traits, (f"{channel}_subscribe",), people, people.traits)
        text = stated.text()
        explicit = stated.is_a("string") & text.isin(["opted_in", "subscribed", "unsubscribed"])
        if channel == "email":
            flagged = JsonField(c.warehouse, w.traits, ("unsubscribed",), people, people.traits)
            out = flagged.is_a("boolean") & (flagged.text() == "true")
        else:
            out = ibis.literal(False)
        found = ibis.ifelse(
            explicit.fill_null(False),
            text,
            ibis.ifelse(out.fill_null(False), "unsubscribed", "subscribed"),
        )
        if status == "subscribed":
            return found.isin(["subscribed", "opted_in"])
        return found == status

    return subscribed


def _journey(c: Compiler, condition: JourneyCondition) -> Deferred:
    def placed() -> Any:
        p = c.places
        found = p.journey_id == condition.journey
        if condition.node is not None:
            found = found & (p.node == condition.node)
        return p.filter(found).select("profile_id")

    name = c.flag("journey", _key(condition, "journey", "node"), placed)
    return lambda w: w[name].notnull()


def _stage(c: Compiler, condition: StageCondition) -> Deferred:
    """``segments.stages.stage_holds`` over the customers' current stages."""

    def placed() -> Any:
        s = c.stages
        if s is None:
            raise UnknownCondition("a stage condition needs the customers' stages")
        found = s.stage.isin(sorted(condition.stages))
        if condition.stalled is not None:
            stalled = s.stalls_at.notnull() & (s.stalls_at <= c.now)
            found = found & (stalled if condition.stalled else ~stalled)
        return s.filter(found).select("profile_id")

    name = c.flag("stage", _key(condition, "stage", "stalled"), placed)
    return lambda w: w[name].notnull()


#: Condition class -> its compiler. A new kind of condition needs one entry here.
COMPILERS: Final[dict[type, Callable[[Compiler, Any], Deferred]]] = {
    AllCondition: _all,
    AnyCondition: _any,
    NotCondition: _not,
    TraitCondition: _trait,
    EventCondition: _event,
    SequenceCondition: _sequence,
    SegmentCondition: _segment,
    SubscriptionCondition: _subscription,
    JourneyCondition: _journey,
    StageCondition: _stage,
}

__all__ = ["COMPILERS", "Compiler", "Deferred", "UnknownCondition"]
