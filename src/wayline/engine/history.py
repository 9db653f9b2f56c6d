"""A customer's past events, asked by branch ``event`` conditions.

The events are read from the inbox through its (workspace, userId) and (workspace,
anonymousId) indexes, for the identities of that one customer, newest first, and only
until the count the condition needs is reached: never a scan of everyone's events.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.journeys.filters import matches
from wayline.store import schema

#: Rows read per query while counting events that pass a ``where``.
PAGE = 500


class EventHistory:
    """One customer's events, in the worker's transaction."""

    def __init__(self, conn: Connection, workspace_id: str, profile_id: str) -> None:
        self.conn = conn
        self.workspace_id = workspace_id
        self.profile_id = profile_id
        self._ids: tuple[list[str], list[str]] | None = None

    def _identities(self) -> tuple[list[str], list[str]]:
        if self._ids is None:
            t = schema.identities
            users: list[str] = []
            anonymous: list[str] = []
            for kind, value in self.conn.execute(
                sa.select(t.c.kind, t.c.value).where(
                    t.c.profile_id == self.profile_id, t.c.workspace_id == self.workspace_id
                )
            ):
                if kind == "user_id":
                    users.append(value)
                elif kind == "anonymous_id":
                    anonymous.append(value)
            self._ids = (users, anonymous)
        return self._ids

    def count(
        self,
        event: str,
        *,
        since: datetime | None,
        where: dict[str, Any] | None,
        enough: int,
    ) -> int:
        """How many ``event`` calls since ``since`` pass ``where``, counting up to ``enough``."""
        users, anonymous = self._identities()
        if not users and not anonymous:
            return 0
        t = schema.inbox
        query = sa.select(t.c.seq, t.c.payload).where(
            t.c.workspace_id == self.workspace_id,
            sa.or_(t.c.user_id.in_(users), t.c.anonymous_id.in_(anonymous)),
            t.c.type == "track",
            t.c.event == event,
        )
        if since is not None:
            query = query.where(t.c.timestamp >= since)
        found = 0
        last: int | None = None
        while found < enough:
            page = query if last is None else query.where(t.c.seq < last)
            rows = self.conn.execute(page.order_by(t.c.seq.desc()).limit(PAGE)).all()
            if not rows:
                break
            for seq, payload in rows:
                last = seq
                if not where or matches(where, orjson.loads(payload)):
                    found += 1
                    if found >= enough:
                        break
            if len(rows) < PAGE:
                break
        return found


def window_start(now: datetime, within: timedelta | None) -> datetime | None:
    return None if within is None else now - within
