"""Waits: what an instance waits for (an event, a goal, an exit condition), found again
when a matching event arrives."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.store import schema
from wayline.store.journeys.rows import Wait
from wayline.store.sql import SqlStore


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


class Waits:
    """Wait operations of :class:`~wayline.store.journeys.JourneyStore`."""

    store: SqlStore
    #: Wait paths known to be committed (see _note_paths).
    _known_paths: set[tuple[str, str, str]]

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
