"""Who a schedule entry enrols: its ``audience``, resolved to profiles page by page."""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.store import schema

#: Every customer of the workspace.
ALL = "all"


class AudienceNotSupported(ValueError):
    """Segment audiences are not enrolled yet: only ``all`` is."""


def audience_supported(audience: str) -> bool:
    return audience == ALL


def audience_page(
    conn: Connection, workspace_id: str, audience: str, *, after: str, limit: int
) -> list[tuple[str, dict[str, Any]]]:
    """The next ``limit`` members after profile id ``after`` (in id order), with traits.

    Raises :class:`AudienceNotSupported` for a segment, rather than enrol the wrong people.
    """
    if not audience_supported(audience):
        raise AudienceNotSupported(f"audience {audience!r}: segment audiences are not run yet")
    p = schema.profiles
    rows = conn.execute(
        sa.select(p.c.id, p.c.traits)
        .where(p.c.workspace_id == workspace_id, p.c.id > after)
        .order_by(p.c.id)
        .limit(limit)
    )
    return [(pid, orjson.loads(traits)) for pid, traits in rows]
