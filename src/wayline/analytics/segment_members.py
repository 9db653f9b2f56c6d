"""Segment membership for analyses that break down by segment (``--breakdown segment:vip``).

Memberships live in the state store, keyed by profile; the warehouse knows a customer by
their ``userId`` (or the ``anonymousId`` of a visitor without one). This module reads the
members of the asked-for segments with every such id of theirs, a row per (id, segment), as
an Arrow table that an analysis joins in the warehouse as an Ibis memtable: the events never
leave the warehouse. Membership is as it is now, not as it was when the events happened.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from wayline.analytics.eventlog import InvalidAnalysis

if TYPE_CHECKING:
    import pyarrow as pa

    from wayline.store.sql import SqlStore

#: ``segment`` (every segment of the workspace) or ``segment:ID[,ID…]``.
SEGMENT_BREAKDOWN: Final = "segment"


def breakdown_segments(breakdown: str | None) -> tuple[str, ...] | None:
    """The segment ids a breakdown names (``()``: all of them), or ``None`` when it is not
    a segment breakdown. Raises :class:`InvalidAnalysis` naming ``breakdown``."""
    if breakdown is None:
        return None
    if breakdown == SEGMENT_BREAKDOWN:
        return ()
    head, colon, rest = breakdown.partition(":")
    if head != SEGMENT_BREAKDOWN or not colon:
        return None
    ids = tuple(s.strip() for s in rest.split(","))
    if not all(ids):
        raise InvalidAnalysis(
            "breakdown", f"{breakdown!r}: expected segment:ID or segment:ID,ID (no empty id)"
        )
    return tuple(dict.fromkeys(ids))


def segment_members(store: SqlStore, workspace_id: str, segment_ids: Sequence[str]) -> pa.Table:
    """``customer`` (userId or anonymousId), ``segment``: the members now of these segments
    (none given: every segment of the workspace). Raises :class:`InvalidAnalysis` naming
    ``breakdown`` for a segment that does not exist."""
    import pyarrow as pa
    import sqlalchemy as sa

    from wayline.segments.store import SegmentStore
    from wayline.store import schema

    known = [r.segment_id for r in SegmentStore(store).segments(workspace_id)]
    for segment_id in segment_ids:
        if segment_id not in known:
            raise InvalidAnalysis("breakdown", f"no segment {segment_id!r} in this workspace")
    wanted = list(segment_ids) or known
    m, i = schema.segment_members, schema.identities
    customers: list[str] = []
    segments: list[str] = []
    with store.engine.connect() as conn:
        for start in range(0, len(wanted), 500):
            rows = conn.execute(
                sa.select(i.c.value, m.c.segment_id)
                .join(
                    i,
                    (i.c.profile_id == m.c.profile_id) & (i.c.workspace_id == m.c.workspace_id),
                )
                .where(
                    m.c.workspace_id == workspace_id,
                    m.c.segment_id.in_(wanted[start : start + 500]),
                    i.c.kind.in_(["user_id", "anonymous_id"]),
                )
                .distinct()
            )
            for value, segment_id in rows:
                customers.append(value)
                segments.append(segment_id)
    return pa.table(
        {"customer": pa.array(customers, pa.string()), "segment": pa.array(segments, pa.string())}
    )


def as_ibis(members: pa.Table) -> Any:
    """The members as an Ibis memtable, to join in the warehouse."""
    import ibis

    return ibis.memtable(members)
