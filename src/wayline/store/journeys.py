"""The journey runtime's domain operations on the state store.

Everything here runs inside a transaction the caller holds (a ``Connection``), so that a
worker or trigger step writes its instances, waits, steps and outbox rows in one commit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.store import schema
from wayline.store.rechecks import recheck_on_journey_steps
from wayline.store.rows import aware
from wayline.store.sql import SqlStore


class JourneyStatus(StrEnum):
    #: Customers enter and move on.
    ACTIVE = "active"
    #: Nobody enters; customers inside wait where they are.
    PAUSED = "paused"
    #: Nobody enters; customers inside are let out.
    ARCHIVED = "archived"


class InstanceState(StrEnum):
    #: A worker should advance it now.
    READY = "ready"
    #: Waiting for a time, an event, or a message to be delivered.
    WAITING = "waiting"
    #: Out of the journey (see the outcome).
    DONE = "done"


@dataclass(frozen=True, kw_only=True, slots=True)
class JourneyRecord:
    workspace_id: str
    journey_id: str
    name: str
    status: JourneyStatus
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> JourneyRecord:
        return cls(
            workspace_id=row.workspace_id,
            journey_id=row.journey_id,
            name=row.name,
            status=JourneyStatus(row.status),
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@dataclass(kw_only=True, slots=True)
class Instance:
    id: int
    workspace_id: str
    journey_id: str
    version: int
    profile_id: str
    entry_key: str
    node: str
    state: InstanceState
    outcome: str | None
    wake_at: datetime | None
    context: dict[str, Any]
    entered_at: datetime
    updated_at: datetime

    def step(self, kind: str, reason: str, at: datetime, node: str | None = None) -> Step:
        """A trace entry for this instance (at its current node unless told otherwise)."""
        return Step(
            instance_id=self.id,
            workspace_id=self.workspace_id,
            journey_id=self.journey_id,
            profile_id=self.profile_id,
            node=node or self.node,
            kind=kind,
            reason=reason,
            at=at,
        )

    @classmethod
    def from_row(cls, row: Any) -> Instance:
        return cls(
            id=row.id,
            workspace_id=row.workspace_id,
            journey_id=row.journey_id,
            version=row.version,
            profile_id=row.profile_id,
            entry_key=row.entry_key,
            node=row.node,
            state=InstanceState(row.state),
            outcome=row.outcome,
            wake_at=row.wake_at,
            context=orjson.loads(row.context),
            entered_at=row.entered_at,
            updated_at=row.updated_at,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Wait:
    """An instance listening for an event: its own (``wait``), its goal, or an exit rule."""

    instance_id: int
    kind: str
    event: str
    workspace_id: str
    key_path: str
    key_value: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Step:
    instance_id: int
    workspace_id: str
    journey_id: str
    profile_id: str
    node: str
    kind: str
    reason: str
    at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class NewInstance:
    """A customer about to enter a journey, with the journey's re-entry rule."""

    workspace_id: str
    journey_id: str
    version: int
    profile_id: str
    #: The correlation key of the entry; empty when the entry has none.
    entry_key: str
    #: The node to start at.
    node: str
    context: dict[str, Any]
    #: once | always | after
    policy: str
    cooldown: timedelta | None


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


@cache
def _REMOVE_WAITS() -> sa.Delete:
    w = schema.journey_waits
    return sa.delete(w).where(
        w.c.instance_id == sa.bindparam("b_id"),
        w.c.kind.in_(sa.bindparam("b_kinds", expanding=True)),
    )


@cache
def _REMOVE_ALL_WAITS() -> sa.Delete:
    w = schema.journey_waits
    return sa.delete(w).where(w.c.instance_id == sa.bindparam("b_id"))


def spec_digest(spec: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(spec, option=orjson.OPT_SORT_KEYS)).hexdigest()


