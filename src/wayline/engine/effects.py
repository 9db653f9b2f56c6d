"""What a node does beyond its own instance, carried out in the worker's transaction:
changing the customer's profile (``update_profile``, ``score``) and moving the customer to
another journey (``goto: {journey}``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection

from wayline.engine.catalog import Catalog
from wayline.engine.enrolment import enrol
from wayline.engine.steps import Transition, message_key
from wayline.store.journeys import Instance, JourneyStore, Step
from wayline.store.outbox import NewMessage
from wayline.store.traits import TraitChange, change_traits

#: The outbox channel that reports a journey's profile change as an identify call.
IDENTIFY = "identify"
#: Outcomes of a ``goto`` another journey: moved there, or refused by it (and left).
MOVED, NOT_MOVED = "moved", "completed"


def change_profile(
    conn: Connection,
    inst: Instance,
    change: TraitChange,
    traits: dict[str, Any],
    now: datetime,
    messages: list[NewMessage],
) -> str:
    """Write the change, refresh ``traits`` (what later nodes read), and queue the
    identify call that takes the new values to the warehouse and the timeline.

    Returns words for the trace. Raises :class:`TraitError` when the change cannot apply.
    """
    after, given = change_traits(conn, inst.profile_id, change, now)
    user_id = traits.get("__user_id")
    traits.clear()
    traits.update(after)
    if user_id is not None:
        traits["__user_id"] = user_id
    if given:
        # The identify call goes through the outbox: an insert into the inbox must be the
        # first write of its transaction (see store/postgres.py), so the dispatcher makes
        # it in a transaction of its own. Same values, same time: consuming it changes
        # nothing on the profile, and a newer value set since wins over it.
        messages.append(
            NewMessage(
                workspace_id=inst.workspace_id,
                idempotency_key=message_key(inst, inst.node),
                channel=IDENTIFY,
                payload={"traits": given, "timestamp": now.astimezone(UTC).isoformat()},
                instance_id=inst.id,
                journey_id=inst.journey_id,
                node=inst.node,
                profile_id=inst.profile_id,
                # a record of the change, not a message to the customer: no cap counts it
                transactional=True,
            )
        )
    if change.add:
        return "; now " + ", ".join(f"{name} = {after.get(name)}" for name in change.add)
    return ""


def move(
    conn: Connection,
    journeys: JourneyStore,
    catalog: Catalog,
    inst: Instance,
    t: Transition,
    now: datetime,
    steps: list[Step],
) -> None:
    """Enrol the customer into ``t.move_to`` (its status and re-entry policy decide), and
    say in ``t`` how this journey ends: ``moved``, or ``completed`` with the refusal."""
    target_id = t.move_to or ""
    target = catalog.active(inst.workspace_id, target_id)
    if target is None:
        t.done, t.reason = NOT_MOVED, f"journey {target_id} is not active: stays out of it"
        return
    # the instance's key goes along when the journey there correlates by a key too
    key = inst.entry_key if target.entry_key else ""
    result = enrol(
        journeys,
        conn,
        target,
        inst.profile_id,
        key,
        inst.context.get("event") or {},
        now,
        steps,
        reason=f"goto from journey {inst.journey_id} (node {inst.node})",
    )
    if isinstance(result, str):
        t.done, t.reason = NOT_MOVED, f"journey {target_id} refused: {result}"
    else:
        t.done, t.reason = MOVED, f"moved to journey {target_id}"
