"""The profile consumer's open transaction: the identities and profiles a batch of inbox
events links, merges and writes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.errors import ConsumerConflict
from wayline.store import schema
from wayline.store.base import Cursor, IdentityChanges, IdentityKind, InboxEvent, Profile
from wayline.store.erasure import erase_stage_state
from wayline.store.merges import follow_merge, merged_away
from wayline.store.rows import profile

if TYPE_CHECKING:
    from wayline.store.sql import SqlStore


class SqlIdentityBatch:
    """An open transaction of the profile consumer (see :class:`IdentityBatch`)."""

    def __init__(
        self,
        store: SqlStore,
        conn: Connection,
        events: list[InboxEvent],
        cursor: Cursor,
        *,
        moves_cursor: bool = True,
    ) -> None:
        self._store = store
        self._conn = conn
        self.events = events
        #: where the consumer stood when it read ``events``
        self.cursor = cursor
        #: False for events given explicitly (a dead letter retried): they lie behind it
        self.moves_cursor = moves_cursor
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
                found[row.id] = profile(row)
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
