"""What a simulation found: entries, each node's counts, messages, conversions, outcomes.

Everything is counted from the journey state a run leaves in a store (instances, their
trace, the outbox), so the same counts can be taken of a real run and compared.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from wayline.engine.catalog import CompiledJourney
from wayline.engine.steps import GOAL
from wayline.store import schema
from wayline.store.journeys import InstanceState, JourneyStore
from wayline.store.sql import SqlStore

#: Instances read at a time when counting visits.
_PAGE = 1000


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeCounts:
    id: str
    type: str
    #: Visits: customers who arrived at the node (a customer looping counts each time).
    reached: int
    #: Visits that went on to another node.
    passed: int
    #: Customers still inside the journey at this node when the period ends.
    waiting: int
    #: Customers who left the journey at this node, by outcome (completed, goal, failed).
    ended: dict[str, int] = field(default_factory=dict)
    #: The trace at this node: how many steps of each kind (entered, queued, timed_out, …).
    steps: dict[str, int] = field(default_factory=dict)
    #: A split: how many customers each variant took.
    variants: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class MessageCounts:
    channel: str
    node: str
    #: The template of a ``send``; none for a webhook.
    template: str | None
    messages: int
    customers: int


@dataclass(frozen=True, kw_only=True, slots=True)
class SimulationReport:
    journey_id: str
    start: datetime
    end: datetime
    #: Stored events of the period, replayed.
    events: int
    #: Times a customer entered (one customer may enter more than once).
    entries: int
    #: Distinct customers who entered.
    customers: int
    #: Entries the re-entry rule refused, by reason (already_inside, once, cooldown).
    refused: dict[str, int]
    #: Entries that reached the goal, and the distinct customers who did.
    converted: int
    converted_customers: int
    #: Customers who left, by outcome; and those still inside when the period ends.
    outcomes: dict[str, int]
    inside: int
    nodes: list[NodeCounts]
    messages: list[MessageCounts]

    @property
    def refused_total(self) -> int:
        return sum(self.refused.values())

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["start"] = self.start.isoformat()
        data["end"] = self.end.isoformat()
        data["refused_total"] = self.refused_total
        return data


def build_report(
    store: SqlStore,
    journey: CompiledJourney,
    *,
    start: datetime,
    end: datetime,
    events: int,
    refused: dict[str, int],
) -> SimulationReport:
    """Count what the journey's instances in ``store`` went through."""
    ws, jid = journey.workspace_id, journey.journey_id
    i, s, o = schema.journey_instances, schema.journey_steps, schema.outbox
    mine = (i.c.workspace_id == ws, i.c.journey_id == jid)
    with store.engine.connect() as conn:
        entries, customers = conn.execute(
            sa.select(sa.func.count(), sa.func.count(sa.distinct(i.c.profile_id))).where(*mine)
        ).one()
        converted, converted_customers = conn.execute(
            sa.select(
                sa.func.count(sa.distinct(s.c.instance_id)),
                sa.func.count(sa.distinct(s.c.profile_id)),
            ).where(s.c.workspace_id == ws, s.c.journey_id == jid, s.c.kind == GOAL)
        ).one()
        ended: dict[str, dict[str, int]] = {}
        outcomes: Counter[str] = Counter()
        for node, outcome, n in conn.execute(
            sa.select(i.c.node, i.c.outcome, sa.func.count())
            .where(*mine, i.c.state == InstanceState.DONE.value)
            .group_by(i.c.node, i.c.outcome)
        ):
            ended.setdefault(node, {})[outcome or "done"] = int(n)
            outcomes[outcome or "done"] += int(n)
        sent = conn.execute(
            sa.select(
                o.c.channel,
                o.c.node,
                sa.func.count(),
                sa.func.count(sa.distinct(o.c.profile_id)),
            )
            .where(o.c.workspace_id == ws, o.c.journey_id == jid)
            .group_by(o.c.channel, o.c.node)
            .order_by(o.c.node, o.c.channel)
        ).all()
    visits, variants = _visits(store, journey)
    steps = JourneyStore(store).node_counts(ws, jid)
    nodes = []
    for node_id, node in journey.nodes.items():
        counts = dict(steps.get(node_id, {}))
        waiting = counts.pop("here_now", 0)
        gone = ended.get(node_id, {})
        reached = visits.get(node_id, 0)
        nodes.append(
            NodeCounts(
                id=node_id,
                type=node.type,
                reached=reached,
                passed=reached - waiting - sum(gone.values()),
                waiting=waiting,
                ended=dict(sorted(gone.items())),
                steps=dict(sorted(counts.items())),
                variants=dict(sorted(variants.get(node_id, {}).items())),
            )
        )
    order = list(journey.nodes)
    messages = sorted(
        (
            MessageCounts(
                channel=channel,
                node=node_id or "",
                template=getattr(journey.nodes.get(node_id or ""), "template", None),
                messages=int(n),
                customers=int(c),
            )
            for channel, node_id, n, c in sent
        ),
        key=lambda m: (order.index(m.node) if m.node in order else len(order), m.channel),
    )
    return SimulationReport(
        journey_id=jid,
        start=start,
        end=end,
        events=events,
        entries=int(entries),
        customers=int(customers),
        refused=dict(sorted(refused.items())),
        converted=int(converted),
        converted_customers=int(converted_customers),
        outcomes=dict(sorted(outcomes.items())),
        inside=int(entries) - sum(outcomes.values()),
        nodes=nodes,
        messages=messages,
    )


def _visits(
    store: SqlStore, journey: CompiledJourney
) -> tuple[Counter[str], dict[str, Counter[str]]]:
    """Visits per node and variants taken per split, from every instance's context."""
    i = schema.journey_instances
    visits: Counter[str] = Counter()
    variants: dict[str, Counter[str]] = {}
    after = 0
    while True:
        with store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(i.c.id, i.c.context)
                .where(
                    i.c.workspace_id == journey.workspace_id,
                    i.c.journey_id == journey.journey_id,
                    i.c.id > after,
                )
                .order_by(i.c.id)
                .limit(_PAGE)
            ).all()
        if not rows:
            return visits, variants
        for row in rows:
            context = orjson.loads(row.context)
            visits.update({k: int(v) for k, v in (context.get("visits") or {}).items()})
            for node, chosen in (context.get("variants") or {}).items():
                variants.setdefault(node, Counter())[chosen] += 1
        after = rows[-1].id
