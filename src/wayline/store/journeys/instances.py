"""Journey instances: customers entering a journey (under its re-entry rules), claimed when
due, and saved as they move through it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.store import schema
from wayline.store.journeys.rows import Instance, InstanceState, NewInstance
from wayline.store.rows import aware
from wayline.store.sql import SqlStore


@dataclass(kw_only=True, slots=True)
class _Enrolment:
    """A customer's record of entries into a journey (for one key), as a batch changes it."""

    stored: bool
    entries: int
    last_entered_at: datetime
    active: bool = False
    #: The instance this batch started, if it did.
    instance_id: int | None = None

    def refusal(self, entry: NewInstance, now: datetime) -> str | None:
        if self.active:
            return "already inside the journey"
        if entry.policy == "once":
            return "entered before, and re-entry is 'once'"
        cooldown = entry.cooldown if entry.policy == "after" else None
        if cooldown is not None and now - self.last_entered_at < cooldown:
            return f"entered {self.last_entered_at.isoformat()}; re-entry only after {cooldown}"
        return None


# Statements run once per instance, built once: building a statement costs more than
# running it.


@cache
def _SAVE() -> sa.Update:
    i = schema.journey_instances
    return (
        sa.update(i)
        .where(i.c.id == sa.bindparam("b_id"))
        .values(
            node=sa.bindparam("b_node"),
            state=sa.bindparam("b_state"),
            outcome=sa.bindparam("b_outcome"),
            wake_at=sa.bindparam("b_wake_at"),
            context=sa.bindparam("b_context"),
            updated_at=sa.bindparam("b_updated_at"),
            version=sa.bindparam("b_version"),
        )
    )


@cache
def _RELEASE() -> sa.Update:
    """A finished instance lets its customer enter again (by the enrolment's key)."""
    e = schema.journey_enrolments
    return (
        sa.update(e)
        .where(
            e.c.workspace_id == sa.bindparam("b_ws"),
            e.c.journey_id == sa.bindparam("b_journey"),
            e.c.profile_id == sa.bindparam("b_profile"),
            e.c.entry_key == sa.bindparam("b_key"),
            e.c.active_instance_id == sa.bindparam("b_id"),
        )
        .values(active_instance_id=None)
    )


