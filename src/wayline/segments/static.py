"""Static segments: the members are a fixed list, added and removed by hand or saved from a
funnel's drop-offs (PostHog's static cohorts, Customer.io's manual segments).

A static segment is never evaluated: its stored membership is the truth, for real-time
membership, for batch evaluation and for ``segments check`` alike. Everything else treats it
as any segment: customers added get ``Segment Entered`` (removed: ``Segment Exited``), so a
journey with ``entry: {segment: ID}`` enrols them, and segments that refer to it
(``{segment: ID}``) are re-evaluated for those customers in the same transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.clock import Clock
from wayline.errors import SegmentNotFound, WaylineError
from wayline.segments.membership import Membership, dependents, in_order
from wayline.segments.spec import Segment
from wayline.segments.store import SEGMENTS_CONSUMER, SegmentRecord, SegmentStore
from wayline.store import schema
from wayline.store.sql import SqlStore

if TYPE_CHECKING:
    from wayline.analytics.funnels import Funnel
    from wayline.analytics.warehouse import Warehouse

_CHUNK = 500


class SegmentNotStatic(WaylineError):
    """The segment's members follow its condition; only a static segment's are changed by
    hand."""


class SegmentExists(WaylineError):
    """A segment with this id already exists."""


@dataclass(frozen=True, kw_only=True)
class MemberChange:
    """What adding or removing members did."""

    segment_id: str
    #: Customers who entered (or left).
    changed: int
    #: Customers asked for who were already members (or already not).
    unchanged: int
    #: The segment's size afterwards.
    size: int


@dataclass(frozen=True, kw_only=True)
class SavedSegment:
    """A static segment saved from a funnel's drop-offs."""

    segment_id: str
    name: str
    #: The customers who dropped, as the warehouse counts them.
    dropped: int
    #: Members: those of them with a profile in the state store.
    size: int


def static_members(
    store: SqlStore, workspace_id: str, records: Iterable[SegmentRecord]
) -> dict[str, set[str]]:
    """Segment id -> the stored members of each static segment (empty for the others)."""
    wanted = sorted(r.segment_id for r in records if r.segment.is_static)
    found: dict[str, set[str]] = defaultdict(set)
    if not wanted:
        return found
    m = schema.segment_members
    with store.engine.connect() as conn:
        for segment_id, profile_id in conn.execute(
            sa.select(m.c.segment_id, m.c.profile_id).where(
                m.c.workspace_id == workspace_id, m.c.segment_id.in_(wanted)
            )
        ):
            found[segment_id].add(profile_id)
    return found


def profiles_of(
    conn: Connection, workspace_id: str, keys: Sequence[str], kinds: Sequence[str]
) -> dict[str, str]:
    """Key -> profile id, each key looked up as each of ``kinds`` in turn (``profile``: a
    profile id; ``user_id``, ``anonymous_id``: an identity); keys found by none are absent."""
    found: dict[str, str] = {}
    p, i = schema.profiles, schema.identities
    for kind in kinds:
        left = sorted({k for k in keys if k and k not in found})
        for start in range(0, len(left), _CHUNK):
            chunk = left[start : start + _CHUNK]
            if kind == "profile":
                query = sa.select(p.c.id, p.c.id).where(
                    p.c.workspace_id == workspace_id, p.c.id.in_(chunk)
                )
            else:
                query = sa.select(i.c.value, i.c.profile_id).where(
                    i.c.workspace_id == workspace_id, i.c.kind == kind, i.c.value.in_(chunk)
                )
            for key, profile_id in conn.execute(query):
                found.setdefault(key, profile_id)
    return found


def _static_record(seg: SegmentStore, conn: Connection, workspace_id: str, segment_id: str) -> None:
    record = next((r for r in seg.records(conn, workspace_id) if r.segment_id == segment_id), None)
    if record is None:
        raise SegmentNotFound(f"no segment {segment_id!r}")
    if not record.segment.is_static:
        raise SegmentNotStatic(
            f"segment {segment_id!r} is not static: its members follow its where"
        )


def check_static(store: SqlStore, workspace_id: str, segment_id: str) -> None:
    """Raises :class:`SegmentNotFound` or :class:`SegmentNotStatic`."""
    seg = SegmentStore(store)
    with store.engine.connect() as conn:
        _static_record(seg, conn, workspace_id, segment_id)


