"""Stages in the state store: each workspace's stage model, each customer's current stage,
the change log (announced as ``Stage Entered`` events), and what placing a customer reads
(their identify calls)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.analytics.stage_model import StageModel, load_stage_model
from wayline.segments.stages import StagePlace
from wayline.stages.placement import Said
from wayline.store import change_log, schema
from wayline.store.rechecks import recheck_by
from wayline.store.sql import SqlStore

#: The consumer that keeps customers' stages current.
STAGES_CONSUMER = "stages"


@dataclass(frozen=True, kw_only=True)
class StoredModel:
    workspace_id: str
    #: The model as written (YAML).
    text: str
    model: StageModel
    version: int
    #: Stage name -> typical seconds in it, as of when the model was applied.
    typical: dict[str, float]
    updated_at: datetime

    def stall_after(self, stage: str) -> timedelta | None:
        """How long in ``stage`` makes a customer stalled: its ``stall_after``, or else
        ``stall_factor`` times its typical time; ``None`` when neither is known."""
        for s in self.model.stages:
            if s.name == stage:
                fixed = s.stall_seconds()
                if fixed is not None:
                    return timedelta(seconds=fixed)
                typical = self.typical.get(stage)
                if typical is None or typical <= 0:
                    return None
                return timedelta(seconds=typical * self.model.stall_factor)
        return None


@dataclass(frozen=True, kw_only=True)
class Place:
    stage: str
    entered_at: datetime
    previous_stage: str | None


@dataclass(frozen=True, kw_only=True)
class StageChange:
    id: int
    workspace_id: str
    profile_id: str
    stage: str
    previous_stage: str | None
    previous_stage_duration: float | None
    at: datetime


_MODELS: dict[str, StageModel] = {}


def _compiled(text: str) -> StageModel:
    """A stored model, parsed once per text (stored models are valid and never change)."""
    found = _MODELS.get(text)
    if found is None:
        found = load_stage_model(text)
        if len(_MODELS) > 1000:
            _MODELS.clear()
        _MODELS[text] = found
    return found


def read_models(conn: Connection, workspace_id: str | None = None) -> dict[str, StoredModel]:
    """Workspace id -> its stage model (every workspace's, or one's)."""
    t = schema.stage_models
    query = sa.select(t)
    if workspace_id is not None:
        query = query.where(t.c.workspace_id == workspace_id)
    return {
        r.workspace_id: StoredModel(
            workspace_id=r.workspace_id,
            text=r.spec,
            model=_compiled(r.spec),
            version=r.version,
            typical=orjson.loads(r.typical),
            updated_at=r.updated_at,
        )
        for r in conn.execute(query)
    }


def read_places(
    conn: Connection, workspace_id: str, profile_ids: Sequence[str]
) -> dict[str, Place]:
    """Profile id -> its current stage, for the profiles that have one."""
    c = schema.customer_stages
    found: dict[str, Place] = {}
    ordered = sorted(profile_ids)
    for start in range(0, len(ordered), 500):
        for r in conn.execute(
            sa.select(c).where(
                c.c.workspace_id == workspace_id,
                c.c.profile_id.in_(ordered[start : start + 500]),
            )
        ):
            found[r.profile_id] = Place(
                stage=r.stage, entered_at=r.entered_at, previous_stage=r.previous_stage
            )
    return found


class StageStore:
    """Stage operations over a :class:`SqlStore`; each takes the caller's connection where
    it must be part of a larger transaction."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    # -- models --------------------------------------------------------------------------

    def models(self, conn: Connection, workspace_id: str | None = None) -> dict[str, StoredModel]:
        return read_models(conn, workspace_id)

    def model(self, workspace_id: str) -> StoredModel | None:
        with self.store.engine.connect() as conn:
            return self.models(conn, workspace_id).get(workspace_id)

    def save(
        self, conn: Connection, workspace_id: str, text: str, now: datetime
    ) -> tuple[int, str]:
        """Store a workspace's model; returns its version and ``created``, ``changed`` or
        ``unchanged``."""
        t = schema.stage_models
        digest = hashlib.sha256(text.encode()).hexdigest()
        row = conn.execute(
            sa.select(t.c.version, t.c.digest).where(t.c.workspace_id == workspace_id)
        ).first()
        if row is None:
            conn.execute(
                sa.insert(t).values(
                    workspace_id=workspace_id,
                    spec=text,
                    digest=digest,
                    version=1,
                    typical="{}",
                    updated_at=now,
                )
            )
            return 1, "created"
        if row.digest == digest:
            return row.version, "unchanged"
        conn.execute(
            sa.update(t)
            .where(t.c.workspace_id == workspace_id)
            .values(spec=text, digest=digest, version=row.version + 1, updated_at=now)
        )
        return row.version + 1, "changed"

    def set_typical(self, conn: Connection, workspace_id: str, typical: dict[str, float]) -> None:
        t = schema.stage_models
        conn.execute(
            sa.update(t)
            .where(t.c.workspace_id == workspace_id)
            .values(typical=orjson.dumps(typical, option=orjson.OPT_SORT_KEYS).decode())
        )

    # -- places --------------------------------------------------------------------------

    def places(
        self, conn: Connection, workspace_id: str, profile_ids: Sequence[str]
    ) -> dict[str, Place]:
        return read_places(conn, workspace_id, profile_ids)

    def place(self, workspace_id: str, profile_id: str) -> Place | None:
        with self.store.engine.connect() as conn:
            return self.places(conn, workspace_id, [profile_id]).get(profile_id)

    def put(self, conn: Connection, workspace_id: str, places: dict[str, Place]) -> None:
        """Set these customers' current stages (replacing what was there)."""
        self.forget(conn, workspace_id, sorted(places))
        rows = [
            {
                "workspace_id": workspace_id,
                "profile_id": p,
                "stage": place.stage,
                "entered_at": place.entered_at,
                "previous_stage": place.previous_stage,
            }
            for p, place in places.items()
        ]
        if rows:
            conn.execute(sa.insert(schema.customer_stages), rows)

    def forget(self, conn: Connection, workspace_id: str, profile_ids: Sequence[str]) -> None:
        c = schema.customer_stages
        for start in range(0, len(profile_ids), 500):
            conn.execute(
                sa.delete(c).where(
                    c.c.workspace_id == workspace_id,
                    c.c.profile_id.in_(list(profile_ids[start : start + 500])),
                )
            )

    def clear(self, conn: Connection, workspace_id: str) -> None:
        c = schema.customer_stages
        conn.execute(sa.delete(c).where(c.c.workspace_id == workspace_id))

    def counts(self, workspace_id: str) -> dict[str, int]:
        """Stage -> how many customers are in it now."""
        c = schema.customer_stages
        with self.store.engine.connect() as conn:
            return {
                stage: int(n)
                for stage, n in conn.execute(
                    sa.select(c.c.stage, sa.func.count())
                    .where(c.c.workspace_id == workspace_id)
                    .group_by(c.c.stage)
                )
            }

    # -- changes -------------------------------------------------------------------------

    def log(self, conn: Connection, workspace_id: str, rows: Iterable[dict[str, Any]]) -> None:
        """Record changes to announce: dicts of ``profile_id, stage, previous_stage,
        previous_stage_duration, at``."""
        values = [{"workspace_id": workspace_id, "pending": True, **r} for r in rows]
        if values:
            conn.execute(sa.insert(schema.stage_changes), values)

    def pending(self, conn: Connection, limit: int) -> list[StageChange]:
        return change_log.pending(conn, schema.stage_changes, limit, StageChange)

    def sent(self, ids: Sequence[int]) -> None:
        change_log.mark_sent(self.store, schema.stage_changes, ids)

    def history(self, workspace_id: str, profile_id: str) -> list[StageChange]:
        """A customer's stage changes seen as events arrived, oldest first."""
        c = schema.stage_changes
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(c)
                .where(c.c.workspace_id == workspace_id, c.c.profile_id == profile_id)
                .order_by(c.c.at, c.c.id)
            )
            return [
                StageChange(
                    id=r.id,
                    workspace_id=r.workspace_id,
                    profile_id=r.profile_id,
                    stage=r.stage,
                    previous_stage=r.previous_stage,
                    previous_stage_duration=r.previous_stage_duration,
                    at=r.at,
                )
                for r in rows
            ]

    # -- what placing reads --------------------------------------------------------------

    def said(
        self, conn: Connection, workspace_id: str, profile_ids: Sequence[str]
    ) -> dict[str, list[Said]]:
        """Each profile's identify calls that carried traits, oldest first."""
        i, t = schema.identities, schema.inbox
        users: dict[str, str] = {}
        anonymous: dict[str, str] = {}
        ordered = sorted(profile_ids)
        for start in range(0, len(ordered), 500):
            for kind, value, owner in conn.execute(
                sa.select(i.c.kind, i.c.value, i.c.profile_id).where(
                    i.c.profile_id.in_(ordered[start : start + 500]),
                    i.c.kind.in_(["user_id", "anonymous_id"]),
                )
            ):
                (users if kind == "user_id" else anonymous)[value] = owner
        found: dict[str, list[Said]] = {}
        seen: set[int] = set()
        for column, mapping in ((t.c.user_id, users), (t.c.anonymous_id, anonymous)):
            values = sorted(mapping)
            for start in range(0, len(values), 500):
                for row in conn.execute(
                    sa.select(
                        t.c.seq, t.c.user_id, t.c.anonymous_id, t.c.timestamp, t.c.payload
                    ).where(
                        t.c.workspace_id == workspace_id,
                        t.c.type == "identify",
                        column.in_(values[start : start + 500]),
                    )
                ):
                    if row.seq in seen:
                        continue
                    seen.add(row.seq)
                    owner = users.get(row.user_id or "") or anonymous.get(row.anonymous_id or "")
                    traits = orjson.loads(row.payload).get("traits")
                    if owner is None or not isinstance(traits, dict) or not traits:
                        continue
                    found.setdefault(owner, []).append(
                        Said(at=row.timestamp, seq=row.seq, traits=traits)
                    )
        for calls in found.values():
            calls.sort(key=lambda s: (s.at, s.seq))
        return found


def stage_places(
    conn: Connection, workspace_id: str, profile_ids: Sequence[str]
) -> dict[str, StagePlace]:
    """Profile id -> where the customer is (for the segment ``stage`` condition)."""
    stored = read_models(conn, workspace_id).get(workspace_id)
    if stored is None:
        return {}
    return {
        p: StagePlace(place.stage, place.entered_at, stored.stall_after(place.stage))
        for p, place in read_places(conn, workspace_id, profile_ids).items()
    }


def recheck_segments(
    store: SqlStore, conn: Connection, workspace_id: str, due: dict[str, datetime]
) -> None:
    """Customers whose stage changed are re-checked by the segment consumer (at the moment
    of the change), in workspaces with segments that ask about stages."""
    t = schema.segments
    watching = conn.scalar(
        sa.select(sa.func.count())
        .select_from(t)
        .where(t.c.workspace_id == workspace_id, t.c.spec.contains('"stage":'))
    )
    if not watching or not due:
        return
    recheck_by(store, conn, {(workspace_id, p): at for p, at in due.items()})
