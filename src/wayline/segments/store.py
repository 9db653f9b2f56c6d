"""Segments in the state store: definitions (parsed back into :class:`Segment` specs),
members, the change log and re-checks. The facts memberships are evaluated from are read
in :mod:`wayline.segments.facts`."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.segments.evaluate import Facts
from wayline.segments.facts import read_facts
from wayline.segments.histories import Histories
from wayline.segments.spec import Segment
from wayline.store import change_log, schema
from wayline.store.rows import aware
from wayline.store.sql import SqlStore

#: The re-check time of a profile that has been evaluated and has nothing due.
NEVER = datetime(9999, 12, 31, tzinfo=UTC)
#: The consumer that keeps segment memberships current.
SEGMENTS_CONSUMER = "segments"


@dataclass(frozen=True, kw_only=True)
class SegmentRecord:
    workspace_id: str
    segment_id: str
    name: str
    version: int
    segment: Segment
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, kw_only=True)
class Change:
    """A customer entered or left a segment."""

    id: int
    workspace_id: str
    segment_id: str
    profile_id: str
    kind: str
    at: datetime


def spec_json(segment: Segment) -> str:
    return orjson.dumps(
        segment.model_dump(mode="json", by_alias=True, exclude_none=True),
        option=orjson.OPT_SORT_KEYS,
    ).decode()


_COMPILED: dict[str, Segment] = {}


def compiled(spec: str) -> Segment:
    """A stored spec as a model, cached by its text (specs never change in place)."""
    found = _COMPILED.get(spec)
    if found is None:
        found = Segment.model_validate(orjson.loads(spec))
        if len(_COMPILED) > 10_000:
            _COMPILED.clear()
        _COMPILED[spec] = found
    return found


class SegmentStore:
    """Segment operations over a :class:`SqlStore`; each takes the caller's connection
    where it must be part of a larger transaction."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    # -- definitions ---------------------------------------------------------------------

    def records(self, conn: Connection, workspace_id: str | None = None) -> list[SegmentRecord]:
        t = schema.segments
        query = sa.select(t).order_by(t.c.workspace_id, t.c.segment_id)
        if workspace_id is not None:
            query = query.where(t.c.workspace_id == workspace_id)
        return [
            SegmentRecord(
                workspace_id=r.workspace_id,
                segment_id=r.segment_id,
                name=r.name,
                version=r.version,
                segment=compiled(r.spec),
                created_at=r.created_at,
                updated_at=r.updated_at,
            )
            for r in conn.execute(query)
        ]

    def segments(self, workspace_id: str) -> list[SegmentRecord]:
        with self.store.engine.connect() as conn:
            return self.records(conn, workspace_id)

    def record(self, workspace_id: str, segment_id: str) -> SegmentRecord | None:
        return next((r for r in self.segments(workspace_id) if r.segment_id == segment_id), None)

    def save(
        self, conn: Connection, workspace_id: str, segment: Segment, now: datetime
    ) -> tuple[int, str]:
        """Store a segment; returns its version and ``created``, ``changed`` or ``unchanged``."""
        t = schema.segments
        spec = spec_json(segment)
        digest = hashlib.sha256(spec.encode()).hexdigest()
        row = conn.execute(
            sa.select(t.c.version, t.c.digest).where(
                t.c.workspace_id == workspace_id, t.c.segment_id == segment.id
            )
        ).first()
        if row is None:
            conn.execute(
                sa.insert(t).values(
                    workspace_id=workspace_id,
                    segment_id=segment.id,
                    name=segment.title[:200],
                    spec=spec,
                    digest=digest,
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
            )
            return 1, "created"
        if row.digest == digest:
            return row.version, "unchanged"
        conn.execute(
            sa.update(t)
            .where(t.c.workspace_id == workspace_id, t.c.segment_id == segment.id)
            .values(
                name=segment.title[:200],
                spec=spec,
                digest=digest,
                version=row.version + 1,
                updated_at=now,
            )
        )
        return row.version + 1, "changed"

    # -- facts ---------------------------------------------------------------------------

    def profile_ids(self, conn: Connection, workspace_id: str) -> list[str]:
        p = schema.profiles
        return list(
            conn.scalars(sa.select(p.c.id).where(p.c.workspace_id == workspace_id).order_by(p.c.id))
        )

    def facts(
        self,
        conn: Connection,
        workspace_id: str,
        profile_ids: Sequence[str],
        names: set[str],
        filtered: set[str] | None = None,
        *,
        journeys: bool = False,
        stages: bool = False,
        histories: Histories | None = None,
    ) -> dict[str, Facts]:
        """What each existing profile's memberships are evaluated from (see
        :func:`~wayline.segments.facts.read_facts`)."""
        return read_facts(
            conn,
            workspace_id,
            profile_ids,
            names,
            filtered,
            journeys=journeys,
            stages=stages,
            histories=histories,
        )

    # -- membership ----------------------------------------------------------------------

    def enter(
        self,
        conn: Connection,
        workspace_id: str,
        entries: Iterable[tuple[str, str, datetime]],
        *,
        announce: bool,
    ) -> None:
        """Add (segment, profile, at) memberships and log them."""
        rows = list(entries)
        if not rows:
            return
        conn.execute(
            sa.insert(schema.segment_members),
            [
                {"workspace_id": workspace_id, "segment_id": s, "profile_id": p, "entered_at": at}
                for s, p, at in rows
            ],
        )
        self._log(conn, workspace_id, rows, "entered", announce)

    def leave(
        self,
        conn: Connection,
        workspace_id: str,
        exits: Iterable[tuple[str, str, datetime]],
        *,
        announce: bool,
    ) -> None:
        rows = list(exits)
        if not rows:
            return
        m = schema.segment_members
        by_segment: dict[str, list[str]] = defaultdict(list)
        for s, p, _ in rows:
            by_segment[s].append(p)
        for segment_id, profiles in by_segment.items():
            for start in range(0, len(profiles), 500):
                conn.execute(
                    sa.delete(m).where(
                        m.c.workspace_id == workspace_id,
                        m.c.segment_id == segment_id,
                        m.c.profile_id.in_(profiles[start : start + 500]),
                    )
                )
        self._log(conn, workspace_id, rows, "exited", announce)

    def _log(
        self,
        conn: Connection,
        workspace_id: str,
        rows: list[tuple[str, str, datetime]],
        kind: str,
        announce: bool,
    ) -> None:
        conn.execute(
            sa.insert(schema.segment_changes),
            [
                {
                    "workspace_id": workspace_id,
                    "segment_id": s,
                    "profile_id": p,
                    "kind": kind,
                    "at": at,
                    "pending": announce,
                }
                for s, p, at in rows
            ],
        )

    def forget(self, conn: Connection, workspace_id: str, profile_ids: Sequence[str]) -> None:
        """A profile that is gone (merged into another, erased) is in no segment."""
        for start in range(0, len(profile_ids), 500):
            chunk = list(profile_ids[start : start + 500])
            for table in (schema.segment_members, schema.segment_rechecks):
                conn.execute(
                    sa.delete(table).where(
                        table.c.workspace_id == workspace_id, table.c.profile_id.in_(chunk)
                    )
                )

    def schedule(
        self, conn: Connection, workspace_id: str, due: dict[str, datetime | None]
    ) -> None:
        """Set each profile's next re-check (``None``: none; the row stays, due at
        :data:`NEVER`, to record that the profile has been evaluated)."""
        r = schema.segment_rechecks
        ids = sorted(due)
        for start in range(0, len(ids), 500):
            conn.execute(
                sa.delete(r).where(
                    r.c.workspace_id == workspace_id, r.c.profile_id.in_(ids[start : start + 500])
                )
            )
        rows = [
            {"workspace_id": workspace_id, "profile_id": p, "due_at": when or NEVER}
            for p, when in due.items()
        ]
        if rows:
            conn.execute(sa.insert(r), rows)

    def dues(
        self, conn: Connection, workspace_id: str, profile_ids: Sequence[str]
    ) -> dict[str, datetime]:
        """The re-checks now set for these profiles."""
        r = schema.segment_rechecks
        found: dict[str, datetime] = {}
        ordered = sorted(profile_ids)
        for start in range(0, len(ordered), 500):
            for profile_id, due_at in conn.execute(
                sa.select(r.c.profile_id, r.c.due_at).where(
                    r.c.workspace_id == workspace_id,
                    r.c.profile_id.in_(ordered[start : start + 500]),
                )
            ):
                found[profile_id] = due_at
        return found

    def due(self, conn: Connection, now: datetime, limit: int) -> list[tuple[str, str, datetime]]:
        """Re-checks that have fallen due: (workspace, profile, due time), earliest first."""
        r = schema.segment_rechecks
        rows = conn.execute(
            sa.select(r.c.workspace_id, r.c.profile_id, r.c.due_at)
            .where(r.c.due_at <= now)
            .order_by(r.c.due_at)
            .limit(limit)
        )
        return [(row.workspace_id, row.profile_id, row.due_at) for row in rows]

    def next_due(self, conn: Connection, after: datetime) -> datetime | None:
        r = schema.segment_rechecks
        return aware(
            conn.scalar(
                sa.select(sa.func.min(r.c.due_at)).where(r.c.due_at > after, r.c.due_at < NEVER)
            )
        )

    # -- reading -------------------------------------------------------------------------

    def size(self, workspace_id: str, segment_id: str) -> int:
        m = schema.segment_members
        with self.store.engine.connect() as conn:
            return int(
                conn.scalar(
                    sa.select(sa.func.count()).where(
                        m.c.workspace_id == workspace_id, m.c.segment_id == segment_id
                    )
                )
                or 0
            )

    def members(
        self, workspace_id: str, segment_id: str, *, limit: int, after: str | None = None
    ) -> list[tuple[str, datetime]]:
        """(profile id, entered at), by profile id, after the ``after`` profile id."""
        m = schema.segment_members
        query = sa.select(m.c.profile_id, m.c.entered_at).where(
            m.c.workspace_id == workspace_id, m.c.segment_id == segment_id
        )
        if after:
            query = query.where(m.c.profile_id > after)
        with self.store.engine.connect() as conn:
            rows = conn.execute(query.order_by(m.c.profile_id).limit(limit))
            return [(r.profile_id, r.entered_at) for r in rows]

    def member_ids(self, conn: Connection, workspace_id: str, segment_id: str) -> set[str]:
        m = schema.segment_members
        return set(
            conn.scalars(
                sa.select(m.c.profile_id).where(
                    m.c.workspace_id == workspace_id, m.c.segment_id == segment_id
                )
            )
        )

    def membership(self, workspace_id: str, segment_id: str, profile_id: str) -> datetime | None:
        m = schema.segment_members
        with self.store.engine.connect() as conn:
            return aware(
                conn.scalar(
                    sa.select(m.c.entered_at).where(
                        m.c.workspace_id == workspace_id,
                        m.c.segment_id == segment_id,
                        m.c.profile_id == profile_id,
                    )
                )
            )

    def changes(self, workspace_id: str, segment_id: str) -> list[tuple[datetime, int]]:
        """(moment, +1 or -1) of every change, oldest first: the size over time."""
        c = schema.segment_changes
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(c.c.at, c.c.kind)
                .where(c.c.workspace_id == workspace_id, c.c.segment_id == segment_id)
                .order_by(c.c.at, c.c.id)
            )
            return [(r.at, 1 if r.kind == "entered" else -1) for r in rows]

    def pending(self, conn: Connection, limit: int) -> list[Change]:
        return change_log.pending(conn, schema.segment_changes, limit, Change)

    def sent(self, ids: Sequence[int]) -> None:
        change_log.mark_sent(self.store, schema.segment_changes, ids)

    def senders(
        self, conn: Connection, profile_ids: set[str]
    ) -> dict[str, tuple[str | None, str | None]]:
        """Profile id -> (userId, anonymousId) to send its segment events as."""
        i = schema.identities
        found: dict[str, dict[str, str]] = defaultdict(dict)
        ordered = sorted(profile_ids)
        for start in range(0, len(ordered), 500):
            for row in conn.execute(
                sa.select(i.c.profile_id, i.c.kind, i.c.value)
                .where(
                    i.c.profile_id.in_(ordered[start : start + 500]),
                    i.c.kind.in_(["user_id", "anonymous_id"]),
                )
                .order_by(i.c.first_seen.desc(), i.c.value)
            ):
                found[row.profile_id].setdefault(row.kind, row.value)
        return {p: (v.get("user_id"), v.get("anonymous_id")) for p, v in found.items()}


def memberships_of(conn: Connection, profile_ids: Iterable[str]) -> dict[str, frozenset[str]]:
    """Profile id -> the segments it is a member of now."""
    m = schema.segment_members
    ordered = sorted(set(profile_ids))
    found: dict[str, set[str]] = defaultdict(set)
    for start in range(0, len(ordered), 500):
        for profile_id, segment_id in conn.execute(
            sa.select(m.c.profile_id, m.c.segment_id).where(
                m.c.profile_id.in_(ordered[start : start + 500])
            )
        ):
            found[profile_id].add(segment_id)
    return {p: frozenset(s) for p, s in found.items()}
