"""The store over SQLAlchemy Core. What differs between SQLite and PostgreSQL lives in
``sqlite.py`` and ``postgres.py``; this module holds only what both share: transactions,
the inbox and consumer cursors. Workspaces, profiles, the profile consumer's batch and
erasure have modules of their own (``workspaces.py``, ``profiles.py``, ``identities.py``,
``erasure.py``), which :class:`SqlStore` calls."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from wayline.clock import Clock
from wayline.events import EventRow
from wayline.store import erasure, profiles, schema, secret_box, workspaces
from wayline.store import rejections as rejected
from wayline.store.base import (
    Credential,
    CredentialInfo,
    CredentialKind,
    Cursor,
    ErasureReport,
    Identity,
    IdentityBatch,
    IdentityChanges,
    InboxEvent,
    NewWorkspace,
    PendingErasure,
    Profile,
    ProfileView,
    Rejection,
    Stats,
    Workspace,
)
from wayline.store.identities import SqlIdentityBatch

#: The consumer that turns inbox events into profiles and identities.
PROFILES_CONSUMER = "profiles"


class SqlStore:
    """Shared implementation; a backend subclass supplies the dialect-specific pieces."""

    dialect = "sql"

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        self.secret_box = secret_box.UNCONFIGURED

    def use_secret_box(self, box: secret_box.SecretBox) -> None:
        """Encrypt and decrypt the workspace secrets with ``box`` (every query of them)."""
        self.secret_box = box
        secret_box.install(self.engine, box)

    def rotate_secrets(self) -> tuple[int, int]:
        """Every workspace secret re-encrypted with the current key: (rows, of which clear)."""
        return secret_box.rotate_all(self._write, self.secret_box)

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
        with self._write() as conn:
            return workspaces.create(conn, name, timezone, now)

    def workspace(self, name_or_id: str) -> Workspace | None:
        with self.engine.connect() as conn:
            return workspaces.find(conn, name_or_id)

    def list_workspaces(self) -> list[Workspace]:
        with self.engine.connect() as conn:
            return workspaces.listing(conn)

    def iter_workspace_ids(self) -> Iterator[str]:
        yield from (w.id for w in self.list_workspaces())

    def authenticate(self, secret: str) -> Credential | None:
        now = self.clock.now()
        with self.engine.connect() as conn:
            return workspaces.authenticate(conn, secret, now)

    def create_credential(
        self, workspace_id: str, kind: CredentialKind
    ) -> tuple[CredentialInfo, str]:
        now = self.clock.now()
        with self._write() as conn:
            return workspaces.create_credential(conn, workspace_id, kind, now)

    def list_credentials(self, workspace_id: str) -> list[CredentialInfo]:
        with self.engine.connect() as conn:
            return workspaces.list_credentials(conn, workspace_id)

    def revoke_credential(
        self, workspace_id: str, credential_id: str, *, at: datetime | None = None
    ) -> CredentialInfo:
        now = self.clock.now()
        with self._write() as conn:
            return workspaces.revoke_credential(conn, workspace_id, credential_id, at or now, now)

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
        rejected.insert(conn, workspace_id, rejections, self.clock.now())
        self._bump(conn, workspace_id, "rejected", len(rejections))

    def rejections(self, workspace_id: str, limit: int = 100) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return rejected.listing(conn, workspace_id, limit)

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
    def identity_batch(
        self, limit: int, *, events: Sequence[InboxEvent] | None = None
    ) -> Iterator[IdentityBatch]:
        with self._write() as conn:
            cursor = self._lock_cursor(conn, PROFILES_CONSUMER)
            taken = self._read_inbox(conn, cursor, limit) if events is None else list(events)
            batch = SqlIdentityBatch(self, conn, taken, cursor, moves_cursor=events is None)
            yield batch
            if taken and batch.saved and batch.moves_cursor:
                self._set_cursor(conn, PROFILES_CONSUMER, cursor, taken[-1].cursor)
        if batch.grown:
            self._tables_grew(batch.grown)

    def _erasure_mark(self, conn: Connection, *, lock: bool) -> int:
        t = schema.counters
        query = sa.select(t.c.value).where(
            t.c.workspace_id == erasure.ERASURES[0], t.c.name == erasure.ERASURES[1]
        )
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
        with self.engine.connect() as conn:
            return profiles.find(conn, workspace_id, any_id)

    def profile_events(
        self,
        workspace_id: str,
        profile_id: str,
        *,
        limit: int,
        before: tuple[datetime, int] | None = None,
    ) -> list[InboxEvent]:
        with self.engine.connect() as conn:
            return profiles.events(conn, workspace_id, profile_id, limit=limit, before=before)

    # -- erasure -------------------------------------------------------------------------

    def erase_profile(self, workspace_id: str, profile_id: str) -> ErasureReport:
        report = erasure.erase_profile(self, workspace_id, profile_id)
        self._after_erase(erasure.ERASED_TABLES)
        return report

    def _after_erase(self, tables: Sequence[str]) -> None:
        """Make what an erase deleted from ``tables`` unrecoverable from the database's
        files, where the backend leaves it behind (after the erase's commit: outside any
        transaction)."""

    def pending_erasures(self) -> list[PendingErasure]:
        with self.engine.connect() as conn:
            return erasure.pending(conn)

    def finish_erasure(self, erasure_id: int) -> None:
        with self._write() as conn:
            erasure.finish(conn, erasure_id)
        # the erasure's record named the customer's identities
        self._after_erase(("erasures",))
