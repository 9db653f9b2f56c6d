"""Who a schedule entry enrols: its ``audience`` (``all``, or the members of a segment at
the moment each page is read), resolved to profiles page by page."""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.store import schema

#: Every customer of the workspace.
ALL = "all"


def audience_page(
    conn: Connection, workspace_id: str, audience: str, *, after: str, limit: int
) -> list[tuple[str, dict[str, Any]]]:
    """The next ``limit`` members after profile id ``after`` (in id order), with traits."""
    p = schema.profiles
    query = sa.select(p.c.id, p.c.traits).where(p.c.workspace_id == workspace_id, p.c.id > after)
    if audience != ALL:
        m = schema.segment_members
        query = query.join(
            m,
            (m.c.workspace_id == p.c.workspace_id)
            & (m.c.profile_id == p.c.id)
            & (m.c.segment_id == audience),
        )
    rows = conn.execute(query.order_by(p.c.id).limit(limit))
    return [(pid, orjson.loads(traits)) for pid, traits in rows]
