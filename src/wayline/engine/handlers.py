"""The node handlers, one per node type (see ``steps`` for the contract)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from wayline.engine.captures import CAPTURE
from wayline.engine.history import EventHistory, window_start
from wayline.engine.steps import (
    BRANCHED,
    COMPLETED,
    DROPPED,
    MOVED,
    PASSED,
    QUEUED,
    TIMED_OUT,
    UPDATED,
    WAITING,
    Draft,
    Transition,
    Visit,
    WaitFor,
    handles,
    render,
    scope_of,
    sticky_variant,
)
from wayline.engine.timing import next_window, zone_for
from wayline.errors import InvalidMessage
from wayline.events import parse_time
from wayline.journeys.conditions import (
    AllCondition,
    AnyCondition,
    EventCondition,
    MessageCondition,
    SegmentCondition,
    WhereCondition,
)
from wayline.journeys.durations import format_duration
from wayline.journeys.filters import lookup, matches
from wayline.store.traits import TraitChange

#: A control (holdout) group receives nothing: its sends are dropped, and recorded.
HOLDOUT = "holdout"


@handles("exit")
def exit_node(v: Visit) -> Transition:
    return Transition(kind=COMPLETED, reason="reached the end", done="completed")


@handles("wait_for_event")
def wait_for_event(v: Visit) -> Transition:
    node = v.node
    if v.resumed_by is not None:
        return Transition(kind=PASSED, reason=f"{node.event} arrived", next=node.on_event)
    if v.woke:
        return Transition(
            kind=TIMED_OUT, reason=f"no {node.event} within {node.timeout}", next=node.on_timeout
        )
    if node.match_key:
        key = v.instance.entry_key
        wait = WaitFor(event=node.event, key_path=node.match_key, key_value=key)
        what = f"{node.match_key} = {key}"
    else:
        wait = WaitFor(event=node.event, key_path="", key_value=v.instance.profile_id)
        what = "from this customer"
    until = v.now + node.timeout if node.timeout is not None else None
    reason = f"waiting for {node.event} ({what})"
    if until is not None:
        reason += f" until {until.isoformat()}"
    return Transition(kind=WAITING, reason=reason, wait_until=until, waits=[wait])


@handles("split")
def split(v: Visit) -> Transition:
    variants: dict[str, Any] = dict(v.node.variants)
    chosen = sticky_variant(v.instance, v.node.id, variants)
    context: dict[str, Any] = {
        "variants": {**v.instance.context.get("variants", {}), v.node.id: chosen}
    }
    if chosen == "control":
        context[HOLDOUT] = True
    return Transition(
        kind=BRANCHED, reason=f"variant {chosen}", next=v.node.next[chosen], context=context
    )


@handles("send")
def send(v: Visit) -> Transition:
    node = v.node
    if v.instance.context.get(HOLDOUT) and not getattr(node, "transactional", False):
        return Transition(kind=DROPPED, reason="control group: receives nothing", next=node.next)
    payload = {
        "template": node.template,
        "profile_id": v.instance.profile_id,
        "journey_id": v.instance.journey_id,
        "node": node.id,
        "transactional": bool(getattr(node, "transactional", False)),
        "scope": scope_of(v),
    }
    topic = getattr(node, "topic", None)
    if topic:
        payload["topic"] = topic
    return Transition(
        kind=QUEUED,
        reason=f"{node.channel} message {node.template} queued",
        next=node.next,
        messages=[Draft(channel=node.channel, payload=payload)],
    )


@handles("webhook")
def webhook(v: Visit) -> Transition:
    node = v.node
    capture = getattr(node, "capture_as", None)
    if v.resumed_by is not None:  # the response (or the failure) is in: go on
        held = "kept" if v.resumed_by.get("webhook") == "answered" else "not received"
        return Transition(
            kind=PASSED, reason=f"response {held} as journey.{capture}", next=node.next
        )
    scope = scope_of(v)
    payload = {
        "url": render(str(node.url), scope, v.liquid),
        "method": getattr(node, "method", "POST"),
        "headers": render(dict(getattr(node, "headers", None) or {}), scope, v.liquid),
        "body": render(getattr(node, "body", None), scope, v.liquid),
    }
    reason = f"webhook to {payload['url']} queued"
    if capture is None:
        return Transition(
            kind=QUEUED,
            reason=reason,
            next=node.next,
            messages=[Draft(channel="webhook", payload=payload)],
        )
    # held here, with nothing due, until the dispatcher records the answer (captures.py)
    return Transition(
        kind=QUEUED,
        reason=f"{reason}; waiting for its response (journey.{capture})",
        messages=[Draft(channel="webhook", payload={**payload, CAPTURE: capture})],
    )


@handles("goto")
def goto(v: Visit) -> Transition:
    target = getattr(v.node, "node", None)
    if target is None:
        journey = v.node.journey
        return Transition(
            kind=MOVED, reason=f"go to journey {journey}", done=MOVED, move_to=journey
        )
    return Transition(kind=PASSED, reason=f"go to {target}", next=target)


@handles("update_profile")
def update_profile(v: Visit) -> Transition:
    node = v.node
    values = render(dict(node.set), scope_of(v), v.liquid)
    said = [f"{name} = {_shown(value)}" for name, value in values.items()]
    said += [f"{name} removed" for name in node.unset]
    return Transition(
        kind=UPDATED,
        reason="profile: " + ", ".join(said),
        next=node.next,
        profile=TraitChange(set=values, unset=list(node.unset)),
    )


@handles("score")
def score(v: Visit) -> Transition:
    node = v.node
    sign = "+" if node.add >= 0 else "-"
    return Transition(
        kind=UPDATED,
        reason=f"score: {node.trait} {sign} {abs(node.add)}",
        next=node.next,
        profile=TraitChange(add={node.trait: node.add}),
    )


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text if len(text) <= 80 else text[:77] + "..."


@handles("branch")
def branch(v: Visit) -> Transition:
    for i, option in enumerate(v.node.branches):
        held, why = condition_holds(option.when, v)
        if held:
            return Transition(kind=BRANCHED, reason=f"branch {i + 1}: {why}", next=option.next)
    return Transition(kind=BRANCHED, reason="no condition held: default", next=v.node.default)


def condition_holds(when: Any, v: Visit) -> tuple[bool, str]:
    """Decide a branch condition from what the worker holds: traits, context, engagement."""
    if isinstance(when, WhereCondition):
        data = {
            "traits": v.traits,
            "journey": {"key": v.instance.entry_key or None, **v.instance.context},
        }
        held = matches(when.where, data)
        return held, ("" if held else "not ") + "matched " + ", ".join(when.where)
    if isinstance(when, AllCondition):
        results = [condition_holds(c, v) for c in when.all]
        return all(r for r, _ in results), "; ".join(w for _, w in results)
    if isinstance(when, AnyCondition):
        results = [condition_holds(c, v) for c in when.any]
        return any(r for r, _ in results), "; ".join(w for _, w in results)
    if isinstance(when, EventCondition) and v.history is not None:
        return _did(when, v.history, v.now)
    if isinstance(when, SegmentCondition):
        inside = when.segment in v.segments
        held = inside != when.not_
        return held, f"{'in' if inside else 'not in'} segment {when.segment}"
    if isinstance(when, MessageCondition):
        done = v.engagement.get(when.message, set())
        checks = [
            (what, wanted, what in done)
            for what, wanted in (("opened", when.opened), ("clicked", when.clicked))
            if wanted is not None
        ]
        held = all(found == wanted for _, wanted, found in checks)
        words = [f"{when.message} {'' if found else 'not '}{what}" for what, _, found in checks]
        return held, ", ".join(words)
    raise ValueError(f"{type(when).__name__} is not supported by the runtime yet")


def _did(when: EventCondition, history: EventHistory, now: datetime) -> tuple[bool, str]:
    """Whether the customer did the event (that often, in the window); ``not`` inverts."""
    done = history.count(
        when.event, since=window_start(now, when.within), where=when.where, enough=when.at_least
    )
    what = when.event + (" (filtered)" if when.where else "")
    if when.within is not None:
        what += f" in the last {format_duration(when.within)}"
    held = done >= when.at_least
    said = f"{what}: {'at least ' if held else ''}{done} of {when.at_least}"
    return (not held if when.not_ else held), ("not: " if when.not_ else "") + said


@handles("wait_until")
def wait_until(v: Visit) -> Transition:
    node = v.node
    if v.woke:
        return Transition(kind=PASSED, reason="inside the allowed window", next=node.next)
    zone = zone_for(node.timezone, v.traits, v.workspace_zone)
    opens = next_window(v.now, node.days, node.from_, node.to, zone)
    if opens <= v.now:
        return Transition(
            kind=PASSED, reason=f"inside the allowed window ({zone.key})", next=node.next
        )
    local = opens.astimezone(zone).isoformat(timespec="minutes")
    return Transition(
        kind=WAITING, reason=f"waiting for the window at {local} ({zone.key})", wait_until=opens
    )


def _moment(node: Any, v: Visit) -> datetime:
    until = node.until
    if isinstance(until, str):
        scope = {
            "traits": v.traits,
            "journey": {"key": v.instance.entry_key or None, **v.instance.context},
        }
        found = lookup(scope, until)
        if found is None:
            raise ValueError(f"until: {until} is not set for this customer")
        try:
            until = parse_time(found, until)
        except InvalidMessage as exc:
            raise ValueError(f"until: {until} is not a date: {found!r}") from exc
    elif until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    moment: datetime = until + (node.offset or timedelta(0))
    return moment


@handles("delay")
def delay(v: Visit) -> Transition:
    node = v.node
    if v.woke:
        return Transition(kind=PASSED, reason="delay over", next=node.next)
    if node.duration is not None:
        until = v.now + node.duration
        reason = f"waiting {node.duration} until {until.isoformat()}"
    else:
        until = _moment(node, v)
        if until <= v.now:
            return Transition(kind=PASSED, reason=f"{until.isoformat()} has passed", next=node.next)
        reason = f"waiting until {until.isoformat()}"
    return Transition(kind=WAITING, reason=reason, wait_until=until)