def change_members(
    store: SqlStore,
    clock: Clock,
    workspace_id: str,
    segment_id: str,
    profile_ids: Iterable[str],
    *,
    add: bool,
) -> MemberChange:
    """Add (or remove) these profiles to a static segment, announce who entered (left),
    and re-evaluate the segments that refer to it for them.

    The segment consumer's cursor is held meanwhile, as when segments are applied, so no
    event is evaluated against half-changed memberships.
    """
    membership = Membership(store, clock)
    seg = membership.segments
    wanted = set(profile_ids)
    now = clock.now()
    with store._write() as conn:
        store._lock_cursor(conn, SEGMENTS_CONSUMER)
        _static_record(seg, conn, workspace_id, segment_id)
        current = seg.member_ids(conn, workspace_id, segment_id)
        moving = sorted(wanted - current if add else wanted & current)
        rows = [(segment_id, p, now) for p in moving]
        if add:
            seg.enter(conn, workspace_id, rows, announce=True)
        else:
            seg.leave(conn, workspace_id, rows, announce=True)
        records = in_order(seg.records(conn, workspace_id))
        scope = dependents(records, {segment_id}) - {segment_id}
        if moving and scope:
            for start in range(0, len(moving), 2000):
                membership.evaluate(
                    conn, records, workspace_id, moving[start : start + 2000], now, only=scope
                )
        size = len(current) + (len(moving) if add else -len(moving))
    while membership.announce():
        pass
    return MemberChange(
        segment_id=segment_id,
        changed=len(moving),
        unchanged=len(wanted) - len(moving),
        size=size,
    )


def static_segment(segment_id: str, name: str | None) -> Segment:
    """The model of a static segment, checked as a segment file would be: raises
    :class:`~wayline.errors.SegmentInvalid` naming ``id`` or ``name``."""
    import orjson

    from wayline.segments.loading import read_segment_text

    body: dict[str, object] = {"id": segment_id, "static": True}
    if name is not None:
        body["name"] = name
    return read_segment_text(orjson.dumps(body).decode(), "<segment>").segment


def create_static(store: SqlStore, clock: Clock, workspace_id: str, segment: Segment) -> None:
    """Store a new, empty static segment; raises :class:`SegmentExists` if the id is taken."""
    from wayline.segments.lifecycle import apply_segments

    if SegmentStore(store).record(workspace_id, segment.id) is not None:
        raise SegmentExists(f"segment {segment.id!r} exists already; choose a new id")
    apply_segments(store, clock, workspace_id, [segment])


def save_dropped(
    store: SqlStore,
    clock: Clock,
    warehouse: Warehouse,
    workspace_id: str,
    spec: Funnel,
    step: int,
    segment_id: str,
    name: str | None = None,
) -> SavedSegment:
    """Save the customers who reached step ``step - 1`` of a funnel but not ``step`` as a
    new static segment (announced: each gets ``Segment Entered``).

    A customer the warehouse knows but the state store has no profile for (events loaded
    from elsewhere) cannot be a member; ``dropped`` and ``size`` tell the two counts apart.
    """
    from dataclasses import replace

    from wayline.analytics.funnels import dropped_customers_expr

    segment = static_segment(segment_id, name)
    if SegmentStore(store).record(workspace_id, segment_id) is not None:
        raise SegmentExists(f"segment {segment_id!r} exists already; choose a new id")
    expr = dropped_customers_expr(warehouse, workspace_id, replace(spec, breakdown=None), step)
    customers: list[str] = []
    for batch in warehouse.stream(expr):
        customers += [c for c in batch.column("customer").to_pylist() if c is not None]
    # the warehouse's customer is the userId, or the anonymousId of a visitor without one
    with store.engine.connect() as conn:
        owners = profiles_of(conn, workspace_id, customers, ("user_id", "anonymous_id"))
    create_static(store, clock, workspace_id, segment)
    change = change_members(store, clock, workspace_id, segment_id, owners.values(), add=True)
    return SavedSegment(
        segment_id=segment_id, name=segment.title, dropped=len(customers), size=change.size
    )
