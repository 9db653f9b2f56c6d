"""Node handlers: one pure function per node type, in a registry.

A handler looks at a customer at a node (a :class:`Visit`) and says what happens next (a
:class:`Transition`): move on, wait, leave, and which messages to queue. It reads nothing
and writes nothing itself, so the worker can run it inside its transaction, and a
simulation can run it on a virtual clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import liquid

from wayline.engine.history import EventHistory
from wayline.store.journeys import Instance, InstanceState
from wayline.store.traits import TraitChange

#: Step kinds recorded in the trace.
PASSED, BRANCHED, WAITING, RESUMED, TIMED_OUT, QUEUED = (
    "passed",
    "branched",
    "waiting",
    "resumed",
    "timed_out",
    "queued",
)
DROPPED, GOAL, EXITED, COMPLETED, FAILED = "dropped", "goal", "exited", "completed", "failed"
#: A message held back by the global controls: the customer waits at the node until then.
POSTPONED = "postponed"
#: A node changed the customer's profile; a goto moved the customer to another journey.
UPDATED, MOVED = "updated", "moved"


@dataclass(frozen=True, kw_only=True, slots=True)
class WaitFor:
    """Listen for an event: from the same customer, or carrying the instance's key."""

    event: str
    key_path: str  # "" = the same customer
    key_value: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Draft:
    """A message to queue in the outbox."""

    channel: str
    payload: dict[str, Any]


@dataclass(kw_only=True, slots=True)
class Transition:
    kind: str
    reason: str
    #: Go on to this node now.
    next: str | None = None
    #: Or wait: until this time (the timeout), and/or for these events.
    wait_until: datetime | None = None
    waits: list[WaitFor] = field(default_factory=list)
    #: Or leave the journey with this outcome.
    done: str | None = None
    messages: list[Draft] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)
    #: Change the customer's profile (in the worker's transaction) before going on.
    profile: TraitChange | None = None
    #: Enrol the customer into this journey of the workspace (and leave with ``done``).
    move_to: str | None = None

    @property
    def waiting(self) -> bool:
        return self.next is None and self.done is None


@dataclass(kw_only=True, slots=True)
class Visit:
    instance: Instance
    node: Any
    now: datetime
    #: The event that resumed a wait at this node, if that is why we are here.
    resumed_by: dict[str, Any] | None
    #: The node's own wait ran out (a delay ended, a wait timed out).
    woke: bool
    #: The customer's traits, for conditions and templates.
    traits: dict[str, Any]
    liquid: liquid.Environment
    #: The workspace's time zone, for windows in the customer's zone without one of theirs.
    workspace_zone: str = "UTC"
    #: The customer's past events, for branch ``event`` conditions (none in simulations).
    history: EventHistory | None = None
    #: What the customer did with this instance's messages: send node -> {opened, clicked}.
    engagement: dict[str, set[str]] = field(default_factory=dict)
    #: The segments the customer is a member of now, for ``segment`` conditions.
    segments: frozenset[str] = frozenset()

    @property
    def arriving(self) -> bool:
        return self.resumed_by is None and not self.woke


Handler = Callable[[Visit], Transition]
HANDLERS: dict[str, Handler] = {}


def handles(node_type: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[node_type] = fn
        return fn

    return register


def sticky_variant(instance: Instance, node_id: str, variants: dict[str, int]) -> str:
    """The same customer always lands in the same variant of the same split."""
    seed = f"{instance.workspace_id}:{instance.journey_id}:{node_id}:{instance.profile_id}"
    point = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") % 10_000
    edge = 0
    for name, weight in variants.items():
        edge += int(weight * 100)
        if point < edge:
            return name
    return list(variants)[-1]


def render(value: Any, scope: dict[str, Any], env: liquid.Environment) -> Any:
    """Render Liquid in every string of a (nested) value: webhook bodies, headers, URLs."""
    if isinstance(value, str):
        return env.from_string(value).render(**scope) if "{" in value else value
    if isinstance(value, dict):
        return {k: render(v, scope, env) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, scope, env) for v in value]
    return value


def scope_of(visit: Visit) -> dict[str, Any]:
    inst = visit.instance
    return {
        "profile": {
            "id": inst.profile_id,
            "user_id": visit.traits.get("__user_id"),
            "traits": visit.traits,
            **visit.traits,
        },
        "journey": {"id": inst.journey_id, "key": inst.entry_key or None, **inst.context},
        "event": inst.context.get("event", {}),
    }


def message_key(instance: Instance, node_id: str) -> str:
    """One message per instance and node visit: a replayed step queues nothing new."""
    visits = instance.context.get("visits", {}).get(node_id, 0)
    return f"j:{instance.id}:{node_id}:{visits}"


def wait_state(instance: Instance) -> bool:
    return instance.state is InstanceState.WAITING


def after(duration: timedelta, now: datetime) -> datetime:
    return now + duration
