"""Planning and applying a journey version, moving customers inside when asked.

:func:`apply_version` runs in one transaction: it locks the customers inside older
versions, makes the plan (:mod:`wayline.engine.versions`), stores the version, and moves
them. A refused plan raises before anything is written, so nothing is stored.

A moved customer's waits are derived again from the node they are now at:

- **continues** (same node, same definition): node, state, wake time and event waits are
  kept; only the version changes;
- **re-enters**: the event waits of the old node are dropped and the customer is due now
  at the target node, which the worker enters afresh (a delay restarts, a wait_for_event
  listens again with a new timeout, a send queues its message as a new visit);
- the goal wait follows the new version's ``goal`` (event and ``match_key``): dropped
  when the goal changed, added when there is one and the customer has not converted yet.

Each moved customer gets a ``moved`` step in their trace: "moved from version 1 node X to
version 2 node Y".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from wayline.engine.versions import CONTINUES, MigrationRefused, Plan, make_plan
from wayline.store import journey_versions as jv
from wayline.store.journeys import Instance, InstanceState, JourneyStore, Step, Wait
from wayline.store.sql import SqlStore

#: The trace step of a customer moved to another version.
MOVED = "moved"
GOAL_WAIT, EVENT_WAIT = "goal", "wait"


def plan_version(
    store: SqlStore,
    workspace_id: str,
    journey_id: str,
    spec: dict[str, Any],
    *,
    migrate: bool = False,
    mapping: Mapping[str, str] | None = None,
) -> Plan:
    """What :func:`apply_version` would do now, without writing anything."""
    with store.engine.connect() as conn:
        stored = {r.version: r.spec for r in jv.versions(conn, workspace_id, journey_id)}
        inside = jv.occupancy(conn, workspace_id, journey_id)
    return make_plan(journey_id, spec, stored, inside, migrate=migrate, mapping=mapping or {})


def apply_version(
    store: SqlStore,
    workspace_id: str,
    journey_id: str,
    name: str,
    spec: dict[str, Any],
    *,
    migrate: bool = False,
    mapping: Mapping[str, str] | None = None,
) -> Plan:
    """Store the spec as a new version when it changed and, with ``migrate``, move the
    customers inside older versions onto it. Returns the plan carried out.

    Raises :class:`MigrationRefused` (nothing stored) when customers would be left at a
    removed node, :class:`~wayline.engine.versions.MappingInvalid` for a bad mapping.
    """
    journeys = JourneyStore(store)
    now = store.clock.now()
    with store._write() as conn:
        stored = {r.version: r.spec for r in jv.versions(conn, workspace_id, journey_id)}
        inside = jv.occupancy(conn, workspace_id, journey_id)
        locked: list[Instance] = []
        if not migrate:
            plan = make_plan(journey_id, spec, stored, inside, migrate=False, mapping=mapping or {})
        else:
            target = make_plan(journey_id, spec, stored, {}, migrate=False, mapping={}).version
            # counted again from the locked rows: exactly the customers that will move
            locked = jv.lock_inside(conn, workspace_id, journey_id, target)
            counts = {k: n for k, n in inside.items() if k[0] >= target}
            for inst in locked:
                counts[(inst.version, inst.node)] = counts.get((inst.version, inst.node), 0) + 1
            plan = make_plan(journey_id, spec, stored, counts, migrate=True, mapping=mapping or {})
            if plan.refused:
                raise MigrationRefused(plan.refusal_message())
        version, _ = journeys.add_version(conn, workspace_id, journey_id, name, spec)
        assert version == plan.version, (version, plan.version)
        if locked:
            stored[version] = spec
            _move(conn, journeys, plan, locked, stored, now)
    return plan


def _goal_of(spec: dict[str, Any]) -> tuple[str, str] | None:
    goal = spec.get("goal")
    return None if not goal else (str(goal["event"]), str(goal.get("match_key") or ""))


def _move(
    conn: Connection,
    journeys: JourneyStore,
    plan: Plan,
    instances: list[Instance],
    stored: Mapping[int, dict[str, Any]],
    now: datetime,
) -> None:
    target = plan.version
    new_goal = _goal_of(stored[target])
    kept: list[int] = []
    entering: list[Instance] = []
    regoal: list[Instance] = []
    steps: list[Step] = []
    for inst in instances:
        move = plan.route(inst.version, inst.node)
        assert move is not None, (inst.version, inst.node)
        reason = (
            f"moved from version {inst.version} node {inst.node} to version {target} node "
            f"{move.to_node}"
        )
        if _goal_of(stored[inst.version]) != new_goal:
            regoal.append(inst)
        if move.how == CONTINUES:
            kept.append(inst.id)
            reason += ": continues its wait"
        else:
            inst.node, inst.state, inst.wake_at = move.to_node, InstanceState.READY, now
            inst.context.pop("_resumed", None)
            visits = inst.context.setdefault("visits", {})
            visits[move.to_node] = visits.get(move.to_node, 0) + 1
            entering.append(inst)
            reason += ": enters it again now"
        inst.version = target
        steps.append(inst.step(MOVED, reason, now))
    jv.set_version(conn, kept, target, now)
    jv.place(conn, entering, now)
    jv.drop_waits(conn, [i.id for i in entering], EVENT_WAIT)
    jv.drop_waits(conn, [i.id for i in regoal], GOAL_WAIT)
    if new_goal is not None:
        event, path = new_goal
        journeys.add_waits(
            conn,
            [
                Wait(
                    instance_id=i.id,
                    kind=GOAL_WAIT,
                    event=event,
                    workspace_id=i.workspace_id,
                    key_path=path,
                    key_value=i.entry_key if path else i.profile_id,
                )
                for i in regoal
                if "converted_at" not in i.context and (i.entry_key or not path)
            ],
        )
    journeys.add_steps(conn, steps)
