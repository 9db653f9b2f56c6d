"""Global controls: whether a message a journey is about to queue may go out now.

The worker asks :meth:`Gate.review` about every transition that queues messages, inside
its batch transaction. The answer is the transition itself (allowed), or one of:

* **postponed** until a time: the customer stays at the node and wakes then, when the
  message is reconsidered (quiet hours with ``action: postpone``, the journey's
  ``send_rate``);
* **dropped**: the customer goes on to the node's ``next`` without the message (a
  frequency cap, quiet hours with ``action: drop``).

Either way a step records why, so the trace says e.g. "send dropped by frequency cap email
3 per 7d". Checks run in this order, so that a postponed message is counted against the
caps when it is actually about to go out, not before: quiet hours, send rate, caps.

Transactional sends are exempt from quiet hours and caps (the customer asked for them),
and are not counted by caps; a journey's ``send_rate`` counts and limits all its messages.
Webhooks are held only by controls that name the ``webhook`` channel, never by ``*``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from wayline.engine.catalog import Catalog, CompiledJourney
from wayline.engine.steps import DROPPED, POSTPONED, Draft, Transition, Visit
from wayline.engine.timing import WEEKDAYS, next_window, zone_for
from wayline.journeys.controls import ALL, Controls, covers
from wayline.journeys.durations import parse_rate
from wayline.store.controls import (
    RECORD_CHANNEL,
    controls_of,
    customer_sent,
    journey_sent,
    journey_sent_at,
)
from wayline.store.journeys import Instance
from wayline.store.outbox import NewMessage

#: No controls: every message goes out.
NONE = Controls()


@functools.lru_cache(maxsize=256)
def _parse(spec: str) -> Controls:
    """Stored controls were validated when applied; parsed once per distinct text."""
    return Controls.model_validate_json(spec)


class Gate:
    """Applies a workspace's controls and a journey's send_rate to its messages."""

    def __init__(self) -> None:
        #: Messages postponed by a send_rate, per (workspace, journey, time the window
        #: frees): the first ``limit`` are due then, the next ``limit`` a window later, and
        #: so on, rather than all waking at once to be postponed again. Only a spread:
        #: every message is checked again when due, so losing this (a restart, another
        #: worker) costs extra postponements, never an extra message.
        self._spread: dict[tuple[str, str, datetime], int] = {}
        #: Each workspace's controls, read once per batch.
        self._controls_of: dict[str, Controls] = {}

    def new_batch(self) -> None:
        """Forget the controls read for the previous batch: they may have changed since."""
        self._controls_of.clear()

    def order(self, instances: Sequence[Instance], catalog: Catalog) -> list[Instance]:
        """The batch with higher-priority journeys first (stable: due time, then id), so
        that when several of a customer's journeys are due together, the one with the
        highest ``priority`` takes a frequency cap's last slot."""

        def priority(inst: Instance) -> int:
            try:
                compiled = catalog.version(inst.workspace_id, inst.journey_id, inst.version)
            except KeyError:
                return 0
            return int(getattr(compiled.spec, "priority", 0) or 0)

        return sorted(instances, key=lambda i: -priority(i))

    def review(
        self,
        conn: Connection,
        journey: CompiledJourney,
        visit: Visit,
        t: Transition,
        queued: Sequence[NewMessage],
    ) -> Transition:
        """``t`` when its messages may be queued now, else why they are postponed or
        dropped. ``queued``: the messages this batch has queued so far (not yet written)."""
        if not t.messages:
            return t
        controls = self._controls(conn, visit.instance.workspace_id)
        transactional = bool(getattr(visit.node, "transactional", False))
        for draft in t.messages:
            held = None if transactional else self._quiet(controls, visit, t, draft)
            held = held or self._rate(conn, journey, visit, queued)
            if not transactional:
                held = held or self._caps(conn, controls, visit, t, draft, queued)
            if held is not None:
                return held
        return t

    # -- the controls, in the order they apply ---------------------------------------------

    def _quiet(
        self, controls: Controls, visit: Visit, t: Transition, draft: Draft
    ) -> Transition | None:
        for rule in controls.quiet_hours:
            if not any(covers(c, draft.channel) for c in rule.channels):
                continue
            zone = zone_for(rule.timezone, visit.traits, visit.workspace_zone)
            # The allowed time runs from the end of the quiet hours to their start.
            resumes = next_window(visit.now, WEEKDAYS, rule.to, rule.from_, zone)
            if resumes <= visit.now:
                continue
            what = visit.node.type
            if rule.action == "drop":
                return _dropped(t, f"{what} dropped by quiet hours {rule.span()} {zone.key}")
            local = resumes.astimezone(zone)
            return Transition(
                kind=POSTPONED,
                reason=f"{what} postponed by quiet hours until {local:%Y-%m-%dT%H:%M} {zone.key}",
                wait_until=resumes,
            )
        return None

    def _rate(
        self,
        conn: Connection,
        journey: CompiledJourney,
        visit: Visit,
        queued: Sequence[NewMessage],
    ) -> Transition | None:
        rate = getattr(journey.spec, "send_rate", None)
        if rate is None:
            return None
        limit, period = parse_rate(rate)
        inst, now = visit.instance, visit.now
        since = now - period
        stored = journey_sent(conn, inst.workspace_id, inst.journey_id, since)
        in_batch = sum(
            1
            for m in queued
            if m.workspace_id == inst.workspace_id
            and m.journey_id == inst.journey_id
            and m.channel != RECORD_CHANNEL
        )
        if stored + in_batch < limit:
            return None
        # The window frees when the oldest message beyond the limit leaves it.
        nth = stored + in_batch - limit
        at = None
        if nth < stored:
            at = journey_sent_at(conn, inst.workspace_id, inst.journey_id, since, nth)
        frees = (at or now) + period
        frees = max(frees, now + timedelta(seconds=1))
        frees += period * (self._place(inst, frees, now) // limit)
        return Transition(
            kind=POSTPONED,
            reason=f"{visit.node.type} postponed by send_rate {rate} until "
            f"{frees.isoformat(timespec='seconds')}",
            wait_until=frees,
        )

    def _place(self, inst: Instance, frees: datetime, now: datetime) -> int:
        """How many messages of the journey were already postponed to ``frees``."""
        if len(self._spread) > 10_000:
            self._spread = {k: n for k, n in self._spread.items() if k[2] > now}
        key = (inst.workspace_id, inst.journey_id, frees)
        place = self._spread.get(key, 0)
        self._spread[key] = place + 1
        return place

    def _caps(
        self,
        conn: Connection,
        controls: Controls,
        visit: Visit,
        t: Transition,
        draft: Draft,
        queued: Sequence[NewMessage],
    ) -> Transition | None:
        inst, now = visit.instance, visit.now
        for cap in controls.frequency_caps:
            if not covers(cap.channel, draft.channel):
                continue
            channel = None if cap.channel == ALL else cap.channel
            stored = customer_sent(conn, inst.workspace_id, inst.profile_id, channel, now - cap.per)
            in_batch = sum(
                1
                for m in queued
                if m.workspace_id == inst.workspace_id
                and m.profile_id == inst.profile_id
                and not m.transactional
                and covers(cap.channel, m.channel)
            )
            if stored + in_batch >= cap.limit:
                return _dropped(t, f"{visit.node.type} dropped by frequency cap {cap}")
        return None

    def _controls(self, conn: Connection, workspace_id: str) -> Controls:
        found = self._controls_of.get(workspace_id)
        if found is None:
            spec = controls_of(conn, [workspace_id]).get(workspace_id)
            found = self._controls_of[workspace_id] = NONE if spec is None else _parse(spec)
        return found


def _dropped(t: Transition, reason: str) -> Transition:
    """The customer goes on as planned, without the message."""
    context: dict[str, Any] = dict(t.context)
    return Transition(kind=DROPPED, reason=reason, next=t.next, done=t.done, context=context)
