"""The journey worker: claims instances that are due and advances them through their nodes.

One transaction per batch: the claimed instances are locked (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so workers never take the same instance; SQLite has one writer), every node
they pass is recorded as a step, messages go to the outbox, and the instances are saved
where they now wait. A worker killed mid-batch leaves everything as it was before it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import liquid
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.clock import Clock
from wayline.engine.catalog import Catalog
from wayline.engine.controls import Gate
from wayline.engine.effects import change_profile, move
from wayline.engine.history import EventHistory
from wayline.engine.steps import FAILED, HANDLERS, Transition, Visit, message_key
from wayline.segments.store import memberships_of
from wayline.store import schema
from wayline.store.journeys import (
    Instance,
    InstanceState,
    JourneyStore,
    Step,
    Wait,
)
from wayline.store.journeys.instances import workspace_zones
from wayline.store.messages import engagement
from wayline.store.outbox import NewMessage, OutboxStore
from wayline.store.profiles import traits_of
from wayline.store.sql import SqlStore
from wayline.store.traits import TraitError

log = logging.getLogger("wayline.engine")

#: Nodes passed in one go before the worker concludes the journey loops without waiting.
MAX_HOPS = 100
WAIT = "wait"


class Worker:
    def __init__(
        self, store: SqlStore, catalog: Catalog, clock: Clock, *, batch_size: int = 500
    ) -> None:
        self.store = store
        self.journeys = JourneyStore(store)
        self.outbox = OutboxStore(store)
        self.catalog = catalog
        self.clock = clock
        self.batch_size = batch_size
        self.liquid = liquid.Environment()
        self.gate = Gate()

    def step(self) -> int:
        now = self.clock.now()
        # An idle worker only reads: on SQLite every writer waits for the write lock.
        i = schema.journey_instances
        with self.store.engine.connect() as conn:
            if conn.scalar(sa.select(i.c.id).where(i.c.wake_at <= now).limit(1)) is None:
                return 0
        with self.store._write() as conn:
            instances = self.journeys.claim_due(conn, now, self.batch_size)
            if not instances:
                return 0
            instances = self.gate.order(instances, self.catalog)
            self.gate.new_batch()
            traits = traits_of(conn, (i.profile_id for i in instances))
            zones = workspace_zones(conn, (i.workspace_id for i in instances))
            engaged = engagement(conn, (i.id for i in instances))
            segments = memberships_of(conn, (i.profile_id for i in instances))
            steps: list[Step] = []
            messages: list[NewMessage] = []
            # A customer woken at a wait, or resumed by an event, stops waiting for events
            # (the node decides anew): one statement for the batch.
            self.journeys.remove_waits_of(
                conn,
                [
                    i.id
                    for i in instances
                    if i.state is InstanceState.WAITING or "_resumed" in i.context
                ],
                [WAIT],
            )
            batch = _Batch()
            for instance in instances:
                self.advance(
                    conn,
                    instance,
                    now,
                    traits.get(instance.profile_id, {}),
                    steps,
                    messages,
                    batch,
                    zones.get(instance.workspace_id, "UTC"),
                    engaged.get(instance.id, {}),
                    segments.get(instance.profile_id, frozenset()),
                )
            self.journeys.remove_waits_of(conn, batch.finished)
            self.journeys.save_many(conn, batch.saved, now)
            self.journeys.add_steps(conn, steps)
            self.outbox.add(conn, messages)
        return len(instances)

    def advance(
        self,
        conn: Connection,
        inst: Instance,
        now: datetime,
        traits: dict[str, Any],
        steps: list[Step],
        messages: list[NewMessage],
        batch: _Batch,
        workspace_zone: str = "UTC",
        engaged: dict[str, set[str]] | None = None,
        segments: frozenset[str] = frozenset(),
    ) -> None:
        """Take the customer through their nodes until they wait or leave; what changes
        is written by :meth:`step` for the whole batch (``batch``)."""
        compiled = self.catalog.version(inst.workspace_id, inst.journey_id, inst.version)
        resumed = inst.context.pop("_resumed", None)
        woke = inst.state is InstanceState.WAITING

        def record(node: str, kind: str, reason: str) -> None:
            steps.append(inst.step(kind, reason, now, node=node))

        for _ in range(MAX_HOPS):
            node = compiled.nodes.get(inst.node)
            handler = HANDLERS.get(getattr(node, "type", "")) if node is not None else None
            if node is None or handler is None:
                record(inst.node, FAILED, f"no handler for node {inst.node!r}")
                self._finish(batch, inst, "failed")
                return
            visit = Visit(
                instance=inst,
                node=node,
                now=now,
                resumed_by=resumed,
                woke=woke,
                traits=traits,
                liquid=self.liquid,
                workspace_zone=workspace_zone,
                history=EventHistory(conn, inst.workspace_id, inst.profile_id),
                engagement=engaged or {},
                segments=segments,
            )
            try:
                t: Transition = handler(visit)
            except Exception as exc:  # a bug or bad data must not stop the whole batch
                log.exception("journey %s node %s failed", inst.journey_id, inst.node)
                record(inst.node, FAILED, f"{type(exc).__name__}: {exc}")
                self._finish(batch, inst, "failed")
                return
            t = self.gate.review(conn, compiled, visit, t, messages)
            try:
                if t.profile is not None:
                    t.reason += change_profile(conn, inst, t.profile, traits, now, messages)
                if t.move_to is not None:
                    move(conn, self.journeys, self.catalog, inst, t, now, steps)
            except TraitError as exc:
                record(inst.node, FAILED, str(exc))
                self._finish(batch, inst, "failed")
                return
            record(inst.node, t.kind, t.reason)
            inst.context.update(t.context)
            for draft in t.messages:
                messages.append(
                    NewMessage(
                        workspace_id=inst.workspace_id,
                        idempotency_key=message_key(inst, inst.node),
                        channel=draft.channel,
                        payload=draft.payload,
                        instance_id=inst.id,
                        journey_id=inst.journey_id,
                        node=inst.node,
                        profile_id=inst.profile_id,
                        transactional=bool(draft.payload.get("transactional", False)),
                    )
                )
            if t.done is not None:
                self._finish(batch, inst, t.done)
                return
            if t.next is not None:
                visits = inst.context.setdefault("visits", {})
                visits[t.next] = visits.get(t.next, 0) + 1
                inst.node, resumed, woke = t.next, None, False
                continue
            inst.state, inst.wake_at = InstanceState.WAITING, t.wait_until
            self.journeys.add_waits(
                conn,
                [
                    Wait(
                        instance_id=inst.id,
                        kind=WAIT,
                        event=w.event,
                        workspace_id=inst.workspace_id,
                        key_path=w.key_path,
                        key_value=w.key_value,
                    )
                    for w in t.waits
                ],
            )
            batch.saved.append(inst)
            return
        record(inst.node, FAILED, f"passed {MAX_HOPS} nodes without waiting: a loop?")
        self._finish(batch, inst, "failed")

    def _finish(self, batch: _Batch, inst: Instance, outcome: str) -> None:
        inst.state, inst.outcome, inst.wake_at = InstanceState.DONE, outcome, None
        batch.finished.append(inst.id)
        batch.saved.append(inst)


@dataclass
class _Batch:
    """What a worker step writes once for all its customers."""

    #: Instances to save as they now are.
    saved: list[Instance] = field(default_factory=list)
    #: Instances that left their journey: every wait of theirs goes.
    finished: list[int] = field(default_factory=list)