class JourneyStore:
    """Journeys, versions, instances, waits and steps, over the shared SQL store."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        #: Wait paths known to be committed (see _note_paths).
        self._known_paths: set[tuple[str, str, str]] = set()

    # -- journeys and versions -----------------------------------------------------------

    def apply(
        self, workspace_id: str, journey_id: str, name: str, spec: dict[str, Any]
    ) -> tuple[int, bool]:
        """Store the spec as a new version unless it equals the latest. Returns
        (version, whether a new version was stored)."""
        with self.store._write() as conn:
            return self.add_version(conn, workspace_id, journey_id, name, spec)

    def add_version(
        self,
        conn: Connection,
        workspace_id: str,
        journey_id: str,
        name: str,
        spec: dict[str, Any],
    ) -> tuple[int, bool]:
        """:meth:`apply` inside the caller's transaction."""
        digest = spec_digest(spec)
        now = self.store.clock.now()
        v = schema.journey_versions
        latest = conn.execute(
            sa.select(v.c.version, v.c.digest)
            .where(v.c.workspace_id == workspace_id, v.c.journey_id == journey_id)
            .order_by(v.c.version.desc())
            .limit(1)
        ).first()
        if latest is not None and latest.digest == digest:
            return int(latest.version), False
        version = 1 if latest is None else int(latest.version) + 1
        conn.execute(
            sa.insert(v).values(
                workspace_id=workspace_id,
                journey_id=journey_id,
                version=version,
                spec=orjson.dumps(spec).decode(),
                digest=digest,
                created_at=now,
            )
        )
        j = schema.journeys
        if latest is None:
            conn.execute(
                sa.insert(j).values(
                    workspace_id=workspace_id,
                    journey_id=journey_id,
                    name=name,
                    status=JourneyStatus.ACTIVE.value,
                    version=version,
                    created_at=now,
                    updated_at=now,
                )
            )
        else:
            conn.execute(
                sa.update(j)
                .where(j.c.workspace_id == workspace_id, j.c.journey_id == journey_id)
                .values(name=name, version=version, updated_at=now)
            )
        return version, True

    def journey(self, workspace_id: str, journey_id: str) -> JourneyRecord | None:
        j = schema.journeys
        with self.store.engine.connect() as conn:
            row = conn.execute(
                sa.select(j).where(j.c.workspace_id == workspace_id, j.c.journey_id == journey_id)
            ).first()
        return None if row is None else JourneyRecord.from_row(row)

    def journeys(self, workspace_id: str | None = None) -> list[JourneyRecord]:
        j = schema.journeys
        query = sa.select(j).order_by(j.c.workspace_id, j.c.journey_id)
        if workspace_id is not None:
            query = query.where(j.c.workspace_id == workspace_id)
        with self.store.engine.connect() as conn:
            return [JourneyRecord.from_row(r) for r in conn.execute(query)]

    def stamp(self, conn: Connection) -> tuple[Any, ...]:
        """What changes whenever a journey is applied, paused, resumed or archived (one
        aggregate row): a process compares it before acting on its catalog of journeys."""
        j = schema.journeys
        return tuple(
            conn.execute(
                sa.select(
                    sa.func.count(),
                    sa.func.max(j.c.updated_at),
                    sa.func.sum(j.c.version),
                    sa.func.sum(sa.case((j.c.status == JourneyStatus.ACTIVE.value, 1), else_=0)),
                )
            ).one()
        )

    def spec(self, workspace_id: str, journey_id: str, version: int) -> dict[str, Any]:
        v = schema.journey_versions
        with self.store.engine.connect() as conn:
            text = conn.scalar(
                sa.select(v.c.spec).where(
                    v.c.workspace_id == workspace_id,
                    v.c.journey_id == journey_id,
                    v.c.version == version,
                )
            )
        if text is None:
            raise KeyError(f"{journey_id} v{version}")
        spec: dict[str, Any] = orjson.loads(text)
        return spec

    def set_status(self, workspace_id: str, journey_id: str, status: JourneyStatus) -> bool:
        j = schema.journeys
        with self.store._write() as conn:
            return bool(
                conn.execute(
                    sa.update(j)
                    .where(j.c.workspace_id == workspace_id, j.c.journey_id == journey_id)
                    .values(status=status.value, updated_at=self.store.clock.now())
                ).rowcount
            )

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

    # -- waits ---------------------------------------------------------------------------

    def add_waits(self, conn: Connection, waits: Sequence[Wait]) -> None:
        if not waits:
            return
        w = schema.journey_waits
        stmt = self.store._insert(w).on_conflict_do_nothing(
            index_elements=["instance_id", "kind", "event"]
        )
        conn.execute(
            stmt,
            [
                {
                    "instance_id": x.instance_id,
                    "kind": x.kind,
                    "event": x.event,
                    "workspace_id": x.workspace_id,
                    "key_path": x.key_path,
                    "key_value": x.key_value,
                }
                for x in waits
            ],
        )
        self._note_paths(conn, {(x.workspace_id, x.event, x.key_path) for x in waits})

    def _note_paths(self, conn: Connection, paths: set[tuple[str, str, str]]) -> None:
        """Make sure the trigger consumer looks these paths up (in this transaction)."""
        new = paths - self._known_paths
        if not new:
            return
        # What is committed, read apart from this transaction: a path this transaction
        # adds is not known until it commits, so a rollback cannot leave it believed.
        p = schema.journey_wait_paths
        with self.store.engine.connect() as reader:
            self._known_paths = {tuple(r) for r in reader.execute(sa.select(p))}
        new = paths - self._known_paths
        if new:
            conn.execute(
                self.store._insert(p).on_conflict_do_nothing(
                    index_elements=["workspace_id", "event", "key_path"]
                ),
                [{"workspace_id": ws, "event": e, "key_path": k} for ws, e, k in sorted(new)],
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

    def remove_waits_of(
        self, conn: Connection, instance_ids: Sequence[int], kinds: Iterable[str] | None = None
    ) -> None:
        """:meth:`remove_waits` for many instances."""
        w = schema.journey_waits
        wanted = list(kinds) if kinds is not None else None
        for start in range(0, len(instance_ids), 500):
            where = [w.c.instance_id.in_(instance_ids[start : start + 500])]
            if wanted is not None:
                where.append(w.c.kind.in_(wanted))
            conn.execute(sa.delete(w).where(*where))

    def remove_waits(
        self, conn: Connection, instance_id: int, kinds: Iterable[str] | None = None
    ) -> None:
        """Stop the instance's waits of these kinds (all of them when ``kinds`` is None)."""
        if kinds is None:
            conn.execute(_REMOVE_ALL_WAITS(), {"b_id": instance_id})
        else:
            conn.execute(_REMOVE_WAITS(), {"b_id": instance_id, "b_kinds": list(kinds)})

    def wait_paths(self, conn: Connection) -> dict[tuple[str, str], set[str]]:
        """(workspace, event) -> the key paths instances wait on for it."""
        p = schema.journey_wait_paths
        found: dict[tuple[str, str], set[str]] = {}
        for ws, event, path in conn.execute(sa.select(p.c.workspace_id, p.c.event, p.c.key_path)):
            found.setdefault((ws, event), set()).add(path)
        return found

    def matching_waits(
        self, conn: Connection, workspace_id: str, event: str, key_path: str, values: Sequence[str]
    ) -> list[Wait]:
        w = schema.journey_waits
        rows = conn.execute(
            sa.select(w).where(
                w.c.workspace_id == workspace_id,
                w.c.event == event,
                w.c.key_path == key_path,
                w.c.key_value.in_(list(values)),
            )
        )
        return [
            Wait(
                instance_id=r.instance_id,
                kind=r.kind,
                event=r.event,
                workspace_id=r.workspace_id,
                key_path=r.key_path,
                key_value=r.key_value,
            )
            for r in rows
        ]

    # -- steps ---------------------------------------------------------------------------

    def add_steps(self, conn: Connection, steps: Sequence[Step]) -> None:
        if steps:
            conn.execute(
                sa.insert(schema.journey_steps),
                [
                    {
                        "workspace_id": s.workspace_id,
                        "instance_id": s.instance_id,
                        "journey_id": s.journey_id,
                        "profile_id": s.profile_id,
                        "node": s.node,
                        "kind": s.kind,
                        "reason": s.reason,
                        "at": s.at,
                    }
                    for s in steps
                ],
            )
            recheck_on_journey_steps(self.store, conn, steps)

    def steps(self, workspace_id: str, journey_id: str, profile_id: str) -> list[Step]:
        s = schema.journey_steps
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(s)
                .where(
                    s.c.workspace_id == workspace_id,
                    s.c.journey_id == journey_id,
                    s.c.profile_id == profile_id,
                )
                .order_by(s.c.id)
            )
            return [
                Step(
                    instance_id=r.instance_id,
                    workspace_id=r.workspace_id,
                    journey_id=r.journey_id,
                    profile_id=r.profile_id,
                    node=r.node,
                    kind=r.kind,
                    reason=r.reason,
                    at=r.at,
                )
                for r in rows
            ]

    def node_counts(self, workspace_id: str, journey_id: str) -> dict[str, dict[str, int]]:
        """Per node: how many steps of each kind, and how many wait there now."""
        s, i = schema.journey_steps, schema.journey_instances
        counts: dict[str, dict[str, int]] = {}
        with self.store.engine.connect() as conn:
            for node, kind, n in conn.execute(
                sa.select(s.c.node, s.c.kind, sa.func.count())
                .where(s.c.workspace_id == workspace_id, s.c.journey_id == journey_id)
                .group_by(s.c.node, s.c.kind)
            ):
                counts.setdefault(node, {})[kind] = int(n)
            for node, n in conn.execute(
                sa.select(i.c.node, sa.func.count())
                .where(
                    i.c.workspace_id == workspace_id,
                    i.c.journey_id == journey_id,
                    i.c.state != InstanceState.DONE.value,
                )
                .group_by(i.c.node)
            ):
                counts.setdefault(node, {})["here_now"] = int(n)
        return counts


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
