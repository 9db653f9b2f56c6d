"""The store over SQLAlchemy Core. What differs between SQLite and PostgreSQL lives in
``sqlite.py`` and ``postgres.py``; this module holds only what both share."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from wayline.clock import Clock
from wayline.errors import ConsumerConflict, WorkspaceExists
from wayline.events import EventRow
from wayline.store import schema
from wayline.store.base import (
    Credential,
    CredentialKind,
    Cursor,
    ErasureReport,
    Identity,
    IdentityBatch,
    IdentityChanges,
    IdentityKind,
    InboxEvent,
    NewWorkspace,
    PendingErasure,
    Profile,
    ProfileView,
    Rejection,
    Stats,
    Workspace,
)

#: The counter every erase bumps (workspace, name): consumers check it before they save.
ERASURES = ("*", "erasures")
#: The consumer that turns inbox events into profiles and identities.
PROFILES_CONSUMER = "profiles"
#: Identity kinds searched, in order, when a profile is looked up by any id.
LOOKUP_ORDER = (
    IdentityKind.USER_ID,
    IdentityKind.ANONYMOUS_ID,
    IdentityKind.EMAIL,
    IdentityKind.PHONE,
)
_SECRET_PREFIX = {CredentialKind.WRITE_KEY: "wk_", CredentialKind.ADMIN_TOKEN: "wa_"}


def hash_secret(secret: str) -> str:
    # Secrets are 256 random bits, so a fast hash is as safe as a slow one and lets every
    # request be authenticated by one indexed lookup.
    return hashlib.sha256(secret.encode()).hexdigest()


def new_id() -> str:
    return uuid.uuid4().hex


def _profile(row: Any) -> Profile:
    return Profile(
        id=row.id,
        workspace_id=row.workspace_id,
        traits=orjson.loads(row.traits),
        trait_times=orjson.loads(row.trait_times),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def aware(value: Any) -> datetime | None:
    """An aggregate over a time column comes back untyped from SQLite."""
    if value is None:
        return None
    when: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def inbox_event(row: Any) -> InboxEvent:
    return InboxEvent(
        seq=row.seq,
        txid=row.txid or 0,
        workspace_id=row.workspace_id,
        message_id=row.message_id,
        type=row.type,
        event=row.event,
        user_id=row.user_id,
        anonymous_id=row.anonymous_id,
        timestamp=row.timestamp,
        received_at=row.received_at,
        payload=bytes(row.payload),
    )


class SqlIdentityBatch:
    """An open transaction of the profile consumer (see :class:`IdentityBatch`)."""

    def __init__(
        self, store: SqlStore, conn: Connection, events: list[InboxEvent], cursor: Cursor
    ) -> None:
        self._store = store
        self._conn = conn
        self.events = events
        #: where the consumer stood when it read ``events``
        self.cursor = cursor
        #: how many erases had happened when it read them
        self.erasure_mark = store._erasure_mark(conn, lock=False)
        #: the cursor moves past ``events`` only once their changes are saved
        self.saved = False
        #: rows this batch added to the identity tables
        self.grown = 0
        #: the stored traits of the profiles it read, as read: a journey may change a
        #: profile meanwhile (``update_profile``), and saving must not undo that
        self.read_traits: dict[str, tuple[str, str]] = {}

    def identities(self, keys: set[tuple[str, str, str]]) -> dict[tuple[str, str, str], str]:
        # grouped by (workspace, kind) so that each lookup is `value IN (…)` on the key
        groups: dict[tuple[str, str], list[str]] = {}
        for workspace_id, kind, value in keys:
            groups.setdefault((workspace_id, kind), []).append(value)
        found: dict[tuple[str, str, str], str] = {}
        t = schema.identities
        for (workspace_id, kind), values in groups.items():
            for start in range(0, len(values), 500):
                rows = self._conn.execute(
                    sa.select(t.c.value, t.c.profile_id).where(
                        t.c.workspace_id == workspace_id,
                        t.c.kind == kind,
                        t.c.value.in_(values[start : start + 500]),
                    )
                )
                for value, profile_id in rows:
                    found[(workspace_id, kind, value)] = profile_id
        return found

    def profiles(self, ids: set[str]) -> dict[str, Profile]:
        found: dict[str, Profile] = {}
        ordered = sorted(ids)
        for start in range(0, len(ordered), 500):
            rows = self._conn.execute(
                sa.select(schema.profiles).where(
                    schema.profiles.c.id.in_(ordered[start : start + 500])
                )
            )
            for row in rows:
                found[row.id] = _profile(row)
                self.read_traits[row.id] = (row.traits, row.trait_times)
        return found

    def user_profiles(self, ids: set[str]) -> set[str]:
        t = schema.identities
        found: set[str] = set()
        ordered = sorted(ids)
        for start in range(0, len(ordered), 500):
            found.update(
                self._conn.scalars(
                    sa.select(t.c.profile_id)
                    .distinct()
                    .where(
                        t.c.profile_id.in_(ordered[start : start + 500]),
                        t.c.kind == IdentityKind.USER_ID.value,
                    )
                )
            )
        return found

    def save(self, changes: IdentityChanges) -> None:
        self._store._save_identities(self, self._conn, changes)
        self.saved = True

    def apply(self, conn: Connection, changes: IdentityChanges) -> None:
        """Write the changes in ``conn``'s transaction.

        An erase since the batch was read (it may have removed events of this batch, or
        profiles it writes to) makes the batch start again rather than bring the erased
        customer back. Erases bump a counter first thing; the row lock taken here orders
        the two on PostgreSQL, SQLite's single writer does on SQLite.
        """
        from wayline.store.journeys import follow_merge
        from wayline.store.segments import merged_away
        from wayline.store.stages import erase_stage_state

        store = self._store
        if store._erasure_mark(conn, lock=True) != self.erasure_mark:
            raise ConsumerConflict("a customer was erased while this batch was worked out")
        self._check_traits(conn)
        now = store.clock.now()
        created: dict[str, int] = {}
        for merge in changes.merges:
            conn.execute(
                sa.update(schema.identities)
                .where(schema.identities.c.profile_id == merge.from_profile_id)
                .values(profile_id=merge.into_profile_id)
            )
            deleted = conn.execute(
                sa.delete(schema.profiles).where(schema.profiles.c.id == merge.from_profile_id)
            ).rowcount
            created[merge.workspace_id] = created.get(merge.workspace_id, 0) - deleted
            follow_merge(conn, merge.workspace_id, merge.from_profile_id, merge.into_profile_id)
            merged_away(conn, merge.workspace_id, merge.from_profile_id, merge.into_profile_id, now)
            # its stage moves with its history: the tracker places the surviving profile
            erase_stage_state(conn, merge.workspace_id, merge.from_profile_id)
            conn.execute(
                sa.insert(schema.profile_merges).values(
                    workspace_id=merge.workspace_id,
                    from_profile_id=merge.from_profile_id,
                    into_profile_id=merge.into_profile_id,
                    merged_at=merge.merged_at,
                    message_id=merge.message_id,
                )
            )
        if changes.profiles:
            store._upsert_profiles(conn, changes.profiles, now)
        for workspace_id, count in changes.created.items():
            created[workspace_id] = created.get(workspace_id, 0) + count
        if changes.identities:
            store._upsert_identities(conn, changes.identities, now)
        self.grown = len(changes.identities) + sum(changes.created.values())
        for workspace_id, delta in created.items():
            if delta:
                store._bump(conn, workspace_id, "profiles", delta)

    def _check_traits(self, conn: Connection) -> None:
        """Start again when a profile this batch read has changed since (a journey wrote
        traits): the batch writes whole profiles, so saving would undo that change.

        The rows stay locked until the batch commits. A journey worker that wants to write
        one of them waits; one that already holds an instance lock a merge of this batch
        needs can deadlock with it, which PostgreSQL breaks by failing one of the two
        transactions, and that one is simply tried again.
        """
        ids = sorted(self.read_traits)
        p = schema.profiles
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            now = {
                row.id: (row.traits, row.trait_times)
                for row in conn.execute(
                    sa.select(p.c.id, p.c.traits, p.c.trait_times)
                    .where(p.c.id.in_(chunk))
                    .order_by(p.c.id)
                    .with_for_update()
                )
            }
            if any(now.get(i) != self.read_traits[i] for i in chunk):
                raise ConsumerConflict("a profile changed while this batch was worked out")


class SqlStore:
    """Shared implementation; a backend subclass supplies the dialect-specific pieces."""

    dialect = "sql"

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    # -- what each backend provides ------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A transaction that will write (SQLite takes the write lock at its start)."""
        with self.engine.begin() as conn:
            yield conn

    def _insert_events(self, conn: Connection, rows: list[dict[str, Any]]) -> int:
        raise NotImplementedError

    #: The dialect's INSERT, which offers ON CONFLICT on both SQLite and PostgreSQL.
    _insert: Callable[[sa.Table], Any]

    def _upsert_identities(
        self, conn: Connection, identities: Sequence[Identity], now: datetime
    ) -> None:
        stmt = self._insert(schema.identities)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["workspace_id", "kind", "value"],
                set_={"profile_id": stmt.excluded.profile_id},
            ),
            [
                {
                    "workspace_id": i.workspace_id,
                    "kind": i.kind.value,
                    "value": i.value,
                    "profile_id": i.profile_id,
                    "first_seen": now,
                }
                for i in identities
            ],
        )

    def _upsert_profiles(
        self, conn: Connection, profiles: Sequence[Profile], now: datetime
    ) -> None:
        stmt = self._insert(schema.profiles)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["id"],
                set_={c: stmt.excluded[c] for c in ("traits", "trait_times", "updated_at")},
            ),
            self._profile_rows(profiles, now),
        )

    def _bump(self, conn: Connection, workspace_id: str, name: str, delta: int) -> None:
        stmt = self._insert(schema.counters).values(
            workspace_id=workspace_id, name=name, value=delta
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["workspace_id", "name"],
                set_={"value": schema.counters.c.value + stmt.excluded.value},
            )
        )

    @staticmethod
    def _profile_rows(profiles: Sequence[Profile], now: datetime) -> list[dict[str, Any]]:
        return [
            {
                "id": p.id,
                "workspace_id": p.workspace_id,
                "traits": orjson.dumps(p.traits).decode(),
                "trait_times": orjson.dumps(p.trait_times).decode(),
                "created_at": p.created_at,
                "updated_at": now,
            }
            for p in profiles
        ]

    def _read_inbox(self, conn: Connection, after: Cursor, limit: int) -> list[InboxEvent]:
        """The next ``limit`` events after the cursor that no later commit can precede."""
        raise NotImplementedError

    def _claim_rows(self, query: sa.Select[Any]) -> sa.Select[Any]:
        """The rows a claim (outbox, …) takes, kept from other claimers until it commits.

        As is by default: a claim runs in a write transaction, and SQLite has one writer.
        """
        return query

    def migrate(self) -> None:
        from wayline.store.migrations import upgrade

        with self.engine.begin() as conn:
            upgrade(conn)

    def close(self) -> None:
        self.engine.dispose()

    # -- workspaces ----------------------------------------------------------------------

    def create_workspace(self, name: str, *, timezone: str = "UTC") -> NewWorkspace:
        now = self.clock.now()
        workspace = Workspace(id=new_id(), name=name, timezone=timezone, created_at=now)
        secrets_by_kind = {
            kind: _SECRET_PREFIX[kind] + secrets.token_urlsafe(32) for kind in CredentialKind
        }
        with self._write() as conn:
            if (
                conn.scalar(
                    sa.select(schema.workspaces.c.id).where(schema.workspaces.c.name == name)
                )
                is not None
            ):
                raise WorkspaceExists(f"a workspace named {name!r} already exists")
            conn.execute(
                sa.insert(schema.workspaces).values(
                    id=workspace.id, name=name, timezone=timezone, created_at=now
                )
            )
            conn.execute(
                sa.insert(schema.credentials),
                [
                    {
                        "id": new_id(),
                        "workspace_id": workspace.id,
                        "kind": kind.value,
                        "secret_hash": hash_secret(secret),
                        "prefix": secret[:10],
                        "created_at": now,
                    }
                    for kind, secret in secrets_by_kind.items()
                ],
            )
        return NewWorkspace(
            workspace=workspace,
            write_key=secrets_by_kind[CredentialKind.WRITE_KEY],
            admin_token=secrets_by_kind[CredentialKind.ADMIN_TOKEN],
        )

    def workspace(self, name_or_id: str) -> Workspace | None:
        t = schema.workspaces
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(t).where(sa.or_(t.c.id == name_or_id, t.c.name == name_or_id))
            ).first()
        if row is None:
            return None
        return Workspace(id=row.id, name=row.name, timezone=row.timezone, created_at=row.created_at)

    def list_workspaces(self) -> list[Workspace]:
        t = schema.workspaces
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t).order_by(t.c.created_at)).all()
        return [
            Workspace(id=r.id, name=r.name, timezone=r.timezone, created_at=r.created_at)
            for r in rows
        ]

    def iter_workspace_ids(self) -> Iterator[str]:
        yield from (w.id for w in self.list_workspaces())

    def authenticate(self, secret: str) -> Credential | None:
        t = schema.credentials
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(t.c.workspace_id, t.c.kind).where(
                    t.c.secret_hash == hash_secret(secret), t.c.revoked_at.is_(None)
                )
            ).first()
        if row is None:
            return None
        return Credential(workspace_id=row.workspace_id, kind=CredentialKind(row.kind))

    # -- ingestion -----------------------------------------------------------------------

    def append_events(
        self, workspace_id: str, events: Sequence[EventRow], rejections: Sequence[Rejection] = ()
    ) -> int:
        rows = [
            {
                "workspace_id": workspace_id,
                "message_id": e.message_id,
                "type": e.type,
                "event": e.event,
                "user_id": e.user_id,
                "anonymous_id": e.anonymous_id,
                "timestamp": e.timestamp,
                "received_at": e.received_at,
                "payload": e.payload,
            }
            for e in events
        ]
        with self._write() as conn:
            inserted = self._insert_events(conn, rows) if rows else 0
            if inserted:
                self._bump(conn, workspace_id, "events", inserted)
            if rejections:
                self._insert_rejections(conn, workspace_id, rejections)
        return inserted

    def _insert_rejections(
        self, conn: Connection, workspace_id: str, rejections: Sequence[Rejection]
    ) -> None:
        now = self.clock.now()
        conn.execute(
            sa.insert(schema.rejections),
            [
                {
                    "workspace_id": workspace_id,
                    "received_at": now,
                    "source": r.source,
                    "position": r.position,
                    "message_id": r.message_id,
                    "field": r.field[:100],
                    "error": r.error,
                    "payload": r.payload[:32768] if r.payload else None,
                }
                for r in rejections
            ],
        )
        self._bump(conn, workspace_id, "rejected", len(rejections))

    def rejections(self, workspace_id: str, limit: int = 100) -> list[dict[str, Any]]:
        t = schema.rejections
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    t.c.id,
                    t.c.received_at,
                    t.c.source,
                    t.c.position,
                    t.c.message_id,
                    t.c.field,
                    t.c.error,
                )
                .where(t.c.workspace_id == workspace_id)
                .order_by(t.c.id.desc())
                .limit(limit)
            ).all()
        return [
            {
                "id": r.id,
                "received_at": r.received_at.isoformat(),
                "source": r.source,
                "position": r.position,
                "message_id": r.message_id,
                "field": r.field,
                "error": r.error,
            }
            for r in rows
        ]

    def stats(self, workspace_id: str) -> Stats:
        t = schema.counters
        with self.engine.connect() as conn:
            values = {
                name: value
                for name, value in conn.execute(
                    sa.select(t.c.name, t.c.value).where(t.c.workspace_id == workspace_id)
                )
            }
        return Stats(
            events=values.get("events", 0),
            profiles=values.get("profiles", 0),
            rejected=values.get("rejected", 0),
        )

    # -- consumers -----------------------------------------------------------------------

    def read_inbox(self, after: Cursor, limit: int) -> list[InboxEvent]:
        with self.engine.connect() as conn:
            return self._read_inbox(conn, after, limit)

    def _cursor(self, conn: Connection, name: str) -> Cursor:
        row = conn.execute(
            sa.select(schema.consumer_cursors.c.txid, schema.consumer_cursors.c.seq).where(
                schema.consumer_cursors.c.name == name
            )
        ).first()
        return Cursor() if row is None else Cursor(txid=row.txid, seq=row.seq)

    def _set_cursor(self, conn: Connection, name: str, old: Cursor, new: Cursor) -> None:
        t = schema.consumer_cursors
        now = self.clock.now()
        updated = conn.execute(
            sa.update(t)
            .where(t.c.name == name, t.c.txid == old.txid, t.c.seq == old.seq)
            .values(txid=new.txid, seq=new.seq, updated_at=now)
        ).rowcount
        if not updated:
            conn.execute(sa.insert(t).values(name=name, txid=new.txid, seq=new.seq, updated_at=now))

    def _lock_cursor(self, conn: Connection, name: str) -> Cursor:
        """Read a consumer's cursor, holding it so that no other process consumes the same
        slice (SQLite: the write lock is already held; PostgreSQL: a row lock)."""
        return self._cursor(conn, name)

    def inbox_after(self, after: Cursor) -> int:
        t = schema.inbox
        with self.engine.connect() as conn:
            return int(
                conn.scalar(
                    sa.select(sa.func.count())
                    .select_from(t)
                    .where(
                        sa.tuple_(sa.func.coalesce(t.c.txid, 0), t.c.seq)
                        > sa.tuple_(after.txid, after.seq)
                    )
                )
                or 0
            )

    def profiles_lag(self) -> int:
        with self.engine.connect() as conn:
            cursor = self._cursor(conn, PROFILES_CONSUMER)
        return self.inbox_after(cursor)

    @contextmanager
    def identity_batch(self, limit: int) -> Iterator[IdentityBatch]:
        with self._write() as conn:
            cursor = self._lock_cursor(conn, PROFILES_CONSUMER)
            events = self._read_inbox(conn, cursor, limit)
            batch = SqlIdentityBatch(self, conn, events, cursor)
            yield batch
            if events and batch.saved:
                self._set_cursor(conn, PROFILES_CONSUMER, cursor, events[-1].cursor)
        if batch.grown:
            self._tables_grew(batch.grown)

    def _erasure_mark(self, conn: Connection, *, lock: bool) -> int:
        t = schema.counters
        query = sa.select(t.c.value).where(t.c.workspace_id == ERASURES[0], t.c.name == ERASURES[1])
        return int(conn.scalar(query.with_for_update(read=True) if lock else query) or 0)

    def _save_identities(
        self, batch: SqlIdentityBatch, conn: Connection, changes: IdentityChanges
    ) -> None:
        """Write a batch's changes; by default in the transaction that read the batch."""
        batch.apply(conn, changes)

    def _tables_grew(self, rows: int, tables: str = "identities, profiles") -> None:
        """``tables`` gained ``rows`` rows (a backend may refresh their statistics)."""

    # -- profiles ------------------------------------------------------------------------

    def find_profile(self, workspace_id: str, any_id: str) -> ProfileView | None:
        t = schema.identities
        with self.engine.connect() as conn:
            profile_id = conn.scalar(
                sa.select(schema.profiles.c.id).where(
                    schema.profiles.c.id == any_id, schema.profiles.c.workspace_id == workspace_id
                )
            )
            if profile_id is None:
                candidates = {
                    kind: owner
                    for kind, owner in conn.execute(
                        sa.select(t.c.kind, t.c.profile_id).where(
                            t.c.workspace_id == workspace_id,
                            t.c.value.in_({any_id, any_id.strip().lower()}),
                        )
                    )
                }
                profile_id = next(
                    (candidates[k.value] for k in LOOKUP_ORDER if k.value in candidates), None
                )
            if profile_id is None:
                return None
            row = conn.execute(
                sa.select(schema.profiles).where(schema.profiles.c.id == profile_id)
            ).first()
            if row is None:
                return None
            identities = [
                Identity(
                    workspace_id=r.workspace_id,
                    kind=IdentityKind(r.kind),
                    value=r.value,
                    profile_id=r.profile_id,
                )
                for r in conn.execute(
                    sa.select(t).where(t.c.profile_id == profile_id).order_by(t.c.kind, t.c.value)
                )
            ]
            ids = [(i.kind.value, i.value) for i in identities]
            first, last = conn.execute(
                sa.select(
                    sa.func.min(schema.inbox.c.timestamp), sa.func.max(schema.inbox.c.timestamp)
                ).where(self._event_filter(workspace_id, ids))
            ).one()
        return ProfileView(
            profile=_profile(row),
            identities=identities,
            first_seen=aware(first),
            last_seen=aware(last),
        )

    def _event_filter(self, workspace_id: str, ids: list[tuple[str, str]]) -> Any:
        users = [v for k, v in ids if k == IdentityKind.USER_ID]
        anonymous = [v for k, v in ids if k == IdentityKind.ANONYMOUS_ID]
        t = schema.inbox
        return sa.and_(
            t.c.workspace_id == workspace_id,
            sa.or_(t.c.user_id.in_(users), t.c.anonymous_id.in_(anonymous)),
        )

    def _profile_ids(self, conn: Connection, profile_id: str) -> list[tuple[str, str]]:
        t = schema.identities
        return [
            (r.kind, r.value)
            for r in conn.execute(
                sa.select(t.c.kind, t.c.value).where(t.c.profile_id == profile_id)
            )
        ]

    def profile_events(
        self,
        workspace_id: str,
        profile_id: str,
        *,
        limit: int,
        before: tuple[datetime, int] | None = None,
    ) -> list[InboxEvent]:
        t = schema.inbox
        with self.engine.connect() as conn:
            ids = self._profile_ids(conn, profile_id)
            query = sa.select(t).where(self._event_filter(workspace_id, ids))
            if before is not None:
                when, seq = before
                query = query.where(
                    sa.or_(t.c.timestamp < when, sa.and_(t.c.timestamp == when, t.c.seq < seq))
                )
            rows = conn.execute(query.order_by(t.c.timestamp.desc(), t.c.seq.desc()).limit(limit))
            return [inbox_event(r) for r in rows]

    def erase_profile(self, workspace_id: str, profile_id: str) -> ErasureReport:
        now = self.clock.now()
        with self._write() as conn:
            # first thing: a consumer batch either committed before (and everything it
            # linked is seen below) or sees the mark move and starts again
            self._bump(conn, *ERASURES, 1)
            ids = self._profile_ids(conn, profile_id)
            from wayline.suppression import forget_customer

            forget_customer(self, conn, workspace_id, profile_id, ids, now)
            events = conn.execute(
                sa.delete(schema.inbox).where(self._event_filter(workspace_id, ids))
            ).rowcount
            conn.execute(
                sa.delete(schema.identities).where(
                    schema.identities.c.profile_id == profile_id,
                    schema.identities.c.workspace_id == workspace_id,
                )
            )
            gone = conn.execute(
                sa.delete(schema.profiles).where(
                    schema.profiles.c.id == profile_id,
                    schema.profiles.c.workspace_id == workspace_id,
                )
            ).rowcount
            m = schema.profile_merges
            merges = conn.execute(
                sa.delete(m).where(
                    m.c.workspace_id == workspace_id,
                    sa.or_(m.c.from_profile_id == profile_id, m.c.into_profile_id == profile_id),
                )
            ).rowcount
            from wayline.store.journeys import erase_journey_state

            erase_journey_state(conn, workspace_id, profile_id)
            from wayline.store.segments import erase_segment_state

            erase_segment_state(conn, workspace_id, profile_id)
            from wayline.store.stages import erase_stage_state

            erase_stage_state(conn, workspace_id, profile_id)
            if events:
                self._bump(conn, workspace_id, "events", -events)
            if gone:
                self._bump(conn, workspace_id, "profiles", -gone)
            erasure_id = conn.execute(
                sa.insert(schema.erasures)
                .values(
                    workspace_id=workspace_id,
                    requested_at=now,
                    identities=orjson.dumps(ids).decode(),
                )
                .returning(schema.erasures.c.id)
            ).scalar_one()
        return ErasureReport(
            profile_id=profile_id,
            identities=ids,
            events=events,
            merges=merges,
            erasure_id=erasure_id,
        )

    def pending_erasures(self) -> list[PendingErasure]:
        t = schema.erasures
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t).order_by(t.c.id)).all()
        return [
            PendingErasure(
                id=r.id,
                workspace_id=r.workspace_id,
                identities=[(k, v) for k, v in orjson.loads(r.identities)],
            )
            for r in rows
        ]

    def finish_erasure(self, erasure_id: int) -> None:
        with self._write() as conn:
            conn.execute(sa.delete(schema.erasures).where(schema.erasures.c.id == erasure_id))