class Instances:
    """Instance operations of :class:`~wayline.store.journeys.JourneyStore`."""

    store: SqlStore

    # -- instances -----------------------------------------------------------------------

    def enrol(
        self,
        conn: Connection,
        *,
        workspace_id: str,
        journey_id: str,
        version: int,
        profile_id: str,
        entry_key: str,
        node: str,
        context: dict[str, Any],
        now: datetime,
        policy: str,
        cooldown: timedelta | None,
    ) -> int | str:
        """Start an instance, or say why not (``once``, cooldown, already inside)."""
        entry = NewInstance(
            workspace_id=workspace_id,
            journey_id=journey_id,
            version=version,
            profile_id=profile_id,
            entry_key=entry_key,
            node=node,
            context=context,
            policy=policy,
            cooldown=cooldown,
        )
        return self.enrol_many(conn, [entry], now)[0]

    def enrol_many(
        self, conn: Connection, entries: Sequence[NewInstance], now: datetime
    ) -> list[int | str]:
        """Start instances, in order, each or the reason it may not: a few statements for
        the whole batch. A customer entering twice in one batch counts as already inside."""
        e = schema.journey_enrolments
        known: dict[tuple[str, str, str, str], _Enrolment] = {}
        by_journey: dict[tuple[str, str], set[str]] = {}
        for entry in entries:
            by_journey.setdefault((entry.workspace_id, entry.journey_id), set()).add(
                entry.profile_id
            )
        for (workspace_id, journey_id), profiles in by_journey.items():
            ordered = sorted(profiles)
            for start in range(0, len(ordered), 500):
                query = (
                    sa.select(e)
                    .where(
                        e.c.workspace_id == workspace_id,
                        e.c.journey_id == journey_id,
                        e.c.profile_id.in_(ordered[start : start + 500]),
                    )
                    .with_for_update()
                )
                for row in conn.execute(query):
                    known[(workspace_id, journey_id, row.profile_id, row.entry_key)] = _Enrolment(
                        stored=True,
                        entries=row.entries,
                        last_entered_at=row.last_entered_at,
                        active=row.active_instance_id is not None,
                    )
        results: list[int | str] = []
        admitted: list[tuple[int, NewInstance, tuple[str, str, str, str]]] = []
        for entry in entries:
            k = (entry.workspace_id, entry.journey_id, entry.profile_id, entry.entry_key)
            found = known.get(k)
            refusal = found.refusal(entry, now) if found is not None else None
            if refusal is not None:
                results.append(refusal)
                continue
            if found is None:
                found = known[k] = _Enrolment(stored=False, entries=0, last_entered_at=now)
            found.entries += 1
            found.last_entered_at, found.active = now, True
            admitted.append((len(results), entry, k))
            results.append("")
        if not admitted:
            return results
        rows = [
            {
                "workspace_id": entry.workspace_id,
                "journey_id": entry.journey_id,
                "version": entry.version,
                "profile_id": entry.profile_id,
                "entry_key": entry.entry_key,
                "node": entry.node,
                "state": InstanceState.READY.value,
                "outcome": None,
                "wake_at": now,
                "context": orjson.dumps(entry.context).decode(),
                "entered_at": now,
                "updated_at": now,
            }
            for _, entry, _ in admitted
        ]
        ids = self._insert_instances(conn, rows)
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for (at, _, k), instance_id in zip(admitted, ids, strict=True):
            results[at] = int(instance_id)
            known[k].instance_id = int(instance_id)
        for k, state in known.items():
            if state.instance_id is None:
                continue
            values = {
                "w_ws": k[0],
                "w_journey": k[1],
                "w_profile": k[2],
                "w_key": k[3],
                "w_entries": state.entries,
                "w_at": state.last_entered_at,
                "w_instance": state.instance_id,
            }
            (updates if state.stored else inserts).append(values)
        if inserts:
            conn.execute(
                sa.insert(e).values(
                    workspace_id=sa.bindparam("w_ws"),
                    journey_id=sa.bindparam("w_journey"),
                    profile_id=sa.bindparam("w_profile"),
                    entry_key=sa.bindparam("w_key"),
                    entries=sa.bindparam("w_entries"),
                    last_entered_at=sa.bindparam("w_at"),
                    active_instance_id=sa.bindparam("w_instance"),
                ),
                inserts,
            )
            self.store._tables_grew(len(inserts), "journey_enrolments")
        if updates:
            conn.execute(
                sa.update(e)
                .where(
                    e.c.workspace_id == sa.bindparam("w_ws"),
                    e.c.journey_id == sa.bindparam("w_journey"),
                    e.c.profile_id == sa.bindparam("w_profile"),
                    e.c.entry_key == sa.bindparam("w_key"),
                )
                .values(
                    entries=sa.bindparam("w_entries"),
                    last_entered_at=sa.bindparam("w_at"),
                    active_instance_id=sa.bindparam("w_instance"),
                ),
                updates,
            )
        return results

    def _insert_instances(self, conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
        """Insert instances; their ids, in order."""
        i = schema.journey_instances
        if conn.dialect.name == "postgresql":
            # Ids taken from the sequence first, then one pipelined executemany: a
            # many-row INSERT … RETURNING costs the driver more to prepare than to run.
            ids = [
                int(n)
                for n in conn.execute(
                    sa.text(
                        "SELECT nextval(pg_get_serial_sequence('journey_instances', 'id')) "
                        "FROM generate_series(1, :n)"
                    ),
                    {"n": len(rows)},
                ).scalars()
            ]
            conn.execute(sa.insert(i), [{**row, "id": n} for row, n in zip(rows, ids, strict=True)])
            return ids
        returned = conn.execute(i.insert().returning(i.c.id, sort_by_parameter_order=True), rows)
        return [int(n) for n in returned.scalars()]

    def claim_due(self, conn: Connection, now: datetime, limit: int) -> list[Instance]:
        """Instances due now, locked for this transaction (skipped if another holds them)."""
        i = schema.journey_instances
        query = (
            sa.select(i)
            .where(i.c.wake_at <= now)
            .order_by(i.c.wake_at, i.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [Instance.from_row(r) for r in conn.execute(query)]

    def lock(self, conn: Connection, ids: Iterable[int]) -> list[Instance]:
        i = schema.journey_instances
        wanted = sorted(set(ids))
        if not wanted:
            return []
        query = sa.select(i).where(i.c.id.in_(wanted)).order_by(i.c.id).with_for_update()
        return [Instance.from_row(r) for r in conn.execute(query)]

    def save(self, conn: Connection, instance: Instance, now: datetime) -> None:
        conn.execute(
            _SAVE(),
            {
                "b_id": instance.id,
                "b_node": instance.node,
                "b_state": instance.state.value,
                "b_outcome": instance.outcome,
                "b_wake_at": instance.wake_at,
                "b_context": orjson.dumps(instance.context).decode(),
                "b_updated_at": now,
                "b_version": instance.version,
            },
        )
        if instance.state is InstanceState.DONE:
            conn.execute(
                _RELEASE(),
                {
                    "b_ws": instance.workspace_id,
                    "b_journey": instance.journey_id,
                    "b_profile": instance.profile_id,
                    "b_key": instance.entry_key,
                    "b_id": instance.id,
                },
            )

    def save_many(self, conn: Connection, instances: Sequence[Instance], now: datetime) -> None:
        """:meth:`save` for many instances: two statements in all."""
        if not instances:
            return
        conn.execute(
            _SAVE(),
            [
                {
                    "b_id": x.id,
                    "b_node": x.node,
                    "b_state": x.state.value,
                    "b_outcome": x.outcome,
                    "b_wake_at": x.wake_at,
                    "b_context": orjson.dumps(x.context).decode(),
                    "b_updated_at": now,
                    "b_version": x.version,
                }
                for x in instances
            ],
        )
        done = [
            {
                "b_ws": x.workspace_id,
                "b_journey": x.journey_id,
                "b_profile": x.profile_id,
                "b_key": x.entry_key,
                "b_id": x.id,
            }
            for x in instances
            if x.state is InstanceState.DONE
        ]
        if done:
            conn.execute(_RELEASE(), done)


def next_due(conn: Connection, after: datetime) -> datetime | None:
    """The earliest time after ``after`` that anything of the runtime falls due: a wake-up
    or an outbox (re)try."""
    i, o = schema.journey_instances, schema.outbox
    wake = conn.scalar(sa.select(sa.func.min(i.c.wake_at)).where(i.c.wake_at > after))
    send = conn.scalar(
        sa.select(sa.func.min(o.c.next_attempt_at)).where(
            o.c.state.in_(["pending", "sending"]), o.c.next_attempt_at > after
        )
    )
    times = [t for t in (aware(wake), aware(send)) if t is not None]
    return min(times) if times else None


def workspace_zones(conn: Connection, workspace_ids: Iterable[str]) -> dict[str, str]:
    w = schema.workspaces
    wanted = sorted(set(workspace_ids))
    return {
        ws: zone
        for ws, zone in conn.execute(sa.select(w.c.id, w.c.timezone).where(w.c.id.in_(wanted)))
    }
